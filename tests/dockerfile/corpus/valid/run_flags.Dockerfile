FROM debian
RUN --mount=type=cache,target=/var/cache/apt --mount=type=bind,from=builder,source=/out,target=/in --network=none make
RUN --network=host curl x
