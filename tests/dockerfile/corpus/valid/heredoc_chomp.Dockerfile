FROM debian
RUN <<-EOT
	echo one
		echo two
	EOT
