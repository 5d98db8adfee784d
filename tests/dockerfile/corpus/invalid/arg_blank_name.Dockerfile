ARG =2
FROM debian
