FROM debian
COPY a.txt <<EOF
body
EOF
