# syntax=docker/dockerfile:1
# repair_receiver: the Alertmanager webhook receiver, repair board and task API.
# Built from source in the Go image (CGO_ENABLED=0, a static binary), run from distroless as the
# non-root user 65532. Context is the repository root:
#   docker build -f docker/receiver.Dockerfile --build-arg VERSION=$(git describe --tags --always) -t cgminer-stack/repair_receiver .

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
      -o /out/repair_receiver ./receiver \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/repair_receiver /bin/repair_receiver
# The SQLite store lives here (a volume: --storage.path=/data/receiver.db); pure Go (modernc.org/sqlite).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
EXPOSE 9155
# No configuration is baked in (it names the webhook token and the users): mount it at
# /etc/repair_receiver/ or pass --config.file, as docker-compose.yml does.
ENTRYPOINT ["/bin/repair_receiver"]
CMD ["--config.file=/etc/repair_receiver/receiver.yml", "--storage.path=/data/receiver.db"]
