FROM difftest/busybox
COPY x/a.txt /parents/x/
COPY y/a.txt /parents/y/
COPY x/deep/ /pivot/deep/
