FROM debian
ENV KEY
