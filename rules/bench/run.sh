#!/bin/sh
# Rules benchmark (rules/BENCHMARKS.md): the real Prometheus scrapes farmgen's MINERS miners through
# prometheus.yml's own relabelling (only the exporter's address changed) and evaluates rules/ on them.
#   MINERS=10000 DURATION=420 rules/bench/run.sh                     (from the repository root)
#   PROMETHEUS=.tools/prometheus-v0.316.0/prometheus BEFORE=<git ref> PHASE2=1 rules/bench/run.sh
#   make bench-rules                                        (both Prometheus: mk/bench-rules.mk)
# Side by side, on the same data, the same Prometheus and the same machine:
#   - the rules of the working tree (rules/*.rules.yml, rules/*.alerts.yml, as prometheus.yml loads
#     them);
#   - with BEFORE set, the same files as they were at that git ref: phase 2 times their expressions
#     in turn with the current ones (they read the current recording rules, whose names and
#     meanings they share); BEFORE_LOADED=1 also loads them into Prometheus for phase 1
#     (rules/bench/rename.py renames their groups before/…, recording rules before_…, alerts
#     Before…, so nothing collides; it doubles the load);
#   - the trivial query `sum by (site) (cgminer_up)` (one selection of one series per miner), as a
#     group of its own in phase 1 and between the groups in phase 2: the yardstick. Every group is
#     also given as a ratio to it, which carries to another machine where seconds do not.
# Phase 1 (while scraping): each group's duration as Prometheus times it (the average of
# prometheus_rule_group_last_duration_seconds over the last 5 minutes, and /api/v1/rules
# evaluationTime), in seconds per minute (a 5-minute group counts a fifth), % of its interval and
# × the trivial query; then series, CPU, memory, missed iterations, alerts. Groups run
# concurrently, so on a busy machine these are wall-clock times inflated by whatever else runs.
# Phase 2 (PHASE2=1, scraping stopped): every rule's expression alone through the query API at the
# last scraped instant, best of ROUNDS interleaved rounds (before and after groups alternate, the
# trivial query before each group): the CPU cost of each group, as in the 43 s measurement.
# Loopback only; removes everything it started and wrote.
set -eu
MINERS=${MINERS:-10000}
DURATION=${DURATION:-420}          # seconds of scraping before reading the numbers
PROMETHEUS=${PROMETHEUS:-prometheus}
BEFORE=${BEFORE:-}
PHASE2=${PHASE2:-0}
ROUNDS=${ROUNDS:-3}
GEN=127.0.0.1:${GEN_PORT:-19254}        # not 19154: make bench-probe runs the exporter there
PROM=127.0.0.1:${PROM_PORT:-19290}
ROOT=$(pwd)
TMP=$(mktemp -d)
GEN_PID=; PROM_PID=
trap 'kill $GEN_PID $PROM_PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT INT TERM

command -v "$PROMETHEUS" >/dev/null || { echo "$PROMETHEUS not found: make tools / make peers" >&2; exit 1; }
echo ">> $("$PROMETHEUS" --version 2>&1 | head -1), $MINERS miners, ${DURATION}s, before=${BEFORE:-none}"
go build -o "$TMP/farmgen" ./rules/bench/farmgen
"$TMP/farmgen" -miners "$MINERS" -listen "$GEN" 2>"$TMP/farmgen.log" &
GEN_PID=$!
mkdir -p "$TMP/targets" "$TMP/rules" "$TMP/after"
# A copy of the rules as they are now: Prometheus loads it and phase 2 reads it, so an edit during
# the run changes neither.
cp rules/*.rules.yml rules/*.alerts.yml "$TMP/after/"
cat >"$TMP/rules/trivial.yml" <<'EOF'
groups:
  - name: bench.trivial
    interval: 1m
    rules:
      - record: bench:cgminer_up:sum
        expr: sum by (site) (cgminer_up)
EOF
if [ -n "$BEFORE" ]; then
  for f in $(git ls-tree --name-only "$BEFORE" rules/ | grep -E '\.(rules|alerts)\.yml$'); do
    git show "$BEFORE:$f" >"$TMP/before.$(basename "$f")"
  done
  [ "${BEFORE_LOADED:-0}" = 0 ] || python3 "$ROOT/rules/bench/rename.py" "$TMP"/before.*.yml >"$TMP/rules/before.yml"
fi
sed -e "s|127.0.0.1:9154|$GEN|g" -e "s|127.0.0.1:9090|$PROM|g" -e "s|127.0.0.1:9093|127.0.0.1:19093|g" \
    -e "s|'targets/\*.yml'|'$TMP/targets/*.yml'|" -e "s|- rules/|- $TMP/after/|" \
    -e "s|^rule_files:|rule_files:\n  - $TMP/rules/*.yml|" prometheus.yml >"$TMP/prometheus.yml"
"$PROMETHEUS" --config.file="$TMP/prometheus.yml" --web.listen-address=$PROM \
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
kill -0 $GEN_PID 2>/dev/null || { echo "farmgen stopped:" >&2; cat "$TMP/farmgen.log" >&2; exit 1; }

q() { curl -s --data-urlencode "query=$1" "http://$PROM/api/v1/query" | \
  python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; [print("  ", {k:v for k,v in x["metric"].items() if k not in ("__name__","instance","job")}, x["value"][1]) for x in r]'; }
echo "== phase 1: while scraping (load average $(cut -d' ' -f1-3 /proc/loadavg))"
curl -s "http://$PROM/api/v1/rules" >"$TMP/rules.json"
curl -s --data-urlencode 'query=avg_over_time(prometheus_rule_group_last_duration_seconds{job="prometheus"}[5m])' \
  "http://$PROM/api/v1/query" >"$TMP/avg.json"
curl -s --data-urlencode 'query=max_over_time(prometheus_rule_group_last_duration_seconds{job="prometheus"}[5m])' \
  "http://$PROM/api/v1/query" >"$TMP/max.json"
python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
def series(name):
    out = {}
    for x in json.load(open("%s/%s.json" % (tmp, name)))["data"]["result"]:
        out[x["metric"]["rule_group"].split(";")[-1]] = float(x["value"][1])
    return out
avg, mx = series("avg"), series("max")
groups = json.load(open(tmp + "/rules.json"))["data"]["groups"]
triv = next(avg[k] for k in avg if k == "bench.trivial")
print("trivial query (sum by (site) (cgminer_up)), 5-min average: %.3f s" % triv)
print("%-32s %8s %8s %8s %8s %8s %9s" % ("group", "avg s", "max s", "last s", "s/min", "% intvl", "× trivial"))
tot = {"before": 0.0, "after": 0.0}
for g in sorted(groups, key=lambda g: (g["name"].startswith("before/"), g["name"])):
    n, iv = g["name"], float(g["interval"])
    if n == "bench.trivial":
        continue
    a = avg.get(n, float("nan"))
    per_min = a * 60 / iv
    side = "before" if n.startswith("before/") else "after"
    tot[side] += per_min
    print("%-32s %8.3f %8.3f %8.3f %8.2f %7.1f%% %9.1f" % (n, a, mx.get(n, float("nan")), g["evaluationTime"],
          per_min, 100 * a / iv, a / triv))
for side in ("before", "after"):
    if tot[side]:
        print("all groups, %-6s %8.2f s per minute  %9.1f × trivial  %6.1f %% of one core" % (side, tot[side], tot[side] / triv, 100 * tot[side] / 60))
PY
echo "missed group iterations:";                        q 'sum by (rule_group) (prometheus_rule_group_iterations_missed_total{job="prometheus"}) > 0'
echo "rule evaluation failures:";                       q 'sum by (rule_group) (prometheus_rule_evaluation_failures_total{job="prometheus"}) > 0'
echo "head series:";                                    q 'prometheus_tsdb_head_series{job="prometheus"}'
echo "samples per cgminer scrape (avg):";               q 'avg(scrape_samples_scraped{job="cgminer"})'
echo "cgminer targets up:";                             q 'sum(up{job="cgminer"})'
echo "Prometheus RSS (bytes):";                         q 'process_resident_memory_bytes{job="prometheus"}'
echo "Prometheus CPU (cores, 5m avg):";                 q 'rate(process_cpu_seconds_total{job="prometheus"}[5m])'
echo "alerts by state:";                                q 'count by (alertname, alertstate) (ALERTS)'

[ "$PHASE2" = 1 ] || exit 0
T=$(date +%s)
kill $GEN_PID; GEN_PID=
# Nothing else runs in Prometheus during phase 2: no scrape, no rule group (a configuration without
# them; the series stay, and the stale markers the reload writes are later than T). Then the CPU
# time Prometheus spends on a query (/proc/PID/stat, utime + stime) is the query's, whatever else
# the machine runs; the wall time (the query's own stats) is given beside it.
printf 'global:\n  scrape_interval: 60s\n' >"$TMP/idle.yml"
sleep 2
cp "$TMP/idle.yml" "$TMP/prometheus.yml"
kill -HUP $PROM_PID
sleep 5
echo "== phase 2: each rule's expression alone at t=$T (scraping stopped), best of $ROUNDS rounds"
python3 - "$PROM" "$T" "$ROUNDS" "$TMP" "$PROM_PID" "$TMP"/after/*.rules.yml "$TMP"/after/*.alerts.yml <<'PY'
import glob, json, os, sys, urllib.parse, urllib.request, yaml
prom, t, rounds, tmp, pid, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6:]
TICK = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK
TRIVIAL = "sum by (site) (cgminer_up)"
def run(expr):
    data = urllib.parse.urlencode({"query": expr, "time": t, "stats": "all"}).encode()
    c0 = cpu()
    d = json.load(urllib.request.urlopen("http://%s/api/v1/query" % prom, data))["data"]
    c = cpu() - c0
    out = {tuple(sorted((k, v) for k, v in x["metric"].items() if k != "__name__")): float(x["value"][1]) for x in d["result"]}
    return c, d["stats"]["timings"]["evalTotalTime"], out
def rule_name(r):
    return r.get("record") or r["alert"] + ("{reason=%s}" % r["labels"]["reason"] if "reason" in r.get("labels", {}) else "")
def load(paths, side):
    out = []
    for f in paths:
        for g in yaml.safe_load(open(f))["groups"]:
            iv = g.get("interval", "1m")
            mins = float(iv[:-1]) / (60 if iv.endswith("s") else 1) * (60 if iv.endswith("h") else 1)
            out.append((side, g["name"], mins, g["rules"]))
    return out
# The older rules' expressions run as they were written: they read the recording rules of the
# current files, whose names and meanings they share (run.sh loads only the current rules).
groups = load(sorted(glob.glob(tmp + "/before.*.yml")), "before") + load(files, "after")
best, wall, series, trivs, twall = {}, {}, {}, [], []
for rnd in range(rounds):
    # Interleaved: the trivial query, then one group; before and after groups alternate.
    order = sorted(groups, key=lambda g: (g[1], g[0])) if rnd % 2 == 0 else sorted(groups, key=lambda g: (g[1], g[0]), reverse=True)
    for side, name, mins, rules in order:
        c, w, _ = run(TRIVIAL)
        trivs.append(c); twall.append(w)
        for i, r in enumerate(rules):
            c, w, res = run(r["expr"])
            k = (side, name, i)
            best[k] = min(best.get(k, c), c)
            wall[k] = min(wall.get(k, w), w)
            series[k] = res
# The trivial query's CPU time: the median of its runs (one before each group), so a clock tick
# more or less does not move every ratio.
trivs.sort(); twall.sort()
triv = trivs[len(trivs) // 2] or float("nan")   # below one clock tick: too few miners for ratios
print("  trivial query %s: CPU %.1f ms (median of %d; min %.1f, max %.1f), wall %.1f ms (median)" % (
    TRIVIAL, triv * 1000, len(trivs), trivs[0] * 1000, trivs[-1] * 1000, twall[len(twall) // 2] * 1000))
tot, totw = {}, {}
print("  CPU time, best of %d rounds (wall time, best, beside it)" % rounds)
print("  %-7s %-28s %9s %9s %9s %9s %9s" % ("", "group", "ms/eval", "s/min", "% intvl", "× trivial", "wall ms"))
for side, name, mins, rules in sorted(groups, key=lambda g: (g[1], g[0] == "after")):
    g = sum(best[(side, name, i)] for i in range(len(rules)))
    gw = sum(wall[(side, name, i)] for i in range(len(rules)))
    per_min = g / mins
    tot[side] = tot.get(side, 0.0) + per_min
    totw[side] = totw.get(side, 0.0) + gw / mins
    print("  %-7s %-28s %9.1f %9.2f %8.1f%% %9.1f %9.1f" % (side, name, g * 1000, per_min, 100 * g / (mins * 60), g / triv, gw * 1000))
for side in ("before", "after"):
    if side in tot:
        print("  all rules, %-6s CPU %6.2f s per minute  %7.1f × trivial   (wall %.2f s)" % (side, tot[side], tot[side] / triv, totw[side]))
# The same rule (record name, or alert name and reason) in both versions: does it give the same
# series with the same values on this farm? (Rules with several rules of one name and no reason,
# such as MinerFirmwareFault, are compared as the union of their results.)
results = {}
for side, gname, mins, rules in groups:
    for i, r in enumerate(rules):
        results.setdefault((side, rule_name(r)), {}).update(series[(side, gname, i)])
def same(a, b):
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 1e-9 * max(1.0, abs(a[k])) or a[k] != a[k] and b[k] != b[k] for k in a)
print("  per rule (CPU ms, wall ms, series, same result as before):")
for side, gname, mins, rules in groups:
    for i, r in enumerate(rules):
        n = rule_name(r)
        cmp = ""
        if side == "after" and ("before", n) in results:
            b, a = results[("before", n)], results[("after", n)]
            cmp = "same" if same(b, a) else "DIFFERS: %d before, %d after, %d in both" % (len(b), len(a), len(b.keys() & a.keys()))
        print("   %-6s %-26s %8.1f %8.1f %7d  %s  %s" % (side, gname, best[(side, gname, i)] * 1000, wall[(side, gname, i)] * 1000, len(series[(side, gname, i)]), n, cmp))
PY
