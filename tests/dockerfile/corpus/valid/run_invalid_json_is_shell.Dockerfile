FROM debian
RUN [not json
