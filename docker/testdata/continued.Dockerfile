# syntax=docker/dockerfile:1
ARG GO=1.26
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ENV GOFLAGS=-mod=readonly
RUN CGO_ENABLED=0 \
    # a comment inside a continued instruction
    go build -trimpath \
      -o /out/minersim ./simulator
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/minersim /bin/minersim
USER nonroot:nonroot
ENTRYPOINT ["/bin/minersim"]
