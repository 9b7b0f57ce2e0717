# rules/, prometheus.yml, alertmanager.yml: static checks and promtool unit tests, side by side on
# Debian's Prometheus 2.42 (`tools` installs it) and the current Prometheus built into .tools/
# (mk/tools.mk); alertmanager.yml on the current Alertmanager (0.35; it needs >= 0.26 for Telegram's
# bot_token_file, so Debian bookworm's 0.25 is not supported). The Go tests in rules/ run on
# Debian's 2.42 in go-test and again here on the current Prometheus (its folder first in PATH).

RULE_FILES      := $(wildcard rules/*.rules.yml rules/*.alerts.yml)
RULE_TEST_FILES := $(wildcard rules/tests/*.test.yml)
PROMTOOL_DEBIAN ?= promtool

.PHONY: rules-check

rules-check: tools $(PROMETHEUS_PROMTOOL) $(PROMETHEUS) $(ALERTMANAGER_AMTOOL)
	@set -e; for promtool in $(PROMTOOL_DEBIAN) $(PROMETHEUS_PROMTOOL); do \
	  echo ">> $$($$promtool --version 2>&1 | head -1)"; \
	  $$promtool check rules $(RULE_FILES); \
	  $$promtool test rules $(RULE_TEST_FILES); \
	  $$promtool check config prometheus.yml; \
	done
	PATH=$(dir $(PROMETHEUS)):$$PATH $(GO) test -count=1 ./rules
	@echo ">> $$($(ALERTMANAGER_AMTOOL) --version 2>&1 | head -1)"
	$(ALERTMANAGER_AMTOOL) check-config alertmanager.yml
	@# Routing: where each kind of alert goes.
	$(ALERTMANAGER_AMTOOL) config routes test --config.file=alertmanager.yml --verify.receivers=repair_receiver_watchdog alertname=Watchdog severity=info category=meta
	$(ALERTMANAGER_AMTOOL) config routes test --config.file=alertmanager.yml --verify.receivers=repair_receiver alertname=MinerOffline severity=warning category=offline site=site-b instance=127.2.0.1
	$(ALERTMANAGER_AMTOOL) config routes test --config.file=alertmanager.yml --verify.receivers=telegram-site-a,email-ops,repair_receiver alertname=MinerTemperatureCritical severity=critical category=temperature site=site-a instance=127.1.0.1
	$(ALERTMANAGER_AMTOOL) config routes test --config.file=alertmanager.yml --verify.receivers=telegram-ops,email-ops,repair_receiver alertname=SiteDown severity=critical category=fleet site=site-b
	$(ALERTMANAGER_AMTOOL) config routes test --config.file=alertmanager.yml --verify.receivers=telegram-ops,email-ops,blackhole alertname=ExporterProbesFailing severity=critical category=meta reason=exporter_down
	$(ALERTMANAGER_AMTOOL) config routes test --config.file=alertmanager.yml --verify.receivers=email-ops,blackhole alertname=MinerScrapeFailing severity=warning category=meta site=site-a instance=10.0.0.1

TEST_TARGETS += rules-check
