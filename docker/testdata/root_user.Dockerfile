# Two stages, but cgo left on, the wrong package built, an unpinned runtime image, root at run time.
FROM golang:1.26 AS builder
WORKDIR /src
COPY . .
RUN go build -o /out/repair_receiver ./simulator
ADD https://example.invalid/tool.tar.gz /tmp/
FROM alpine
COPY --from=compiler /out/repair_receiver /bin/repair_receiver
USER root
ENTRYPOINT /bin/repair_receiver --config.file=/etc/receiver.yml
