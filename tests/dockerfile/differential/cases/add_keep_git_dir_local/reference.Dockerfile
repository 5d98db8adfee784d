FROM difftest/busybox
ADD f /f
