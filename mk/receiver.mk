# repair_receiver: the demo configuration must load (config, web users, token), and `make
# receiver-run` starts the receiver on the demo configuration. The Go tests (unit, store
# conformance, HTTP, kill -9 of the built binary) run in go-test. See receiver/README.md.
.PHONY: receiver-check receiver-run

receiver-check:
	$(GO) run ./receiver --config.file=receiver/receiver.yml --web.config.file=receiver/web.yml --config.check

TEST_TARGETS += receiver-check

receiver-run: build
	@mkdir -p .work
	./$(BIN)/repair_receiver --config.file=receiver/receiver.yml --web.config.file=receiver/web.yml \
	  --storage.path=.work/repair_receiver.db --prometheus.url=http://127.0.0.1:9090

# bench-receiver: mk/bench-receiver.mk.

# The PostgreSQL store's tests start a throw-away PostgreSQL 15 (receiver/store/postgres); they fail,
# never skip, without it, so go-test gets it installed first.
.PHONY: receiver-tools
receiver-tools:
	@test -x /usr/lib/postgresql/15/bin/initdb || { echo "installing: postgresql-15"; \
	  $(SUDO) apt-get update -q && $(APT_INSTALL) postgresql-15 || { echo "FATAL: could not install postgresql-15" >&2; exit 1; }; }

go-test: receiver-tools

go-test-short: receiver-tools
