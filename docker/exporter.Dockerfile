# syntax=docker/dockerfile:1
# cgminer_exporter: the Prometheus exporter for the cgminer API (multi-target /probe, discovery /sd).
# Built from source in the Go image (CGO_ENABLED=0, a static binary), run from distroless as the
# non-root user 65532. Context is the repository root:
#   docker build -f docker/exporter.Dockerfile --build-arg VERSION=$(git describe --tags --always) -t cgminer-stack/cgminer_exporter .

FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${REVISION} -X github.com/prometheus/common/version.Branch=main" \
      -o /out/cgminer_exporter ./exporter \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cgminer_exporter /bin/cgminer_exporter
COPY exporter/cgminer.yml /etc/cgminer_exporter/cgminer.yml
# The discovery inventory persists here (a volume: --discovery.state-file=/data/cgminer_inventory.json).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
EXPOSE 9154
ENTRYPOINT ["/bin/cgminer_exporter"]
CMD ["--config.file=/etc/cgminer_exporter/cgminer.yml", "--discovery.state-file=/data/cgminer_inventory.json"]
