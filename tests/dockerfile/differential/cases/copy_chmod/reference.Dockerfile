FROM difftest/busybox
COPY --chmod=640 f /f640
COPY --chmod=0700 dir /dir700/
RUN chmod 700 /dir700
COPY --chmod=755 f /setuid
RUN chmod 4755 /setuid
COPY --chown=app --chmod=600 f /both
COPY --chmod=444 f /from-arg
COPY --chmod=750 f /made/parents/f
RUN chmod 750 /made /made/parents
