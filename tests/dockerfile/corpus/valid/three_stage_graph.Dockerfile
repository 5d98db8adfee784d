FROM debian AS deps
RUN make deps
FROM deps AS build
RUN make
FROM debian AS test
COPY --from=build /out /out
RUN make test
FROM gcr.io/distroless/cc
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
