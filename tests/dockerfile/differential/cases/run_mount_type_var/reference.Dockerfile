FROM difftest/busybox
RUN mkdir /tmp/t && ls /tmp > /listing.txt && rmdir /tmp/t
