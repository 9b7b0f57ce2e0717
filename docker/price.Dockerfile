# syntax=docker/dockerfile:1
# price_exporter: the hashprice, electricity tariffs and purchase prices the economics dashboard
# reads (dashboards/README.md "Prices"). Built from source in the Go image (CGO_ENABLED=0, a static
# binary), run from distroless as the non-root user 65532. Context is the repository root:
#   docker build -f docker/price.Dockerfile --build-arg VERSION=$(git describe --tags --always) -t cgminer-stack/price_exporter .

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
      -o /out/price_exporter ./dashboards/cmd/price_exporter

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/price_exporter /bin/price_exporter
COPY dashboards/price.yml /etc/price_exporter/price.yml
USER 65532:65532
EXPOSE 9157
ENTRYPOINT ["/bin/price_exporter"]
CMD ["--config.file=/etc/price_exporter/price.yml"]
