FROM debian
ENV a=b c
