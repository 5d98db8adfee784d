FROM debian
COPY --from a b
