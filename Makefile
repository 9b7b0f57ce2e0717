# cgminer-stack: exporter, rules, repair receiver, dashboards and a simulated farm.
#
#   make run    the whole stack (see README.md)
#   make test   every check the project has; installs what the checks need
#   make build  binaries into bin/
#   make bench  benchmarks (numbers go to BENCHMARKS.md by hand, with the method)

GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X github.com/prometheus/common/version.Version=$(VERSION) \
             -X github.com/prometheus/common/version.Revision=$(REVISION) \
             -X github.com/prometheus/common/version.Branch=main
FUZZTIME  ?= 10s

# Root installs Debian packages directly; anyone else needs sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends

.PHONY: all build test run bench clean tools fmt-check vet go-test fuzz-short

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/cgminer_exporter ./exporter
	@if [ -d receiver ]; then $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/repair_receiver ./receiver; fi
	@if [ -d simulator ]; then $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/minersim ./simulator; fi

# ---------------------------------------------------------------- tools
# Debian's Prometheus 2.42 (promtool), Alertmanager 0.25 (amtool), blackbox_exporter (the benchmark's
# floor) and docker-compose (static validation of docker-compose.yml). Installed only when missing.
tools:
	@missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v amtool >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v prometheus-blackbox-exporter >/dev/null || missing="$$missing prometheus-blackbox-exporter"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && $(APT_INSTALL) $$missing || { echo "FATAL: could not install$$missing" >&2; exit 1; }; \
	fi

# ---------------------------------------------------------------- tests
# Each component adds its own checks in mk/<component>.mk: TEST_TARGETS += its-target.
TEST_TARGETS :=
-include mk/*.mk

test: fmt-check vet go-test fuzz-short $(TEST_TARGETS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files -o --exclude-standard '*.go' 2>/dev/null)); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

go-test: tools
	$(GO) test -race -count=1 ./...

# Every fuzz target runs briefly; run longer by hand with FUZZTIME=10m.
fuzz-short:
	$(GO) test ./exporter/cgminer -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./exporter/dialect -run '^$$' -fuzz '^FuzzDialect$$' -fuzztime $(FUZZTIME)

# ---------------------------------------------------------------- run
# The whole stack against the simulated farm; FARM=real probes the miners in exporter/cgminer.yml.
FARM ?= sim
run: build tools
	$(GO) run ./e2e/cmd/runstack $(if $(filter real,$(FARM)),--real-farm)

# ---------------------------------------------------------------- bench
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN)
