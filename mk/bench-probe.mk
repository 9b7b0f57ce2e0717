# make bench-probe: the exporter's CPU per probe, side by side in one run with the floor (a minimal
# exporter that only dials the miner, sends the joined command, reads the reply and answers two
# lines: probeload --floor-serve) and Debian's blackbox_exporter doing only the TCP exchange (tcp
# prober, query_response), all three against the same fake miners, driven in turn for
# BENCH_ROUNDS interleaved rounds at BENCH_RATE probes a second. It prints each one's CPU per
# probe, its ratio to the floor of the same round (median, range) and peak RSS. The load shares
# the machine: compare ratios, not absolute figures. See BENCHMARKS.md.
BENCH_MINERS      ?= 1000
BENCH_ROUNDS      ?= 5
BENCH_DURATION    ?= 10s
BENCH_RATE        ?= 1500
BENCH_CONCURRENCY ?= 64
# Listening ports below the kernel's ephemeral range (32768-60999 by default): the probes' own
# connections take ephemeral ports and would make a bind there fail now and then.
BENCH_PORT_EXPORTER ?= 29154
BENCH_PORT_BLACKBOX ?= 29115
BENCH_PORT_FLOOR    ?= 29190

.PHONY: bench-probe
bench-probe: build tools
	@$(GO) build -o $(BIN)/probeload ./exporter/internal/probeload
	@set -e; \
	./$(BIN)/cgminer_exporter --config.file=exporter/testdata/bench/exporter.yml \
	  --web.listen-address=127.0.0.1:$(BENCH_PORT_EXPORTER) --log.level=error --discovery.state-file= & ce=$$!; \
	prometheus-blackbox-exporter --config.file=exporter/testdata/bench/blackbox.yml \
	  --web.listen-address=127.0.0.1:$(BENCH_PORT_BLACKBOX) --log.level=error & bb=$$!; \
	./$(BIN)/probeload --floor-serve 127.0.0.1:$(BENCH_PORT_FLOOR) & fl=$$!; \
	trap 'kill $$ce $$bb $$fl 2>/dev/null' EXIT; sleep 1; \
	./$(BIN)/probeload --miners $(BENCH_MINERS) --rounds $(BENCH_ROUNDS) --duration $(BENCH_DURATION) \
	  --rate $(BENCH_RATE) --concurrency $(BENCH_CONCURRENCY) \
	  --floor-url 'http://127.0.0.1:$(BENCH_PORT_FLOOR)/probe?target=%s' --floor-pid $$fl \
	  --url 'http://127.0.0.1:$(BENCH_PORT_EXPORTER)/probe?module=default&target=%s' --pid $$ce \
	  --blackbox-url 'http://127.0.0.1:$(BENCH_PORT_BLACKBOX)/probe?module=cgminer_tcp&target=%s' --blackbox-pid $$bb
