FROM debian
HEALTHCHECK --retries=-1 CMD x
