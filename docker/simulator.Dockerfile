# syntax=docker/dockerfile:1
# minersim: a simulated farm of miners speaking the cgminer API on loopback, with fault injection (demo and tests).
# Built from source in the Go image (CGO_ENABLED=0, a static binary), run from distroless as the
# non-root user 65532. Context is the repository root:
#   docker build -f docker/simulator.Dockerfile --build-arg VERSION=$(git describe --tags --always) -t cgminer-stack/minersim .

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
      -o /out/minersim ./simulator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/minersim /bin/minersim
COPY simulator/scenarios /etc/minersim/scenarios
USER 65532:65532
EXPOSE 9156
ENTRYPOINT ["/bin/minersim"]
CMD ["--range=127.1.0.0/24"]
