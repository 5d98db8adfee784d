# check=skip=all
# escape=\
FROM difftest/busybox
RUN echo a \
  b > /out.txt
