# cgminer_exporter: probe throughput, side by side with Debian's blackbox_exporter doing only the
# TCP exchange (tcp prober, query_response) against the same fake miners. See BENCHMARKS.md.
BENCH_MINERS   ?= 1000
BENCH_DURATION ?= 20s

.PHONY: bench-probe
bench-probe: build tools
	@$(GO) build -o $(BIN)/probeload ./exporter/internal/probeload
	@set -e; \
	./$(BIN)/cgminer_exporter --config.file=exporter/testdata/bench/exporter.yml --web.listen-address=127.0.0.1:19154 \
	  --log.level=error --discovery.state-file= & ce=$$!; \
	prometheus-blackbox-exporter --config.file=exporter/testdata/bench/blackbox.yml --web.listen-address=127.0.0.1:19115 \
	  --log.level=error & bb=$$!; \
	trap 'kill $$ce $$bb 2>/dev/null' EXIT; sleep 1; \
	./$(BIN)/probeload --miners $(BENCH_MINERS) --duration $(BENCH_DURATION) --concurrency 64 \
	  --url 'http://127.0.0.1:19154/probe?module=default&target=%s' --pid $$ce \
	  --blackbox-url 'http://127.0.0.1:19115/probe?module=cgminer_tcp&target=%s' --blackbox-pid $$bb
