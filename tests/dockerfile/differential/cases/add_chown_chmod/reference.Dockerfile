FROM difftest/busybox
ADD --chown=1000:1000 --chmod=600 f /new/parent/f
RUN chmod 600 /new /new/parent
ADD --chown=app:staff gz.tar.gz /chowned-tar/
ADD --chown=app f /user-only
