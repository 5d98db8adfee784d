FROM difftest/busybox
RUN echo body > /body
