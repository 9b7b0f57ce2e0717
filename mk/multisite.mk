# deploy/multisite (the multi-site deployment: topology, generated configs, compose file) and
# e2e/multisite (two sites × two shards, VictoriaMetrics, vmalert, two Alertmanagers, two receivers
# on PostgreSQL, proven through outages on loopback). See deploy/multisite/README.md.
#
#   make multisite-config   regenerate deploy/multisite/config/ and docker-compose.yml from topology.yml
#   make test-multisite     static checks, the generator's tests and the end-to-end test (~6 min once built)
#
# Debian bookworm's victoria-metrics package (1.79.5, the 1.79 LTS line) brings victoria-metrics,
# vmagent and vmalert; installed only when missing, like the Makefile's `tools`.

.PHONY: multisite-tools multisite-config multisite-check test-multisite

multisite-tools:
	@command -v victoria-metrics >/dev/null && command -v vmalert >/dev/null || { echo "installing: victoria-metrics"; \
	  $(SUDO) apt-get update -q && $(APT_INSTALL) victoria-metrics || { echo "FATAL: could not install victoria-metrics" >&2; exit 1; }; }

multisite-config:
	$(GO) run ./deploy/multisite/cmd/multisite-config

# The committed files are current; the multi-site rules on Prometheus 2.42 and 3.16 and in vmalert;
# the compose file resolves (no Docker engine needed).
multisite-check: tools multisite-tools $(PROMETHEUS_PROMTOOL)
	$(GO) run ./deploy/multisite/cmd/multisite-config --check
	@set -e; for promtool in $(PROMTOOL_DEBIAN) $(PROMETHEUS_PROMTOOL); do \
	  echo ">> $$($$promtool --version 2>&1 | head -1)"; \
	  $$promtool check rules rules/fleet.vmalert.yml rules/multisite.shard.yml; \
	  $$promtool test rules rules/tests-multisite/*.test.yml; \
	done
	vmalert -dryRun -loggerLevel=ERROR -rule=rules/fleet.vmalert.yml -rule=rules/multisite.shard.yml
	docker-compose -f deploy/multisite/docker-compose.yml config -q
	docker-compose -f deploy/multisite/docker-compose.yml --profile demo config -q

# The end-to-end test runs here, not in go-test (it is gated on CGMINER_MULTISITE_E2E so that
# `go test ./...` does not run it a second time beside the single-box e2e).
test-multisite: multisite-check multisite-tools receiver-tools $(PROMETHEUS) $(PROMETHEUS_PROMTOOL) $(ALERTMANAGER) $(ALERTMANAGER_AMTOOL)
	CGMINER_MULTISITE_E2E=1 $(GO) test -race -count=1 -timeout 20m -v ./deploy/multisite/... ./e2e/multisite/

TEST_TARGETS += test-multisite

# The generator's config-load test (go-test runs it too) needs vmalert and victoria-metrics.
go-test: multisite-tools
