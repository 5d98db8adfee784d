FROM debian
COPY --from=a --from=b x y
