FROM difftest/busybox
RUN printf 'hello world\nsecond line\n' > /script.txt
RUN printf 'piped world\n' > /via-cat.txt && printf 'not $WHO expanded\n' > /literal.txt
RUN echo "tabs stripped" > /dash.txt
RUN echo "shebang /dev/pipes/EOF" > /shebang.txt
