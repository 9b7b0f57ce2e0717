# repair_receiver intake under a burst (issue 16), side by side with its floor: `make bench-receiver`
# runs BenchmarkIntakeBurst (receiver/web/burst_bench_test.go) BENCH_RECEIVER_COUNT times (each
# BENCH_RECEIVER_TIME bursts: the store grows by 3,000 tasks a burst), each
# round the baseline (one durable commit per delivery, no receiver logic) and the receiver on the
# same engine, SQLite (WAL, synchronous=FULL) and PostgreSQL 15 (fsync on), then prints per round
# and engine receiver/baseline and the worker actions' p50/p99 during the burst.
#
# BENCH_RECEIVER_BEFORE=<git rev> also builds that revision's benchmark (git archive into a
# temporary directory; the tree is not touched) and runs it alternately with the working tree's,
# so that both see the same load, and prints after/before per engine.
# Numbers go to receiver/BENCHMARKS.md by hand, with the method.
BENCH_RECEIVER_COUNT  ?= 3
BENCH_RECEIVER_TIME   ?= 10x
BENCH_RECEIVER_BEFORE ?=

.PHONY: bench-receiver
bench-receiver: receiver-tools
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(GO) test -c -o $$tmp/after.test ./receiver/web; \
	if [ -n "$(BENCH_RECEIVER_BEFORE)" ]; then \
	  mkdir $$tmp/src; git archive $(BENCH_RECEIVER_BEFORE) | tar -x -C $$tmp/src; \
	  (cd $$tmp/src && $(GO) test -c -o $$tmp/before.test ./receiver/web); \
	fi; \
	for r in $$(seq 1 $(BENCH_RECEIVER_COUNT)); do \
	  for v in before after; do \
	    [ -x $$tmp/$$v.test ] || continue; \
	    echo "# round $$r $$v, load $$(cut -d' ' -f1 /proc/loadavg)"; \
	    (cd receiver/web && $$tmp/$$v.test -test.run '^$$' -test.bench IntakeBurst -test.benchtime $(BENCH_RECEIVER_TIME)) | \
	      grep '^Benchmark' | sed "s/^/$$v /" | tee -a $$tmp/out; \
	  done; \
	done; \
	awk -f mk/bench-receiver.awk $$tmp/out
