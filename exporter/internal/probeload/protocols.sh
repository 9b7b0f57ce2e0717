#!/bin/sh
# protocols.sh: cgminer_exporter's CPU per probe for each protocol side by side, in one interleaved
# run with the floor (probeload --floor-serve) as the common baseline (BENCHMARKS.md, issue 13).
# minersim serves N s19jpro on 127.91.0.0/24 (cgminer API 4028, Antminer HTTP API with Digest on
# HTTP_PORT) and N m60s on 127.91.1.0/24 (Whatsminer API v3 on 4433 only). One cgminer_exporter
# per protocol module (protocols.yml) so each one's CPU and peak RSS are its own:
#   cgminer  the cgminer API on 4028 (s19jpro)
#   wm3      Whatsminer API v3 on 4433 (m60s)
#   web      the cgminer API on 4028 plus the Antminer HTTP API with Digest (s19jpro)
#   floor    dials 4028 of the same s19jpro, sends the joined command, reads one reply
# Only probes that answered 200 with cgminer_up 1 (floor: probe_success 1) count. Before and after
# the run a few web probes are checked for every web:* command answering 1.
# Usage: exporter/internal/probeload/protocols.sh [BIN]   (BIN holds cgminer_exporter, minersim,
# probeload; default bin). Environment: MINERS ROUNDS DURATION WARMUP RATE CONCURRENCY.
set -eu
BIN=${1:-bin}
MINERS=${MINERS:-200}
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-8s}
WARMUP=${WARMUP:-3s}
RATE=${RATE:-500}
CONCURRENCY=${CONCURRENCY:-32}
# Listening ports below the kernel's ephemeral range (32768-60999): the probes' own connections
# take ephemeral ports and would make a bind there fail now and then.
HTTP_PORT=28080
P_CG=29161 P_WM3=29162 P_WEB=29163 P_FLOOR=29190
CONF=$(dirname "$0")/protocols.yml
pids=
trap 'kill $pids 2>/dev/null || true' EXIT INT TERM

"$BIN/minersim" --range 127.91.0.0/24 --miners "$MINERS" --models s19jpro=1 --port 4028 \
  --http.port $HTTP_PORT --v3.port 0 --control.listen-address 127.0.0.1:29156 --log.level warn &
simA=$!; pids="$pids $simA"
"$BIN/minersim" --range 127.91.1.0/24 --miners "$MINERS" --models m60s=1 --v3.port 4433 \
  --http.port 0 --control.listen-address 127.0.0.1:29157 --log.level warn &
pids="$pids $!"
for p in $P_CG $P_WM3 $P_WEB; do
  "$BIN/cgminer_exporter" --config.file="$CONF" --web.listen-address=127.0.0.1:$p \
    --log.level=error --discovery.state-file= &
  pids="$pids $!"; eval "pid_$p=$!"
done
"$BIN/probeload" --floor-serve 127.0.0.1:$P_FLOOR &
fl=$!; pids="$pids $fl"
sleep 2

checkweb() {
  for i in 1 2 3 4 5; do
    out=$(curl -fsS "http://127.0.0.1:$P_WEB/probe?module=web&target=127.91.0.$i")
    echo "$out" | grep -q '^cgminer_up 1$' || { echo "web probe of 127.91.0.$i: not up" >&2; exit 1; }
    n=$(echo "$out" | grep -c '^cgminer_command_success{command="web:[^"]*"} 1$' || true)
    bad=$(echo "$out" | grep -c '^cgminer_command_success{command="web:[^"]*"} 0$' || true)
    [ "$n" -ge 1 ] && [ "$bad" -eq 0 ] || { echo "web probe of 127.91.0.$i: web API $n ok, $bad failed" >&2; exit 1; }
  done
  echo "web check: 5 probes, every web:* command answered"
}
checkweb

"$BIN/probeload" --external --base 127.91.0.1 --port 4028 --miners "$MINERS" \
  --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP" --rate "$RATE" \
  --concurrency "$CONCURRENCY" --sim-pid $simA --no-exporter \
  --floor-url "http://127.0.0.1:$P_FLOOR/probe?target=%s" --floor-pid $fl \
  --subject "cgminer 4028,$(eval echo \$pid_$P_CG),http://127.0.0.1:$P_CG/probe?module=cgminer&target=%s" \
  --subject "wm3 4433,$(eval echo \$pid_$P_WM3),http://127.0.0.1:$P_WM3/probe?module=wm3&target=%s" \
  --targets "wm3 4433,127.91.1.1:4433" \
  --subject "cgminer+web,$(eval echo \$pid_$P_WEB),http://127.0.0.1:$P_WEB/probe?module=web&target=%s"

checkweb
