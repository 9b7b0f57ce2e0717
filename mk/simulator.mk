# minersim (simulator/): its tests run in `make test` through go-test; this target checks that the
# demo scenario still parses and resolves against the farm `make run` starts.
.PHONY: simulator-check simulator-bench

simulator-check:
	$(GO) test -count=1 -run 'TestDemoScenario' ./simulator/farm

simulator-bench:
	$(GO) test -run '^$$' -bench . -benchmem ./simulator/farm

TEST_TARGETS += simulator-check
