# Current peers and tools, built from their Go modules into $(TOOLS) (gitignored): one folder per
# pinned version and a file target per tool, so each is built once and again only when its pin
# changes (a change to mk/peers.sh reaches built tools after `make tools-clean`).
#
#   make peers         build every pinned tool now (a clean machine: see "Clean build" below)
#   make tools-clean   remove $(TOOLS)
#
# Prometheus, Alertmanager and mailpit are built with their web UIs by mk/peers.sh (go install
# builds them without: see there); staticcheck is a plain `go install`. Beside them the Makefile's
# `tools` target installs Debian's Prometheus 2.42 (promtool: rules are checked on both), the
# blackbox exporter (the benchmark's floor), docker-compose and Chromium (browser tests).
#
# Time (2 cores shared with other work, 2026-12): from empty Go module and build caches and empty
# npm and pnpm stores, all of them in 738 s (2.4 GB of modules, 0.6 GB of npm packages); in a fresh
# clone on a machine that built them before (warm caches, empty .tools/) in 128 s.

TOOLS ?= $(CURDIR)/.tools

# github.com/prometheus/prometheus v0.316.0 is Prometheus 3.16.0.
PROMETHEUS_PIN   := v0.316.0
ALERTMANAGER_PIN := v0.35.0
MAILPIT_PIN      := v1.33.1
STATICCHECK_PIN  := v0.8.2

PROMETHEUS          := $(TOOLS)/prometheus-$(PROMETHEUS_PIN)/prometheus
PROMETHEUS_PROMTOOL := $(TOOLS)/prometheus-$(PROMETHEUS_PIN)/promtool
ALERTMANAGER        := $(TOOLS)/alertmanager-$(ALERTMANAGER_PIN)/alertmanager
ALERTMANAGER_AMTOOL := $(TOOLS)/alertmanager-$(ALERTMANAGER_PIN)/amtool
MAILPIT             := $(TOOLS)/mailpit-$(MAILPIT_PIN)/mailpit
STATICCHECK         := $(TOOLS)/staticcheck-$(STATICCHECK_PIN)/staticcheck

# Tests and the stack runner take the current peers from the environment (e2e/stack: PROMETHEUS,
# ALERTMANAGER; notification tests: MAILPIT).
export PROMETHEUS ALERTMANAGER MAILPIT

PEERS := $(PROMETHEUS) $(PROMETHEUS_PROMTOOL) $(ALERTMANAGER) $(ALERTMANAGER_AMTOOL) $(MAILPIT) $(STATICCHECK)

NPM ?= npm

.PHONY: peers tools-clean
peers: $(PEERS)

$(PROMETHEUS) $(PROMETHEUS_PROMTOOL) &:
	GO=$(GO) NPM=$(NPM) mk/peers.sh prometheus $(PROMETHEUS_PIN) $(@D)

$(ALERTMANAGER) $(ALERTMANAGER_AMTOOL) &:
	GO=$(GO) NPM=$(NPM) mk/peers.sh alertmanager $(ALERTMANAGER_PIN) $(@D)

$(MAILPIT):
	GO=$(GO) NPM=$(NPM) mk/peers.sh mailpit $(MAILPIT_PIN) $(@D)

$(STATICCHECK):
	@mkdir -p $(@D).new
	GOBIN=$(abspath $(@D)).new GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_PIN)
	rm -rf $(@D) && mv $(@D).new $(@D)

tools-clean:
	rm -rf $(TOOLS)
