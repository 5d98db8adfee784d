FROM difftest/busybox
COPY f /opt/private/linked
RUN chown 0:0 /opt/private && chmod 755 /opt/private
COPY f /opt/not-linked
COPY dir /linked-dir/
