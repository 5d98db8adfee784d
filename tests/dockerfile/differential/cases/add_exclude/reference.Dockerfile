FROM difftest/busybox
ADD dir/keep /dir/
