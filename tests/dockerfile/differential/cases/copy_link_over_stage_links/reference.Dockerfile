FROM difftest/busybox
RUN mkdir -p /opt/real /opt/dir && ln -s /opt/real /linked && ln -s real /opt/rel
RUN rm /linked /opt/rel && mkdir /linked /opt/rel && rmdir /opt/dir
COPY f /linked/f
COPY f /opt/rel/
COPY f /opt/dir
