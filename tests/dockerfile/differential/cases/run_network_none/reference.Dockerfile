FROM difftest/busybox
RUN echo lo > /interfaces.txt
