FROM difftest/busybox
COPY . /ctx/
