FROM debian
RUN [not json
CMD ["a", 1]
