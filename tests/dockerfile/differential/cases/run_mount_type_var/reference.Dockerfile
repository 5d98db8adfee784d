FROM difftest/busybox
RUN --mount=type=tmpfs,target=/tmp/t touch /tmp/t/inside && ls /tmp > /listing.txt
