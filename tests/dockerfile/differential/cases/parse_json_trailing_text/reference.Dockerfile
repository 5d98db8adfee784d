FROM difftest/busybox
CMD ["/bin/sh", "-c", "[\"a\"] [\"b\"]"]
ENTRYPOINT ["/bin/sh", "-c", "[\"x\"] # not a comment"]
