FROM debian
ENV a=1 \
    b='x
