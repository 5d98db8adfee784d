FROM difftest/busybox
ADD f /opt/private/added
RUN chown 0:0 /opt/private && chmod 755 /opt/private
