FROM debian
RUN \
  --mount=type=foo,target=/x make
