#!/bin/sh
# Multi-site sizing (deploy/multisite/BENCHMARKS.md). From the repository root:
#
#   MINERS=10000 DURATION=360 [PHASE2=0] [REPEAT=3] deploy/multisite/bench/run.sh shard
#       one Prometheus shard (3.16, the generated shard config: hashmod, remote write, the shard's
#       rule files) scraping MINERS miners of rules/bench/farmgen every 60 s and remote-writing to a
#       single-node VictoriaMetrics (1.79.5). Phase 1, while scraping: the shard's rule groups as
#       it times them, its series, CPU and memory; VictoriaMetrics' ingestion, memory and disk.
#       Phase 2, scraping stopped: every shard rule's expression at the last scraped instant, best
#       of 3, on the shard and on VictoriaMetrics (what vmalert would send it), side by side.
#
#   MINERS=100000 STEPS=10 deploy/multisite/bench/run.sh centre
#       the centre's ingestion for MINERS miners: deploy/multisite/bench/vmload replays STEPS
#       minutes of farmgen's expositions for every miner into VictoriaMetrics as fast as it takes
#       them; then its samples/s, memory, and disk per sample after a forced merge.
#
# Loopback only (ports from PORT_BASE, default 29200); removes everything it started and wrote.
set -eu
MODE=${1:-shard}
MINERS=${MINERS:-10000}
DURATION=${DURATION:-360}
STEPS=${STEPS:-10}
PHASE2=${PHASE2:-1}   # 0: phase 1 only
REPEAT=${REPEAT:-3}   # phase 2: best of REPEAT
ROOT=$(pwd)
TMP=$(mktemp -d)
PROMETHEUS=${PROMETHEUS:-$ROOT/.tools/prometheus-v0.316.0/prometheus}
B=${PORT_BASE:-29200}   # ports B+54 (farmgen), B+28 (VictoriaMetrics), B+90 (shard), B+81 (vmalert)
GEN=127.0.0.1:$((B + 54)) VM=127.0.0.1:$((B + 28)) SHARD=127.0.0.1:$((B + 90)) VMALERT=127.0.0.1:$((B + 81))
for a in $GEN $VM $SHARD $VMALERT; do
  if curl -s -o /dev/null "http://$a/"; then echo "$a is taken (another run?): set PORT_BASE" >&2; exit 1; fi
done
PIDS=
trap 'for p in $PIDS; do kill $p 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT INT TERM

wait_http() { i=0; until curl -sf "$1" >/dev/null; do i=$((i + 1)); [ $i -gt 120 ] && { echo "no answer at $1" >&2; exit 1; }; sleep 1; done; }
q() { curl -s --data-urlencode "query=$2" --data-urlencode nocache=1 "http://$1/api/v1/query" | \
  python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; [print("  ", {k:v for k,v in x["metric"].items() if k not in ("__name__","instance","job")}, x["value"][1]) for x in r]'; }

victoria-metrics -storageDataPath="$TMP/vm" -httpListenAddr=$VM -retentionPeriod=2d -search.latencyOffset=10s \
  -loggerLevel=ERROR 2>"$TMP/vm.log" &
VM_PID=$!; PIDS="$PIDS $VM_PID"
wait_http "http://$VM/health"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"

vm_stats() {
  echo "VictoriaMetrics:"
  curl -s "http://$VM/metrics" | awk '
    /^vm_rows_inserted_total/ {ins += $2}
    /^vm_data_size_bytes\{type="storage/ {sdisk += $2}
    /^vm_data_size_bytes\{type="indexdb/ {idisk += $2}
    /^vm_rows\{type="storage/ {rows += $2}
    /^process_resident_memory_bytes/ {rss = $2}
    /^process_cpu_seconds_total/ {cpu = $2}
    /^vm_cache_entries\{type="storage\/tsid"\}/ {series = $2}
    END {printf "   samples inserted %d, stored %d, series %d; samples %.1f MB (%.2f bytes/sample), index %.1f MB (%.0f bytes/series); RSS %.0f MB, CPU %.0f s\n", ins, rows, series, sdisk/1e6, (rows>0?sdisk/rows:0), idisk/1e6, (series>0?idisk/series:0), rss/1e6, cpu}'
}

if [ "$MODE" = centre ]; then
  go build -o "$TMP/vmload" ./deploy/multisite/bench/vmload
  go build -o "$TMP/farmgen" ./rules/bench/farmgen
  "$TMP/farmgen" -miners "$MINERS" -sites 10 -listen $GEN 2>"$TMP/farmgen.log" &
  PIDS="$PIDS $!"
  wait_http "http://$GEN/sd"; kill -0 $! || { echo "farmgen did not start" >&2; exit 1; }
  /usr/bin/time -v "$TMP/vmload" -farmgen "http://$GEN" -vm "http://$VM" -miners "$MINERS" -steps "$STEPS" 2>"$TMP/vmload.time"
  grep -E 'Maximum resident|Elapsed' "$TMP/vmload.time" | sed 's/^/   vmload: /'
  sleep 5
  vm_stats
  curl -s "http://$VM/internal/force_flush" >/dev/null; curl -s "http://$VM/internal/force_merge" >/dev/null
  echo "after a forced merge (60 s):"; sleep 60
  vm_stats
  du -sb "$TMP/vm" | awk '{printf "   on disk: %.1f MB\n", $1/1e6}'
  exit 0
fi

# ---------------------------------------------------------------- shard
go build -o "$TMP/farmgen" ./rules/bench/farmgen
"$TMP/farmgen" -miners "$MINERS" -sites 1 -listen $GEN 2>"$TMP/farmgen.log" &
GEN_PID=$!; PIDS="$PIDS $GEN_PID"
wait_http "http://$GEN/sd"; kill -0 $GEN_PID || { echo "farmgen did not start" >&2; exit 1; }
cat >"$TMP/topology.yml" <<EOF
centre:
  victoriametrics: $VM
  vmalert: 127.0.0.1:$((B + 80))
  alertmanagers: [{web: 127.0.0.1:$((B + 93)), cluster: 127.0.0.1:$((B + 94))}]
  receivers: [127.0.0.1:$((B + 55))]
  postgres: 127.0.0.1:$((B + 32))
sites:
  - name: site-00
    exporters: [{listen: $GEN, ranges: [127.10.0.0/16]}]
    shards: [$SHARD]
EOF
go run ./deploy/multisite/cmd/multisite-config --topology "$TMP/topology.yml" --local "$TMP/cfg" >/dev/null
"$PROMETHEUS" --config.file="$TMP/cfg/sites/site-00/prometheus-shard-0.yml" --web.listen-address=$SHARD \
  --storage.tsdb.path="$TMP/shard" --log.level=error 2>"$TMP/prometheus.log" &
PROM_PID=$!; PIDS="$PIDS $PROM_PID"
wait_http "http://$SHARD/-/ready"
# The same per-miner rules in vmalert against VictoriaMetrics, at the same time on the same cores
# (alerts and recorded results to a closed loopback port, so they do not mix with the shard's).
vmalert -datasource.url="http://$VM" -notifier.url=http://127.0.0.1:9 -remoteWrite.url=http://127.0.0.1:9 -httpListenAddr=$VMALERT \
  -rule="$ROOT/rules/cgminer.rules.yml" -rule="$ROOT/rules/cgminer.alerts.yml" -rule="$ROOT/rules/multisite.shard.yml" \
  -loggerLevel=ERROR 2>"$TMP/vmalert.log" &
PIDS="$PIDS $!"
wait_http "http://$VMALERT/-/healthy"
echo "shard scraping $MINERS miners for ${DURATION}s ..."
sleep "$DURATION"

echo "== phase 1: while scraping"
echo "rule group duration, last evaluation (s):";      q $SHARD 'prometheus_rule_group_last_duration_seconds{job="prometheus"}'
echo "rule group duration, max over the last 5m (s):"; q $SHARD 'max_over_time(prometheus_rule_group_last_duration_seconds{job="prometheus"}[5m])'
echo "missed group iterations:";                        q $SHARD 'sum(prometheus_rule_group_iterations_missed_total{job="prometheus"})'
echo "head series:";                                    q $SHARD 'prometheus_tsdb_head_series{job="prometheus"}'
echo "targets up:";                                     q $SHARD 'sum(up{job="cgminer"})'
echo "shard RSS (bytes):";                              q $SHARD 'process_resident_memory_bytes{job="prometheus"}'
echo "shard CPU (cores, 5m avg):";                      q $SHARD 'rate(process_cpu_seconds_total{job="prometheus"}[5m])'
echo "samples remote-written per second (5m avg):";     q $SHARD 'rate(prometheus_remote_storage_samples_total[5m])'
echo "remote write behind (s):";                        q $SHARD 'prometheus_remote_storage_highest_timestamp_in_seconds - ignoring(remote_name, url) group_right prometheus_remote_storage_queue_highest_sent_timestamp_seconds'
echo "samples ingested by VictoriaMetrics per second (over the run):"
curl -s "http://$VM/metrics" | awk -v d="$DURATION" '/^vm_rows_inserted_total/ {s += $2} END {printf "   %.0f\n", s/d}'
vm_stats
echo "vmalert, the same rules against VictoriaMetrics: per group mean and 0.99 quantile of the evaluation (s), evaluations, missed:"
curl -s "http://$VMALERT/metrics" | python3 -c '
import re, sys
g = {}
for l in sys.stdin:
    m = re.match(r"(vmalert_iteration_(?:duration_seconds(?:_sum|_count)?|missed_total))\{([^}]*)\} (\S+)", l)
    if not m:
        continue
    name, labels, v = m.groups()
    lab = dict(re.findall(r"(\w+)=\"([^\"]*)\"", labels))
    d = g.setdefault(lab.get("group", "?"), {})
    d[name.rsplit("_", 1)[-1] if "quantile" not in lab else lab["quantile"]] = float(v)
for grp, d in sorted(g.items()):
    n = d.get("count", 0)
    print("   %-28s mean %7.2f  p99 %7.2f  n %3d  missed %d" % (grp, d.get("sum", 0) / n if n else 0, d.get("0.99", 0), n, d.get("total", 0)))
'
echo "vmalert RSS: $(curl -s "http://$VMALERT/metrics" | awk '/^process_resident_memory_bytes/ {printf "%.0f MB", $2/1e6}')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

[ "$PHASE2" = 1 ] || exit 0
T=$(date +%s)
kill $GEN_PID
sleep 5
echo "== phase 2: each shard rule's expression alone at t=$T (scraping stopped), best of $REPEAT wall-clock ms"
python3 - "$SHARD" "$VM" "$T" "$REPEAT" "$ROOT"/rules/cgminer.rules.yml "$ROOT"/rules/cgminer.alerts.yml "$ROOT"/rules/multisite.shard.yml <<'PY'
import json, sys, time, urllib.parse, urllib.request, yaml
shard, vm, t, repeat, files = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
def run(host, expr):
    best, n = None, 0
    for _ in range(repeat):
        data = urllib.parse.urlencode({"query": expr, "time": t, "nocache": "1"}).encode()
        s = time.monotonic()
        try:
            d = json.load(urllib.request.urlopen("http://%s/api/v1/query" % host, data, timeout=300))
        except Exception as err:  # a timeout or an overloaded server: reported, not fatal
            print("   %s: %s" % (host, err))
            return None, 0
        e = time.monotonic() - s
        if d.get("status") != "success":
            return None, 0
        best = e if best is None else min(best, e)
        n = len(d["data"]["result"])
    return best, n
tot = [0.0, 0.0]
print("   %-28s %10s %10s %8s %8s" % ("group", "shard ms", "VM ms", "series", "VM ser."))
for f in files:
    for g in yaml.safe_load(open(f))["groups"]:
        gs = [0.0, 0.0]; ns = [0, 0]
        for r in g["rules"]:
            for i, h in enumerate((shard, vm)):
                e, n = run(h, r["expr"])
                if e is None:
                    print("   error on", h, r.get("record") or r.get("alert")); continue
                gs[i] += e; ns[i] += n
        tot[0] += gs[0]; tot[1] += gs[1]
        print("   %-28s %10.0f %10.0f %8d %8d" % (g["name"], gs[0] * 1000, gs[1] * 1000, ns[0], ns[1]))
print("   %-28s %10.0f %10.0f" % ("all shard rules", tot[0] * 1000, tot[1] * 1000))
PY
