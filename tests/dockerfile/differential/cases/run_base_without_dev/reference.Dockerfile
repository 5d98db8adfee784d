FROM scratch
COPY --from=difftest/busybox /bin /bin
COPY made.txt /made.txt
COPY empty/ /dev/
COPY empty/ /proc/
COPY empty/ /sys/
