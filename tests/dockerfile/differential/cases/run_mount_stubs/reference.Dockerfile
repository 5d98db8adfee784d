FROM difftest/busybox
COPY data.txt /copied.txt
