# dashboards/, docker-compose.yml and docker/: see dashboards/README.md.
#
#   make dashboards         rebuild dashboards/*.json from dashboards/src/*.mjs
#   make dashboards-check   the dashboards type-check against @grafana/schema (npm), every PromQL
#                           expression parses (promtool) and uses only metrics the contract, its
#                           additions or rules/ define; docker-compose.yml and the Dockerfiles are
#                           validated statically (no Docker engine needed); the Prometheus and
#                           Alertmanager self-metrics the dashboards use exist in the real binaries

NPM ?= npm
NODE ?= node

.PHONY: dashboards dashboards-check dashboards-node

dashboards:
	$(NODE) dashboards/src/build.mjs

dashboards-node:
	@command -v $(NODE) >/dev/null && command -v $(NPM) >/dev/null || { \
	  echo "FATAL: dashboards-check needs Node.js >= 20 and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	cd dashboards/check && $(NPM) ci --no-audit --no-fund --loglevel=error

dashboards-check: tools dashboards-node $(PROMETHEUS) $(ALERTMANAGER)
	cd dashboards/check && $(NODE) --test check.test.mjs
	$(GO) test -count=1 ./dashboards/... ./docker/...
	docker-compose -f docker-compose.yml config -q
	docker-compose -f docker-compose.yml --profile demo config -q

TEST_TARGETS += dashboards-check

# What the dashboards cost Prometheus on a synthetic farm (numbers and method: dashboards/BENCHMARKS.md).
BENCH_DASHBOARD_MINERS ?= 10000
.PHONY: bench-dashboards
bench-dashboards: tools
	$(GO) run ./dashboards/internal/querybench --miners $(BENCH_DASHBOARD_MINERS)
