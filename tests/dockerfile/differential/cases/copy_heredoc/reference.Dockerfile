FROM difftest/busybox
COPY ref/greeting.txt ref/literal.txt /
COPY --chmod=755 ref/scripts/ /scripts/
COPY ref/added.txt /
