# Ratios of `make bench-receiver` (mk/bench-receiver.mk). Input lines:
#   after BenchmarkIntakeBurst/engine=sqlite/receiver-2  3  9.6 action_p50_ms  49 action_p99_ms  71 actions/op  2388 alerts/s
# in rounds (each round: the baseline, then the receiver, per engine; before, then after).
function metric(unit,   i) {
	for (i = 4; i < NF; i++) if ($(i + 1) == unit) return $i
	return ""
}
{
	split($2, p, "/"); engine = substr(p[2], 8); kind = p[3]; sub(/-[0-9]+$/, "", kind)
	v = $1; key = v SUBSEP engine
	if (kind == "baseline") { base[key] = metric("alerts/s"); next }
	n = ++runs[key]
	rate[key, n] = metric("alerts/s"); ratio[key, n] = (base[key] > 0) ? rate[key, n] / base[key] : 0
	p50[key, n] = metric("action_p50_ms"); p99[key, n] = metric("action_p99_ms")
	if (!(engine in seen)) { seen[engine] = 1; engines[++ne] = engine }
	if (!(v in seenv)) { seenv[v] = 1; versions[++nv] = v }
}
END {
	printf "\n%-7s %-9s %5s %12s %9s %10s %10s\n", "build", "engine", "round", "alerts/s", "÷baseline", "act p50ms", "act p99ms"
	for (e = 1; e <= ne; e++) for (w = 1; w <= nv; w++) {
		key = versions[w] SUBSEP engines[e]
		for (n = 1; n <= runs[key]; n++)
			printf "%-7s %-9s %5d %12.0f %9.3f %10.1f %10.1f\n", versions[w], engines[e], n, rate[key, n], ratio[key, n], p50[key, n], p99[key, n]
	}
	if (nv == 2) {
		print "\nafter/before, per round (alerts/s; both builds under the same load):"
		for (e = 1; e <= ne; e++) {
			a = "after" SUBSEP engines[e]; b = "before" SUBSEP engines[e]
			for (n = 1; n <= runs[a] && n <= runs[b]; n++) {
				x = (rate[b, n] > 0) ? rate[a, n] / rate[b, n] : 0
				printf "  %-9s round %d: %.2f× (receiver÷baseline %.3f → %.3f)\n", engines[e], n, x, ratio[b, n], ratio[a, n]
			}
		}
	}
}
