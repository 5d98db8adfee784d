ARG TARGETPLATFORM
FROM --platform=$BUILDPLATFORM golang:1.22 AS build
FROM --platform=linux/arm64 gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out /app
