FROM debian
RUN <<EOF
apt-get update
apt-get install -y vim
EOF
RUN echo after
