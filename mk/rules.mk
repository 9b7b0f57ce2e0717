# rules/, prometheus.yml, alertmanager.yml: static checks and promtool unit tests with the real
# Debian promtool (Prometheus 2.42) and amtool (Alertmanager 0.25); `tools` installs them when missing.

RULE_FILES      := $(wildcard rules/*.rules.yml rules/*.alerts.yml)
RULE_TEST_FILES := $(wildcard rules/tests/*.test.yml)
PROMTOOL        ?= promtool
AMTOOL          ?= amtool

.PHONY: rules-check

rules-check: tools
	$(PROMTOOL) check rules $(RULE_FILES)
	$(PROMTOOL) test rules $(RULE_TEST_FILES)
	$(PROMTOOL) check config prometheus.yml
	$(AMTOOL) check-config alertmanager.yml
	@# alertmanager-am026.yml = alertmanager.yml + the Telegram blocks between BEGIN/END am026.
	@awk '/^# BEGIN am026/{skip=1} !skip{print} /^# END am026/{skip=0}' alertmanager-am026.yml | diff -u alertmanager.yml - \
	  || { echo "alertmanager-am026.yml differs from alertmanager.yml outside its am026 blocks" >&2; exit 1; }
	@if $(AMTOOL) --version 2>&1 | grep -Eq 'version 0\.(2[6-9]|[3-9][0-9])\.'; then \
	  $(AMTOOL) check-config alertmanager-am026.yml; \
	else \
	  echo "note: amtool < 0.26 cannot read telegram bot_token_file; alertmanager-am026.yml checked as alertmanager.yml + diff"; \
	fi
	@# Routing: where each kind of alert goes.
	$(AMTOOL) config routes test --config.file=alertmanager.yml --verify.receivers=repair_receiver_watchdog alertname=Watchdog severity=info category=meta
	$(AMTOOL) config routes test --config.file=alertmanager.yml --verify.receivers=repair_receiver alertname=MinerOffline severity=warning category=offline site=site-b instance=127.2.0.1
	$(AMTOOL) config routes test --config.file=alertmanager.yml --verify.receivers=telegram-site-a,repair_receiver alertname=MinerTemperatureCritical severity=critical category=temperature site=site-a instance=127.1.0.1
	$(AMTOOL) config routes test --config.file=alertmanager.yml --verify.receivers=telegram-ops,email-ops,repair_receiver alertname=SiteDown severity=critical category=fleet site=site-b
	$(AMTOOL) config routes test --config.file=alertmanager.yml --verify.receivers=telegram-ops,email-ops,blackhole alertname=ExporterProbesFailing severity=critical category=meta reason=exporter_down
	$(AMTOOL) config routes test --config.file=alertmanager.yml --verify.receivers=email-ops,blackhole alertname=MinerScrapeFailing severity=warning category=meta site=site-a instance=10.0.0.1

TEST_TARGETS += rules-check
