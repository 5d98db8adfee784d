FROM difftest/busybox
RUN echo sandboxed > /sandbox.txt
