FROM difftest/busybox
RUN echo hi > "$(printf '/out.txt\r')"
COPY copied.txt /copied.txt
