FROM difftest/busybox
ENV FOO=a*b*c
ENV LONGEST=a SHORTEST=a*b PREFIX=b*c
