FROM difftest/busybox
ENV V=banana
ENV FIRST=bXnana ALL=bXnXnX NONE=banana
