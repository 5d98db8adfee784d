FROM debian
RUN []
