FROM debian
ARG
