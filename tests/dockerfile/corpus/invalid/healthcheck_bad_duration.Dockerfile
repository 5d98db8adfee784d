FROM debian
HEALTHCHECK --interval=5 CMD x
