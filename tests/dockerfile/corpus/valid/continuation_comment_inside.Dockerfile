FROM debian
RUN echo a \
# a comment in the middle
    && echo b
