# Rules benchmark (rules/BENCHMARKS.md): rules/bench/run.sh on farmgen's 10,000 miners, once on the
# current Prometheus (.tools/) and once on Debian's 2.42, each time the working tree's rules side by
# side with the rules of BENCH_RULES_BEFORE (a git ref: by default the commit measured at 43 s a
# minute) and the trivial query; prints every group's seconds per minute, % of its interval and its
# ratio to the trivial query, in CPU time (phase 2) and wall time; checks that every rule present in
# both gives the same result. About 20 minutes a Prometheus at 10,000 miners on the 2-core sandbox.
#
#   make bench-rules                                   both Prometheus, 10,000 miners
#   make bench-rules BENCH_RULES_MINERS=1000 BENCH_RULES_DURATION=180     a quick look
#   make bench-rules BENCH_RULES_PROMETHEUS=prometheus                     Debian's only

BENCH_RULES_MINERS     ?= 10000
BENCH_RULES_DURATION   ?= 420
BENCH_RULES_ROUNDS     ?= 4
BENCH_RULES_BEFORE     ?= 2dfcc9c
BENCH_RULES_PROMETHEUS ?= $(PROMETHEUS) prometheus

.PHONY: bench-rules

bench-rules: tools $(PROMETHEUS)
	@set -e; for p in $(BENCH_RULES_PROMETHEUS); do \
	  MINERS=$(BENCH_RULES_MINERS) DURATION=$(BENCH_RULES_DURATION) ROUNDS=$(BENCH_RULES_ROUNDS) \
	  BEFORE=$(BENCH_RULES_BEFORE) PHASE2=1 PROMETHEUS=$$p rules/bench/run.sh; \
	done
