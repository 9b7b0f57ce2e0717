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
	"time"

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
	)
	flag.Parse()
	if err := run(*miners, *sites, *samples, *repeat, *prometheus, *promtool, *dir, *top); err != nil {
		fmt.Fprintln(os.Stderr, "querybench:", err)
		os.Exit(1)
	}
}

func run(miners, sites, samples, repeat int, prometheus, promtool, dir string, top int) error {
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
		values := map[string]string{"site": ".*", "model": ".*", "instance": ".*", "receiver_url": "", "assignee": "", "datasource": ""}
		if filepath.Base(f) == "miner.json" {
			values["instance"] = instance(0)
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
	site := func(i int) string { return fmt.Sprintf("site-%02d", i%sites) }
	id := func(i int) string {
		return fmt.Sprintf(`instance="%s",job="cgminer",site="%s",rack="r%d"`, instance(i), site(i), i/40%100)
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
	pools := func(int) []string {
		return []string{
			`,pool="0",url="stratum+tcp://pool.example.com:3333",user="farm.w1"`,
			`,pool="1",url="stratum+tcp://backup.example.com:3333",user="farm.w1"`,
			`,pool="2",url="stratum+tcp://devfee.example.com:3333",user="dev"`,
		}
	}
	const nominal = 100e12
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
	family("cgminer_shares_accepted", "counter", one, func(i, s int) float64 { return float64(1000 + s*60) }, true)
	family("cgminer_shares_rejected", "counter", one, func(i, s int) float64 { return float64(10 + s) }, true)
	family("ALERTS", "gauge", func(i int) []string {
		if i%100 == 0 {
			return []string{`,alertname="MinerHashrateLow",alertstate="firing",category="hashrate",severity="warning"`}
		}
		if down(i) {
			return []string{`,alertname="MinerOffline",alertstate="firing",category="offline",severity="critical"`}
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
