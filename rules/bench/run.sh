#!/bin/sh
# Rules benchmark (rules/BENCHMARKS.md): the real Prometheus scrapes farmgen's MINERS miners through
# prometheus.yml's own relabelling (only the exporter's address changed) and evaluates rules/ on them.
#   MINERS=10000 DURATION=600 rules/bench/run.sh      (from the repository root)
# Phase 1 (while scraping): rule-group durations as Prometheus measures them, series, CPU, memory.
# Phase 2 (scraping stopped, so ingestion and the rule groups no longer compete for the CPU): every
# rule's expression evaluated alone through the query API at the last scraped instant, best of 3.
# Loopback only; removes everything it started and wrote.
set -eu
MINERS=${MINERS:-10000}
DURATION=${DURATION:-600}          # seconds of scraping before reading the numbers
GEN=127.0.0.1:19154
PROM=127.0.0.1:19090
ROOT=$(pwd)
TMP=$(mktemp -d)
GEN_PID=; PROM_PID=
trap 'kill $GEN_PID $PROM_PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT INT TERM

command -v prometheus >/dev/null || { echo "prometheus not found: make tools" >&2; exit 1; }
go build -o "$TMP/farmgen" ./rules/bench/farmgen
"$TMP/farmgen" -miners "$MINERS" -listen "$GEN" 2>"$TMP/farmgen.log" &
GEN_PID=$!
mkdir -p "$TMP/targets"
sed -e "s|127.0.0.1:9154|$GEN|g" -e "s|127.0.0.1:9090|$PROM|g" -e "s|127.0.0.1:9093|127.0.0.1:19093|g" \
    -e "s|'targets/\*.yml'|'$TMP/targets/*.yml'|" -e "s|- rules/|- $ROOT/rules/|" prometheus.yml >"$TMP/prometheus.yml"
prometheus --config.file="$TMP/prometheus.yml" --web.listen-address=$PROM \
  --storage.tsdb.path="$TMP/data" --log.level=error 2>"$TMP/prometheus.log" &
PROM_PID=$!
i=0
until curl -sf "http://$PROM/-/ready" >/dev/null; do
  i=$((i + 1))
  if [ $i -gt 60 ] || ! kill -0 $PROM_PID 2>/dev/null; then
    echo "prometheus did not become ready:" >&2; cat "$TMP/prometheus.log" >&2; exit 1
  fi
  sleep 1
done
echo "scraping $MINERS miners for ${DURATION}s ..."
sleep "$DURATION"

q() { curl -s --data-urlencode "query=$1" "http://$PROM/api/v1/query" | \
  python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; [print("  ", {k:v for k,v in x["metric"].items() if k not in ("__name__","instance","job")}, x["value"][1]) for x in r]'; }
echo "== phase 1: while scraping"
echo "rule group duration, last evaluation (s):";      q 'prometheus_rule_group_last_duration_seconds{job="prometheus"}'
echo "rule group duration, max over the last 5m (s):"; q 'max_over_time(prometheus_rule_group_last_duration_seconds{job="prometheus"}[5m])'
echo "missed group iterations:";                        q 'sum by (rule_group) (prometheus_rule_group_iterations_missed_total{job="prometheus"})'
echo "rule evaluation failures:";                       q 'sum(prometheus_rule_evaluation_failures_total{job="prometheus"})'
echo "head series:";                                    q 'prometheus_tsdb_head_series{job="prometheus"}'
echo "samples per cgminer scrape (avg):";               q 'avg(scrape_samples_scraped{job="cgminer"})'
echo "cgminer targets up:";                             q 'sum(up{job="cgminer"})'
echo "Prometheus RSS (bytes):";                         q 'process_resident_memory_bytes{job="prometheus"}'
echo "Prometheus CPU (cores, 5m avg):";                 q 'rate(process_cpu_seconds_total{job="prometheus"}[5m])'
echo "machine CPU (load average):";                     cat /proc/loadavg
echo "alerts by state:";                                q 'count by (alertname, alertstate) (ALERTS)'

T=$(date +%s)
kill $GEN_PID; GEN_PID=
sleep 5
echo "== phase 2: each rule's expression alone at t=$T (scraping stopped), best of 3"
python3 - "$PROM" "$T" "$ROOT"/rules/*.rules.yml "$ROOT"/rules/*.alerts.yml <<'PY'
import json, sys, urllib.parse, urllib.request, yaml
prom, t, files = sys.argv[1], sys.argv[2], sys.argv[3:]
total = 0.0
for f in files:
    for g in yaml.safe_load(open(f))["groups"]:
        gsum = 0.0
        for r in g["rules"]:
            best, n = None, 0
            for _ in range(3):
                data = urllib.parse.urlencode({"query": r["expr"], "time": t, "stats": "all"}).encode()
                d = json.load(urllib.request.urlopen("http://%s/api/v1/query" % prom, data))["data"]
                s = d["stats"]["timings"]["evalTotalTime"]
                best = s if best is None else min(best, s)
                n = len(d["result"])
            gsum += best
            name = r.get("record") or r["alert"] + ("{reason=%s}" % r["labels"]["reason"] if "reason" in r.get("labels", {}) else "")
            print("   %8.1f ms  %6d series  %s" % (best * 1000, n, name))
        total += gsum
        print("  group %-20s %8.1f ms" % (g["name"], gsum * 1000))
print("  all rules            %8.1f ms" % (total * 1000))
PY
