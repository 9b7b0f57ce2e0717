# cgminer-stack: exporter, rules, repair receiver, dashboards and a simulated farm.
#
#   make run         the whole stack (see README.md)
#   make test        every check the project has; installs and builds what the checks need
#   make test-short  the fast local loop: gofmt, go vet, go test -short (no e2e), rules-check
#   make lint        staticcheck (default checks)
#   make build       binaries into bin/, version from VERSION
#   make peers       the pinned current Prometheus, Alertmanager, mailpit, staticcheck into .tools/
#   make bench       benchmarks (numbers go to BENCHMARKS.md by hand, with the method)

GO        ?= go
BIN       := bin
VERSION   := $(shell cat VERSION)
REVISION  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X github.com/prometheus/common/version.Version=$(VERSION) \
             -X github.com/prometheus/common/version.Revision=$(REVISION) \
             -X github.com/prometheus/common/version.Branch=main
FUZZTIME  ?= 10s

# Root installs Debian packages directly; anyone else needs sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends

.PHONY: all build test test-short run bench clean tools fmt-check vet tidy-check lint go-test go-test-short fuzz-short

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/cgminer_exporter ./exporter
	@if [ -d receiver ]; then $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/repair_receiver ./receiver; fi
	@if [ -d simulator ]; then $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/minersim ./simulator; fi

# ---------------------------------------------------------------- tools
# Debian's packages: Prometheus 2.42 (rules and configs are checked on it beside the current
# Prometheus; mk/tools.mk builds the current peers into .tools/), blackbox_exporter (the
# benchmark's floor), docker-compose (static validation of docker-compose.yml) and Chromium
# (browser tests, /usr/bin/chromium). Installed only when missing.
tools:
	@missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-blackbox-exporter >/dev/null || missing="$$missing prometheus-blackbox-exporter"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && $(APT_INSTALL) $$missing || { echo "FATAL: could not install$$missing" >&2; exit 1; }; \
	fi

# ---------------------------------------------------------------- tests
# Each component adds its own checks in mk/<component>.mk: TEST_TARGETS += its-target.
TEST_TARGETS :=
-include mk/*.mk

# lint last: a lint finding does not hide what the tests say.
test: fmt-check vet tidy-check go-test fuzz-short $(TEST_TARGETS) lint

# The fast local loop: no race detector, no e2e, no fuzzing, no lint.
test-short: fmt-check vet go-test-short rules-check

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files -o --exclude-standard '*.go' 2>/dev/null)); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# go.mod and go.sum are what `go mod tidy` makes them.
tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy" >&2; exit 1; }

# staticcheck with its default checks (no staticcheck.conf).
lint: $(STATICCHECK)
	$(STATICCHECK) ./...

# The e2e runs on the current Prometheus and Alertmanager (PROMETHEUS, ALERTMANAGER, exported by
# mk/tools.mk); notification tests use mailpit (MAILPIT).
go-test: tools $(PROMETHEUS) $(ALERTMANAGER) $(MAILPIT)
	$(GO) test -race -count=1 ./...

go-test-short: tools $(MAILPIT)
	$(GO) test -short -count=1 ./...

# Every fuzz target runs briefly; run longer by hand with FUZZTIME=10m.
fuzz-short:
	$(GO) test ./exporter/cgminer -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./exporter/dialect -run '^$$' -fuzz '^FuzzDialect$$' -fuzztime $(FUZZTIME)
	$(GO) test ./exporter/dialect -run '^$$' -fuzz '^FuzzWhatsminerV3$$' -fuzztime $(FUZZTIME)
	$(GO) test ./exporter/dialect -run '^$$' -fuzz '^FuzzWebJSON$$' -fuzztime $(FUZZTIME)
	$(GO) test ./exporter/wm3 -run '^$$' -fuzz '^FuzzReadFrame$$' -fuzztime $(FUZZTIME)
	$(GO) test ./exporter/webapi -run '^$$' -fuzz '^FuzzParseChallenges$$' -fuzztime $(FUZZTIME)
	$(GO) test ./exporter/inventory -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./simulator/farm -run '^$$' -fuzz '^FuzzRespondV3$$' -fuzztime $(FUZZTIME)
	$(GO) test ./simulator/farm -run '^$$' -fuzz '^FuzzParseDigest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./receiver/remedy -run '^$$' -fuzz '^FuzzParseReply$$' -fuzztime $(FUZZTIME)
	$(GO) test ./receiver/store/sqldb -run '^$$' -fuzz '^FuzzJS$$' -fuzztime $(FUZZTIME)

# ---------------------------------------------------------------- run
# The whole stack against the simulated farm; FARM=real probes the miners in exporter/cgminer.yml.
# RUN_FLAGS passes more (e.g. RUN_FLAGS=--speed=real, --free-ports; `bin/runstack -h`). The recipe
# execs runstack, which takes the terminal's foreground: Ctrl-C stops the stack and make exits 0.
FARM ?= sim
RUN_FLAGS ?=
run: build tools $(PROMETHEUS) $(ALERTMANAGER) $(MAILPIT)
	$(GO) build -o $(BIN)/runstack ./e2e/cmd/runstack
	exec ./$(BIN)/runstack $(if $(filter real,$(FARM)),--real-farm) $(RUN_FLAGS)

# ---------------------------------------------------------------- bench
bench: receiver-tools
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN)
