# make bench-protocols: cgminer_exporter's CPU per probe for each protocol (cgminer API 4028,
# Whatsminer API v3 4433, cgminer API plus the Antminer HTTP API with Digest) side by side with the
# floor, against minersim on 127.91.0.0/23, in interleaved rounds at a fixed rate
# (exporter/internal/probeload/protocols.sh; MINERS ROUNDS DURATION WARMUP RATE CONCURRENCY from
# the environment). The load shares the machine: compare ratios to the floor. See BENCHMARKS.md.
.PHONY: bench-protocols
bench-protocols: build
	@$(GO) build -o $(BIN)/probeload ./exporter/internal/probeload
	exporter/internal/probeload/protocols.sh $(BIN)
