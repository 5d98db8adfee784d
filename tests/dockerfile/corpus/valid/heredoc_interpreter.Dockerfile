FROM debian
RUN python3 <<EOF
print('hi')
EOF
RUN 3<<IN cat <&3
fd three
IN
