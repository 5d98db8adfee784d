FROM difftest/busybox
COPY --chmod=755 dir /sym/
COPY --chmod=644 dir/sub/x /sym/sub/x
RUN chmod 755 /sym /sym/sub
COPY --chmod=755 f /plus-x
