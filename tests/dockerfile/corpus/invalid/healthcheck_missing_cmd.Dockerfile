FROM debian
HEALTHCHECK --interval=1s CMD
