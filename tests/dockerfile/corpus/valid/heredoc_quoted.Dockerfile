FROM debian
RUN <<'EOF'
echo $HOME
EOF
RUN <<"EOF"
echo "$PATH"
EOF
