FROM difftest/busybox
COPY Dockerfile keep.bin /all-but/
COPY sub/s.txt sub/other /all-but/sub/
