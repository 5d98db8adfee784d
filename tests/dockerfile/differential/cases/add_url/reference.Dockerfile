FROM difftest/busybox
ARG HTTP_BASE
ADD $HTTP_BASE/payload.txt /downloads/
ADD ${HTTP_BASE}/payload.txt /renamed.txt
ADD --chmod=644 --chown=app $HTTP_BASE/payload.txt /owned.txt
ADD $HTTP_BASE/payload.txt /verified.txt
ADD $HTTP_BASE/payload.txt /verified-by-arg.txt
ADD $HTTP_BASE/archive.tar.gz /not-unpacked/
RUN chmod 644 /owned.txt
