FROM debian
RUN <<EOF
echo hi
EOFX
