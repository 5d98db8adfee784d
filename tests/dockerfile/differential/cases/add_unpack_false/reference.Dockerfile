FROM difftest/busybox
COPY plain.tar /kept/
ADD plain.tar /unpacked/
