FROM debian
RUN cat << EOF > /a
spaced marker
EOF
RUN <<e\"o\"f cat
escaped quotes expand $X
e"o"f
ONBUILD RUN <<-EOT
	onbuild body
	EOT
ONBUILD COPY <<cfg /etc/app.conf
k=v
cfg
CMD ["done"]
