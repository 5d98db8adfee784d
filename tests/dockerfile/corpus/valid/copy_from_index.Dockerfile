FROM debian AS one
RUN touch /x
FROM debian
COPY --from=0 /x /x
COPY --from=nginx:latest /etc/nginx/nginx.conf /nginx.conf
