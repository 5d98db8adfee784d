FROM debian
ENV =b
