FROM debian
COPY --link=yes a /b
