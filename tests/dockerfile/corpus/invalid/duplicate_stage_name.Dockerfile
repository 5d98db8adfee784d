FROM debian AS x
RUN true
FROM debian AS X
