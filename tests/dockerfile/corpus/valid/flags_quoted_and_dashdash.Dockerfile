FROM debian
COPY --chown="1000:1000" a /b
RUN -- --not-a-flag
