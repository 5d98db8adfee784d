FROM debian
COPY --form=x a b
