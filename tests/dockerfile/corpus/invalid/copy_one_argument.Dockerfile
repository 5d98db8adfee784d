FROM debian
COPY onlyone
