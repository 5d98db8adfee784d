FROM golang:1.17 AS builder
WORKDIR /app
COPY main.go .
RUN go build -o myapp .
FROM gcr.io/distroless/base
COPY --from=builder /app/myapp /myapp
CMD ["/myapp"]
