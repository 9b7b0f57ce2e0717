// querybench measures what the dashboards cost Prometheus: it writes a synthetic farm of N miners
// (the series the exporter, the recording rules and the receiver produce) as OpenMetrics, turns it
// into TSDB blocks with promtool, starts a real Prometheus on them, and times every dashboard
// expression as an instant query, the way Grafana asks on each refresh.
//
//	go run ./dashboards/internal/querybench --miners 10000
//
// See dashboards/BENCHMARKS.md for the method and the numbers.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/minefarm/cgminer-stack/dashboards/check"
)

func main() {
	var (
		miners     = flag.Int("miners", 10000, "miners in the synthetic farm")
		sites      = flag.Int("sites", 10, "sites the miners are spread over")
		samples    = flag.Int("samples", 5, "samples per series, one a minute (rate() needs two in its window)")
		repeat     = flag.Int("repeat", 5, "times each query runs; the median is reported")
		prometheus = flag.String("prometheus", "prometheus", "Prometheus binary")
		promtool   = flag.String("promtool", "promtool", "promtool binary")
		dir        = flag.String("dashboards", "dashboards", "folder of the dashboard JSON files")
		top        = flag.Int("top", 15, "slowest queries listed")
		rules      = flag.String("rules", "rules/cgminer.rules.yml", "recording rules whose expressions are timed too (see --rule-groups)")
		ruleGroups = flag.String("rule-groups", "cgminer.pools,cgminer.racks,cgminer.models", "groups of --rules timed as instant queries (empty: none)")
	)
	flag.Parse()
	if err := run(*miners, *sites, *samples, *repeat, *prometheus, *promtool, *dir, *top, *rules, *ruleGroups); err != nil {
		fmt.Fprintln(os.Stderr, "querybench:", err)
		os.Exit(1)
	}
}

func run(miners, sites, samples, repeat int, prometheus, promtool, dir string, top int, rules, ruleGroups string) error {
	work, err := os.MkdirTemp("", "querybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	end := time.Now().Add(-2 * time.Hour).Truncate(time.Minute) // blocks must not overlap the head
	start := time.Now()
	om := filepath.Join(work, "farm.om")
	nseries, err := writeFarm(om, miners, sites, samples, end)
	if err != nil {
		return err
	}
	data := filepath.Join(work, "data")
	cmd := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", om, data)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("promtool create-blocks-from: %w\n%s", err, out)
	}
	os.Remove(om)
	fmt.Printf("farm: %d miners on %d sites, %d series, %d samples each; blocks written in %s\n",
		miners, sites, nseries, samples, time.Since(start).Round(time.Second))

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cfg := filepath.Join(work, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global: {}\n"), 0o644); err != nil {
		return err
	}
	prom := exec.Command(prometheus, "--config.file="+cfg, "--storage.tsdb.path="+data,
		"--web.listen-address="+addr, "--storage.tsdb.retention.time=100y", "--log.level=error")
	prom.Stderr = os.Stderr
	if err := prom.Start(); err != nil {
		return err
	}
	defer func() { prom.Process.Kill(); prom.Wait() }()
	base := "http://" + addr
	if err := waitReady(base); err != nil {
		return err
	}

	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	type result struct {
		where  string
		median time.Duration
		series int
	}
	var results []result
	totals := map[string]time.Duration{} // every panel, rows expanded
	onLoad := map[string]time.Duration{} // what a refresh runs: collapsed rows left out
	counts := map[string][2]int{}
	for _, f := range files {
		exprs, err := check.Exprs(f)
		if err != nil {
			return err
		}
		values := map[string]string{"site": ".*", "model": ".*", "instance": ".*", "receiver_url": "", "assignee": "", "datasource": "",
			"row": ".*", "pool": ".*", "worker": ".*", "scrape_timeout": "20"}
		switch filepath.Base(f) {
		case "miner.json":
			values["instance"] = instance(0)
		case "rack.json": // one rack of 40 miners
			values["site"], values["rack"] = "site-00", "r0"
		}
		for _, e := range exprs {
			q, err := check.SubstituteValues(e.Raw, values)
			if err != nil {
				return err
			}
			var times []time.Duration
			n := 0
			for range repeat {
				d, series, err := query(base, q, end)
				if err != nil {
					return fmt.Errorf("%s: %w", e.Where, err)
				}
				times = append(times, d)
				n = series
			}
			sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
			m := times[len(times)/2]
			results = append(results, result{e.Where, m, n})
			name := filepath.Base(f)
			totals[name] += m
			c := counts[name]
			c[1]++
			if !e.Collapsed {
				onLoad[name] += m
				c[0]++
			}
			counts[name] = c
		}
	}
	// The recording rules the dashboards read instead of per-miner joins: what each evaluation
	// (once a minute) costs, timed as the same instant query.
	var ruleLines []string
	if ruleGroups != "" {
		want := map[string]bool{}
		for _, g := range strings.Split(ruleGroups, ",") {
			want[strings.TrimSpace(g)] = true
		}
		data, err := os.ReadFile(rules)
		if err != nil {
			return err
		}
		var rf struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []struct {
					Record string `yaml:"record"`
					Expr   string `yaml:"expr"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(data, &rf); err != nil {
			return fmt.Errorf("%s: %w", rules, err)
		}
		for _, g := range rf.Groups {
			if !want[g.Name] {
				continue
			}
			var total time.Duration
			for _, r := range g.Rules {
				var times []time.Duration
				n := 0
				for range repeat {
					d, series, err := query(base, r.Expr, end)
					if err != nil {
						return fmt.Errorf("rule %s: %w", r.Record, err)
					}
					times = append(times, d)
					n = series
				}
				sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
				total += times[len(times)/2]
				ruleLines = append(ruleLines, fmt.Sprintf("| %s | %s | %d |", r.Record, times[len(times)/2].Round(100*time.Microsecond), n))
			}
			ruleLines = append(ruleLines, fmt.Sprintf("| **group %s** | **%s** | |", g.Name, total.Round(time.Millisecond)))
		}
	}

	sort.Slice(results, func(i, j int) bool { return results[i].median > results[j].median })
	fmt.Printf("\n| dashboard | on load (queries) | rows expanded (queries) |\n|---|---:|---:|\n")
	names := make([]string, 0, len(totals))
	for n := range totals {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("| %s | %s (%d) | %s (%d) |\n", n, onLoad[n].Round(time.Millisecond), counts[n][0],
			totals[n].Round(time.Millisecond), counts[n][1])
	}
	if len(ruleLines) > 0 {
		fmt.Printf("\n| recording rule (instant query) | median | series |\n|---|---:|---:|\n%s\n", strings.Join(ruleLines, "\n"))
	}
	fmt.Printf("\n| slowest queries | median | series returned |\n|---|---:|---:|\n")
	for i, r := range results {
		if i == top {
			break
		}
		fmt.Printf("| %s | %s | %d |\n", r.where, r.median.Round(100*time.Microsecond), r.series)
	}
	return nil
}

func instance(i int) string { return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255) }

// writeFarm writes the series of every miner, grouped by metric family as OpenMetrics wants.
func writeFarm(path string, miners, sites, samples int, end time.Time) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	series := 0
	ts := make([]int64, samples)
	for i := range ts {
		ts[i] = end.Add(-time.Duration(samples-1-i) * time.Minute).Unix()
	}
	models := []string{"Antminer S19j Pro", "Antminer S9", "Whatsminer M30S", "Antminer S19 XP"}
	// Sites are contiguous blocks of miners; racks hold 40 miners (slots 1-40), rows 10 racks.
	block := max(1, miners/sites)
	site := func(i int) string { return fmt.Sprintf("site-%02d", min(i/block, sites-1)) }
	id := func(i int) string {
		return fmt.Sprintf(`instance="%s",job="cgminer",site="%s",row="row-%d",rack="r%d",slot="%d"`,
			instance(i), site(i), i/400%10, i/40%100, i%40+1)
	}
	down := func(i int) bool { return i%50 == 7 } // 2% not answering

	// family writes one metric family: each miner's label sets with a value function of (miner, sample).
	family := func(name, typ string, perMiner func(i int) []string, value func(i, s int) float64, onlyUp bool) {
		fmt.Fprintf(w, "# TYPE %s %s\n", name, typ)
		sample := name
		if typ == "counter" {
			sample += "_total"
		}
		for i := range miners {
			if onlyUp && down(i) {
				continue
			}
			for _, extra := range perMiner(i) {
				series++
				for s, t := range ts {
					fmt.Fprintf(w, "%s{%s%s} %g %d\n", sample, id(i), extra, value(i, s), t)
				}
			}
		}
	}
	one := func(int) []string { return []string{""} }
	boards := func(int) []string { return []string{`,board="0"`, `,board="1"`, `,board="2"`} }
	// A worker per miner on the operator's pools (as minersim names them), one fee pool user.
	pools := func(i int) []string {
		return []string{
			fmt.Sprintf(`,pool="0",url="stratum+tcp://pool.example.com:3333",user="farm.%d"`, i),
			fmt.Sprintf(`,pool="1",url="stratum+tcp://backup.example.com:3333",user="farm.%d"`, i),
			`,pool="2",url="stratum+tcp://devfee.example.com:3333",user="dev"`,
		}
	}
	const nominal = 100e12
	family("up", "gauge", one, func(int, int) float64 { return 1 }, false)
	for _, j := range []string{"cgminer_exporter", "prometheus", "alertmanager", "repair_receiver", "price"} { // same family
		series++
		for _, t := range ts {
			fmt.Fprintf(w, "up{instance=\"127.0.0.1\",job=\"%s\"} 1 %d\n", j, t)
		}
	}
	family("scrape_duration_seconds", "gauge", one, func(i, _ int) float64 { return 0.2 + float64(i%90)/10 }, false)
	family("cgminer_up", "gauge", one, func(i, _ int) float64 { return b2f(!down(i)) }, false)
	family("cgminer_probe_error_info", "gauge", func(i int) []string {
		if down(i) {
			return []string{`,reason="timeout"`}
		}
		return nil
	}, func(int, int) float64 { return 1 }, false)
	family("cgminer_sleeping", "gauge", one, func(i, _ int) float64 { return b2f(i%200 == 3) }, true)
	family("cgminer_info", "gauge", func(i int) []string {
		return []string{fmt.Sprintf(`,model="%s",firmware="stock",software="bmminer",software_version="1.0",api_version="3.1"`, models[i%len(models)])}
	}, func(int, int) float64 { return 1 }, true)
	family("cgminer_hashrate_hashes_per_second", "gauge", one, func(i, s int) float64 { return nominal * (0.9 + float64((i+s)%10)/100) }, true)
	family("cgminer_hashrate_nominal_hashes_per_second", "gauge", one, func(int, int) float64 { return nominal }, true)
	family("cgminer_boards", "gauge", one, func(i, _ int) float64 { return 3 - b2f(i%97 == 5) }, true)
	family("cgminer_boards_expected", "gauge", one, func(int, int) float64 { return 3 }, true)
	family("cgminer_power_watts", "gauge", one, func(i, _ int) float64 { return 3000 + float64(i%300) }, true)
	family("cgminer_board_hashrate_hashes_per_second", "gauge", boards, func(i, s int) float64 { return nominal / 3 * b2f(i%101 != 9) }, true)
	family("cgminer_board_chips", "gauge", boards, func(int, int) float64 { return 126 }, true)
	family("cgminer_board_chips_expected", "gauge", boards, func(int, int) float64 { return 126 }, true)
	family("cgminer_board_chips_failed", "gauge", boards, func(i, _ int) float64 { return float64(i % 3) }, true)
	family("cgminer_board_temperature_celsius", "gauge", func(int) []string {
		var out []string
		for _, b := range []string{"0", "1", "2"} {
			for _, s := range []string{"chip", "pcb"} {
				out = append(out, fmt.Sprintf(`,board="%s",sensor="%s"`, b, s))
			}
		}
		return out
	}, func(i, s int) float64 { return 60 + float64((i*7+s)%35) }, true)
	family("cgminer_fan_speed_rpm", "gauge", func(int) []string {
		return []string{`,fan="0"`, `,fan="1"`, `,fan="2"`, `,fan="3"`}
	}, func(i, _ int) float64 { return 4000 * b2f(i%300 != 11) }, true)
	family("cgminer_pool_up", "gauge", pools, func(int, int) float64 { return 1 }, true)
	family("cgminer_pool_active", "gauge", pools, func(i, _ int) float64 { return 1 }, true)
	family("cgminer_pool_expected", "gauge", pools, func(i, _ int) float64 { return 1 }, true)
	family("cgminer_pool_devfee", "gauge", pools, func(int, int) float64 { return 0 }, true)
	// Pool counters: the three pool slots, the first taking the work.
	family("cgminer_pool_difficulty_accepted", "counter", pools, func(i, s int) float64 { return float64(1e6 + s*60*65536) }, true)
	family("cgminer_pool_shares_accepted", "counter", pools, func(i, s int) float64 { return float64(1000 + s*60) }, true)
	family("cgminer_pool_shares_rejected", "counter", pools, func(i, s int) float64 { return float64(10 + s) }, true)
	family("cgminer_shares_accepted", "counter", one, func(i, s int) float64 { return float64(1000 + s*60) }, true)
	family("cgminer_shares_rejected", "counter", one, func(i, s int) float64 { return float64(10 + s) }, true)
	family("ALERTS", "gauge", func(i int) []string {
		if i%100 == 0 {
			return []string{`,alertname="MinerHashrateLow",alertstate="firing",category="hashrate",severity="warning"`}
		}
		if down(i) {
			return []string{`,alertname="MinerOffline",alertstate="firing",category="offline",severity="critical"`}
		}
		if i%150 == 1 {
			return []string{`,alertname="MinerTemperatureHigh",alertstate="firing",category="temperature",severity="warning",board="1",sensor="chip"`}
		}
		if i%120 == 2 {
			return []string{`,alertname="MinerHashboardFailed",alertstate="firing",category="hashboard",severity="warning",board="2",reason="chips_failed"`}
		}
		return nil
	}, func(int, int) float64 { return 1 }, false)

	// The recording rules' and the receiver's series: a few per site, cheap next to the above.
	perSite := func(name string, v float64) {
		fmt.Fprintf(w, "# TYPE %s gauge\n", name)
		for s := range sites {
			series++
			for _, t := range ts {
				fmt.Fprintf(w, "%s{site=\"%s\"} %g %d\n", name, site(s), v, t)
			}
		}
	}
	for _, r := range []string{"hashrate_hashes_per_second:sum", "hashrate_nominal_hashes_per_second:sum", "miners:count",
		"miners_up:sum", "miners_down:sum", "miners_sleeping:sum", "boards_missing:sum", "power_watts:sum",
		"efficiency_joules_per_terahash:ratio", "shares_accepted:rate5m"} {
		perSite("site:cgminer_"+r, float64(miners/sites))
		fmt.Fprintf(w, "# TYPE fleet:cgminer_%s gauge\n", r)
		series++
		for _, t := range ts {
			fmt.Fprintf(w, "fleet:cgminer_%s %d %d\n", r, miners, t)
		}
	}
	// The rack:, pool: and the new site: rules' series.
	plain := func(name string, labelsets []string, value func(int) float64) {
		fmt.Fprintf(w, "# TYPE %s gauge\n", name)
		for k, ls := range labelsets {
			series++
			for si, t := range ts {
				fmt.Fprintf(w, "%s{%s} %g %d\n", name, ls, value(k)+float64(si), t)
			}
		}
	}
	var racks, sitePools, siteOnly []string
	for i := 0; i < miners; i += 40 {
		racks = append(racks, fmt.Sprintf(`site="%s",row="row-%d",rack="r%d"`, site(i), i/400%10, i/40%100))
	}
	for s := range sites {
		siteOnly = append(siteOnly, fmt.Sprintf(`site="site-%02d"`, s))
		for _, u := range []string{"pool.example.com", "backup.example.com", "devfee.example.com"} {
			sitePools = append(sitePools, fmt.Sprintf(`site="site-%02d",url="stratum+tcp://%s:3333"`, s, u))
		}
	}
	plain("rack:cgminer_miners:count", racks, func(int) float64 { return 40 })
	plain("rack:cgminer_miners_down:count", racks, func(k int) float64 { return float64(k % 2) })
	plain("rack:cgminer_miners_hot:count", racks, func(k int) float64 { return float64(k % 3 / 2) })
	plain("rack:cgminer_miners_degraded:count", racks, func(k int) float64 { return float64(k % 4 / 3) })
	for _, r := range []string{"pool_difficulty_accepted:rate5m", "pool_shares_accepted:rate5m", "pool_shares_rejected:rate5m", "hashrate_hashes_per_second:sum"} {
		plain("pool:cgminer_"+r, sitePools, func(k int) float64 { return float64(1000 + k) })
	}
	var siteModels, modelOnly []string
	for s := range sites {
		for _, m := range models {
			siteModels = append(siteModels, fmt.Sprintf(`site="site-%02d",model="%s"`, s, m))
		}
	}
	for _, m := range models {
		modelOnly = append(modelOnly, fmt.Sprintf(`model="%s"`, m))
	}
	plain("site_model:cgminer_miners:count", siteModels, func(int) float64 { return float64(miners / sites / len(models)) })
	plain("site_model:cgminer_hashrate_hashes_per_second:sum", siteModels, func(int) float64 { return 2.5e16 })
	plain("site_model:cgminer_power_watts:sum", siteModels, func(int) float64 { return 7.5e5 })
	plain("model:cgminer_efficiency_joules_per_terahash:ratio", modelOnly, func(k int) float64 { return float64(20 + 10*k) })
	for _, r := range []string{"shares_rejected:rate5m", "shares_stale:rate5m"} {
		plain("site:cgminer_"+r, siteOnly, func(int) float64 { return 1 })
		plain("fleet:cgminer_"+r, []string{""}, func(int) float64 { return 10 })
	}

	// The monitoring's own series: the exporter's, Prometheus's, Alertmanager's, the receiver's
	// and price_exporter's, a few each (counters grow by the sample index).
	self := func(name string, labelsets ...string) { plain(name, labelsets, func(int) float64 { return 1 }) }
	exp := `instance="127.0.0.1:9154",job="cgminer_exporter"`
	prom := `instance="127.0.0.1:9090",job="prometheus"`
	am := `instance="127.0.0.1:9093",job="alertmanager"`
	rr := `instance="127.0.0.1:9155",job="repair_receiver"`
	pr := `instance="127.0.0.1:9157",job="price"`
	var probes, buckets []string
	for _, r := range []string{"success", "timeout", "connection_refused"} {
		probes = append(probes, exp+`,module="default",result="`+r+`"`)
	}
	for _, le := range []string{"0.1", "0.5", "1", "2.5", "5", "10", "20", "+Inf"} {
		buckets = append(buckets, exp+`,module="default",le="`+le+`"`)
	}
	self("cgminer_exporter_probes_total", probes...)
	self("cgminer_exporter_probe_duration_seconds_bucket", buckets...)
	self("cgminer_exporter_config_last_reload_successful", exp)
	self("cgminer_exporter_debug_probes_limited_total", exp)
	var disc []string
	for s := range sites {
		for _, m := range models {
			disc = append(disc, fmt.Sprintf(`%s,site="site-%02d",model="%s",firmware="stock",answering="1"`, exp, s, m))
		}
	}
	self("cgminer_discovery_miners", disc...)
	for _, n := range []string{"cgminer_discovery_addresses_scanned_total", "cgminer_discovery_answers_total", "cgminer_discovery_scan_duration_seconds",
		"cgminer_discovery_last_scan_completed_timestamp_seconds", "cgminer_inventory_records", "cgminer_inventory_evictions_total",
		"cgminer_inventory_refused_total", "cgminer_inventory_save_failures_total", "cgminer_inventory_last_save_timestamp_seconds"} {
		self(n, exp)
	}
	var groups []string
	for _, g := range []string{"cgminer.aggregates", "cgminer.per_miner", "cgminer.pools", "cgminer.racks", "cgminer.miner", "cgminer.fleet", "cgminer.meta"} {
		groups = append(groups, prom+`,rule_group="/etc/prometheus/rules.yml;`+g+`"`)
	}
	for _, n := range []string{"prometheus_rule_group_last_duration_seconds", "prometheus_rule_group_interval_seconds",
		"prometheus_rule_group_iterations_missed_total", "prometheus_rule_group_iterations_total",
		"prometheus_rule_group_last_evaluation_timestamp_seconds", "prometheus_rule_evaluation_failures_total"} {
		self(n, groups...)
	}
	for _, n := range []string{"prometheus_notifications_sent_total", "prometheus_notifications_dropped_total", "prometheus_notifications_errors_total",
		"prometheus_notifications_queue_length", "prometheus_notifications_alertmanagers_discovered", "prometheus_target_scrapes_exceeded_sample_limit_total"} {
		self(n, prom)
	}
	self("prometheus_sd_discovered_targets", prom+`,config="cgminer",name="scrape"`)
	self("alertmanager_alerts", am+`,state="active"`, am+`,state="suppressed"`)
	self("alertmanager_alerts_received_total", am+`,status="firing",version="v2"`)
	self("alertmanager_notifications_total", am+`,integration="telegram"`, am+`,integration="email"`, am+`,integration="webhook"`)
	self("alertmanager_notifications_failed_total", am+`,integration="telegram",reason="other"`, am+`,integration="email",reason="other"`)
	self("repair_receiver_webhook_requests_total", rr+`,result="ok"`, rr+`,result="store_error"`)
	self("repair_receiver_webhook_alerts_total", rr+`,status="firing"`, rr+`,status="resolved"`)
	self("repair_receiver_notification_attempts_total", rr+`,channel="telegram",result="sent"`, rr+`,channel="email",result="failed"`)
	self("repair_receiver_notifications_undeliverable", rr+`,channel="telegram"`, rr+`,channel="none"`)
	self("repair_receiver_notifications_total", rr+`,result="sent"`, rr+`,result="gave_up"`)
	self("repair_receiver_escalations_total", rr+`,step="1",reason="unacknowledged"`)
	self("repair_receiver_verifications_total", rr+`,result="confirmed"`, rr+`,result="failed"`)
	self("repair_receiver_verify_expr_checks_total", rr+`,result="holds"`, rr+`,result="clear"`)
	self("repair_receiver_reconcile_passes_total", rr+`,result="complete"`, rr+`,result="error"`)
	for _, n := range []string{"repair_receiver_store_commit_failures_total", "repair_receiver_store_last_commit_success_timestamp_seconds",
		"repair_receiver_watchdog_last_seen_timestamp_seconds"} {
		self(n, rr)
	}
	self("price_hashprice_per_terahash_day", pr+`,currency="USD"`)
	self("price_electricity_per_kwh", pr+`,currency="USD",site=""`, pr+`,currency="USD",site="site-00"`)
	var purchase []string
	for _, m := range models {
		purchase = append(purchase, pr+`,currency="USD",model="`+m+`"`)
	}
	self("price_miner_purchase", purchase...)
	self("price_value_fetched", pr+`,value="hashprice"`)
	self("price_source_last_success_timestamp_seconds", pr+`,value="hashprice"`)
	self("price_source_fetches_total", pr+`,value="hashprice",result="ok"`)

	fmt.Fprintf(w, "# TYPE repair_receiver_tasks gauge\n")
	for s := range sites {
		for _, st := range []string{"open", "acknowledged", "in_progress", "verifying", "done"} {
			series++
			for _, t := range ts {
				fmt.Fprintf(w, "repair_receiver_tasks{site=\"%s\",state=\"%s\"} 3 %d\n", site(s), st, t)
			}
		}
	}
	fmt.Fprintln(w, "# EOF")
	if err := w.Flush(); err != nil {
		return 0, err
	}
	return series, f.Close()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitReady(base string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("prometheus at %s not ready", base)
}

// query runs one instant query at t and returns its wall time and how many series it returned.
func query(base, q string, t time.Time) (time.Duration, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u := base + "/api/v1/query?" + url.Values{"query": {q}, "time": {fmt.Sprint(t.Unix())}}.Encode()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	d := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, 0, fmt.Errorf("%q: %w", q, err)
	}
	if r.Status != "success" {
		return 0, 0, fmt.Errorf("%q: %s", q, r.Error)
	}
	var vec []json.RawMessage
	if json.Unmarshal(r.Data.Result, &vec) != nil {
		return d, 1, nil // a scalar
	}
	return d, len(vec), nil
}
