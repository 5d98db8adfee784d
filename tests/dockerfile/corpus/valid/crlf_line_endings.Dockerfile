FROM debian
RUN echo a \
    b
CMD ["x"]
