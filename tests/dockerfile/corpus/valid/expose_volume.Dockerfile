FROM debian
EXPOSE 80 443/tcp 53/udp ${PORT}
VOLUME /data
VOLUME ["/var/log", "/var/db"]
VOLUME /a /b
