FROM debian
COPY <<EOF /etc/motd
Hello $NAME
EOF
COPY <<a.conf <<b.conf /etc/
A=1
a.conf
B=2
b.conf
