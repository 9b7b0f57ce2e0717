package multisite

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/dashboards/check"
	"github.com/minefarm/cgminer-stack/deploy/multisite/topology"
	"github.com/minefarm/cgminer-stack/e2e/stack"
)

const (
	minersPerSite = 12
	interval      = 2 * time.Second // every scrape and evaluation in fast mode
	vmOutage      = 3 * time.Minute
)

// Two sites × two shards, VictoriaMetrics, vmalert, two Alertmanagers, two receivers on one
// PostgreSQL, all as deploy/multisite/topology generates them (fast intervals: every scrape and
// evaluation 2 s, every `for:` and Alertmanager wait divided by 10, the receiver's windows by 60).
func TestMultiSite(t *testing.T) {
	if testing.Short() {
		t.Skip("the multi-site deployment takes about eight minutes")
	}
	if os.Getenv("CGMINER_MULTISITE_E2E") == "" {
		t.Skip("run by `make test-multisite` (CGMINER_MULTISITE_E2E=1), so that go test ./... does not run it beside the single-box e2e")
	}
	root, _ := filepath.Abs("../..")
	bins := binaries(t, root)
	work := t.TempDir()
	ranges := freeRanges(t, 2)
	var log strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Root: root, WorkDir: work, Binaries: bins,
		Farms: []Farm{
			{Site: "site-a", Range: ranges[0], Miners: minersPerSite, Models: "s19jpro=2,m30s=1", Seed: 3},
			{Site: "site-b", Range: ranges[1], Miners: minersPerSite, Models: "s19jpro=2,m30s=1", Seed: 4},
		},
		ShardsPerSite: 2, Alertmanagers: 2, Receivers: 2,
		Fast: topology.Fast{Interval: interval, ForDiv: 10, ReceiverDiv: 60}, Log: &log})
	if err != nil {
		t.Fatalf("start: %v\n%s", err, log.String())
	}
	defer c.Stop()
	defer func() {
		t.Logf("timeline:\n%s", log.String())
		if t.Failed() {
			for _, n := range c.Names() {
				t.Log(c.LogTail(n))
			}
		}
	}()
	cl := &client{t: t, c: c, expectedDown: map[string]bool{}}
	stamp := func(what string) { fmt.Fprintf(&log, "%s %s\n", time.Now().Format("15:04:05"), what) }
	start := time.Now()

	// Every miner is scraped by exactly one shard of its site, and its samples reach the centre.
	shards := cl.shardURLs()
	onShard := map[string]string{} // instance → shard name
	cl.eventually("every miner on exactly one shard, and at the centre", 90*time.Second, func() (bool, string) {
		clear(onShard)
		per := map[string]int{}
		for name, u := range shards {
			v, err := cl.queryAt(u, `cgminer_up{job="cgminer"} == 1`, time.Time{})
			if err != nil {
				return false, err.Error()
			}
			for _, s := range v {
				inst := s.Metric["instance"]
				if prev, dup := onShard[inst]; dup {
					t.Fatalf("%s scraped by both %s and %s", inst, prev, name)
				}
				if !strings.HasPrefix(name, s.Metric["site"]+"-") {
					t.Fatalf("%s of site %s scraped by %s", inst, s.Metric["site"], name)
				}
				onShard[inst] = name
				per[name]++
			}
		}
		vm, err := cl.queryAt(cl.vm(), `count by (site, shard) (cgminer_up{job="cgminer"} == 1)`, time.Time{})
		if err != nil {
			return false, err.Error()
		}
		atVM := 0
		for _, s := range vm {
			atVM += int(s.value())
		}
		for name := range shards {
			if per[name] == 0 {
				return false, name + " scrapes no miner"
			}
		}
		return len(onShard) == 2*minersPerSite && atVM == 2*minersPerSite, fmt.Sprintf("shards %v, at the centre %d", per, atVM)
	})
	stamp(fmt.Sprintf("all %d miners up, split %v", len(onShard), shardCounts(onShard)))
	cl.eventually("the Alertmanagers gossiping", 30*time.Second, func() (bool, string) {
		n0, err0 := cl.amPeers(0)
		n1, err1 := cl.amPeers(1)
		return n0 == 2 && n1 == 2, fmt.Sprint(n0, n1, err0, err1)
	})

	a := cl.miners("site-a")
	b := cl.miners("site-b")
	r0, r1 := cl.receiverURL(0), cl.receiverURL(1)

	// 1. Faults on both sites become exactly one task each, the same on both receivers; a repair
	//    reported while the fan still stands is failed by the receiver's verification against
	//    VictoriaMetrics.
	t.Run("faults on both sites", func(t *testing.T) {
		cl := cl.sub(t)
		cl.fault("site-a", a[0], "fan_stopped")
		cl.fault("site-b", b[0], "fan_stopped")
		ta := cl.waitTask(r0, "instance="+a[0], "MinerFanFailure")
		tb := cl.waitTask(r0, "instance="+b[0], "MinerFanFailure")
		stamp("fan tasks on both sites")
		cl.sameTasks(r0, r1)
		cl.oneTaskEach()
		user := ta.Assignee
		cl.act(r1, ta.ID, user, "ack", nil)
		cl.act(r1, ta.ID, user, "start", nil)
		cl.act(r1, ta.ID, user, "fixed", map[string]string{"report": "reseated the fan"})
		cl.eventually("the repair failed by verification against VictoriaMetrics", 90*time.Second, func() (bool, string) {
			tk, ok := cl.taskByID(r0, ta.ID)
			return ok && tk.State == "acknowledged" && tk.FailedRepairs == 1, fmt.Sprintf("%+v", tk)
		})
		stamp("verification through VictoriaMetrics failed the early report")
		_ = tb
	})

	// 2. An Alertmanager, then a receiver die mid-run: the other replicas carry every alert, and
	//    no task is made twice.
	t.Run("kill an Alertmanager and a receiver", func(t *testing.T) {
		cl := cl.sub(t)
		cl.fault("site-a", a[1], "overheat_critical")
		cl.fault("site-b", b[1], "overheat_critical")
		cl.expectedDown["alertmanager-0"] = true
		if err := c.Kill("alertmanager-0"); err != nil {
			t.Fatal(err)
		}
		stamp("killed alertmanager-0")
		time.Sleep(8 * time.Second) // the alerts pending at the shards
		// The receiver that dies is the one running the loops (the lease holder); the other
		// takes the lease over.
		leader := cl.leader()
		victim, survivor := fmt.Sprintf("receiver-%d", leader), 1-leader
		rs := cl.receiverURL(survivor)
		cl.expectedDown[victim] = true
		if err := c.Kill(victim); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		stamp("killed " + victim + ", the lease holder")
		// The bound: a replica's death hands the loops over within a minute (the lease's
		// own bound is one --lease.interval, 5 s).
		var handover time.Duration
		for {
			if v, err := cl.leaderGauge(survivor); err == nil && v == 1 {
				handover = time.Since(killed)
				break
			}
			if time.Since(killed) > time.Minute {
				t.Fatalf("receiver-%d did not take the lease within a minute of receiver-%d's death", survivor, leader)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("lease handover: receiver-%d leads %s after receiver-%d was killed (--lease.interval 5s; polled every 100 ms)", survivor, handover.Round(100*time.Millisecond), leader)
		stamp(fmt.Sprintf("receiver-%d holds the lease %s after the kill", survivor, handover.Round(100*time.Millisecond)))
		cl.waitTask(rs, "instance="+a[1], "MinerTemperatureCritical")
		cl.waitTask(rs, "instance="+b[1], "MinerTemperatureCritical")
		stamp(fmt.Sprintf("overheat tasks through alertmanager-1 and receiver-%d", survivor))
		cl.noAlertLost(1, rs)
		cl.oneTaskEach()
		// Both come back and rejoin.
		for _, n := range []string{"alertmanager-0", victim} {
			if err := c.Start(ctx, n); err != nil {
				t.Fatal(err)
			}
			delete(cl.expectedDown, n)
		}
		cl.eventually("alertmanager-0 back in the cluster", 60*time.Second, func() (bool, string) {
			n0, err0 := cl.amPeers(0)
			n1, err1 := cl.amPeers(1)
			return n0 == 2 && n1 == 2, fmt.Sprint(n0, n1, err0, err1)
		})
		cl.sameTasks(r0, r1)
		cl.eventually("exactly one lease holder", 30*time.Second, func() (bool, string) {
			l0, err0 := cl.leaderGauge(0)
			l1, err1 := cl.leaderGauge(1)
			return err0 == nil && err1 == nil && l0+l1 == 1, fmt.Sprint(l0, l1, err0, err1)
		})
		stamp("alertmanager-0 and " + victim + " back, one lease holder")
	})

	// 3. The centre's VictoriaMetrics stops for three minutes: the sites go on alerting, their
	//    shards buffer (the WAL), and once it is back no sample of the outage is missing.
	t.Run("VictoriaMetrics down for three minutes", func(t *testing.T) {
		cl := cl.sub(t)
		cl.expectedDown["victoriametrics"] = true
		t0 := time.Now()
		if err := c.Terminate("victoriametrics"); err != nil {
			t.Fatal(err)
		}
		stamp("stopped victoriametrics")
		cl.fault("site-a", a[2], "fan_stopped")
		cl.fault("site-b", b[2], "fan_stopped")
		cl.waitTask(r0, "instance="+a[2], "MinerFanFailure")
		cl.waitTask(r1, "instance="+b[2], "MinerFanFailure")
		if time.Since(t0) >= vmOutage {
			t.Fatalf("the tasks came only after %s, not within the outage", time.Since(t0))
		}
		stamp(fmt.Sprintf("fan tasks made %s into the outage", time.Since(t0).Round(time.Second)))
		time.Sleep(time.Until(t0.Add(vmOutage)))
		// The shards held everything back: each one's remote write is about the outage behind.
		for name, u := range shards {
			// From the shard's /metrics now, not its own scrape of itself (which a loaded machine
			// may miss at a 2 s interval).
			lag, err := cl.remoteWriteLag(u)
			if err != nil || lag < (vmOutage-30*time.Second).Seconds() {
				t.Errorf("%s: remote write only %.0f s behind after a %s outage (%v)", name, lag, vmOutage, err)
			} else {
				t.Logf("%s: remote write %.0f s behind at the end of the outage", name, lag)
			}
		}
		if err := c.Start(ctx, "victoriametrics"); err != nil {
			t.Fatal(err)
		}
		delete(cl.expectedDown, "victoriametrics")
		t1 := time.Now()
		stamp("victoriametrics back")
		// Caught up: the centre has every shard's samples from after the return.
		cl.eventually("every shard caught up", 180*time.Second, func() (bool, string) {
			var lags []string
			ok := true
			for name := range shards {
				site, shard := splitShard(name)
				v, err := cl.queryAt(cl.vm(), fmt.Sprintf(`min(timestamp(cgminer_up{site=%q,shard=%q}))`, site, shard), time.Time{})
				if err != nil || len(v) != 1 || v[0].value() < float64(t1.Unix()+2) {
					ok = false
				}
				lags = append(lags, fmt.Sprintf("%s %v", name, v))
			}
			return ok, strings.Join(lags, "; ")
		})
		stamp(fmt.Sprintf("shards caught up %s after VictoriaMetrics returned", time.Since(t1).Round(time.Second)))
		time.Sleep(3 * time.Second)
		// The gap: every sample each shard scraped during the outage (cgminer_up of every miner,
		// and the ALERTS of the fan raised during it) is at the centre, timestamp for timestamp.
		window := t1.Sub(t0).Truncate(time.Second) + 10*time.Second
		sel := fmt.Sprintf(`cgminer_up{job="cgminer"}[%ds]`, int(window.Seconds()))
		total, missing := 0, 0
		for name, u := range shards {
			local, err := cl.queryAt(u, sel, t1)
			if err != nil {
				t.Fatal(err)
			}
			site, shard := splitShard(name)
			central, err := cl.queryAt(cl.vm(), fmt.Sprintf(`cgminer_up{job="cgminer",site=%q,shard=%q}[%ds]`, site, shard, int(window.Seconds())), t1)
			if err != nil {
				t.Fatal(err)
			}
			byInst := map[string][]int64{}
			for _, s := range central {
				byInst[s.Metric["instance"]] = s.timestamps()
			}
			for _, s := range local {
				want := s.timestamps()
				got := byInst[s.Metric["instance"]]
				total += len(want)
				for _, ts := range want {
					if !slices.Contains(got, ts) {
						missing++
					}
				}
				if min := int(window/interval) - 2; len(want) < min {
					t.Errorf("%s %s: the shard itself has only %d samples in %s (want ≥ %d)", name, s.Metric["instance"], len(want), window, min)
				}
			}
		}
		t.Logf("outage %s: %d samples of cgminer_up scraped by the shards in the window, %d missing at the centre", window, total, missing)
		if missing > 0 || total < 2*minersPerSite*int(window/interval-2) {
			t.Errorf("%d of %d samples missing at the centre (expected about %d)", missing, total, 2*minersPerSite*int(window/interval))
		}
		// count_over_time over the outage, at the centre, equals the expected number of scrapes.
		v, err := cl.queryAt(cl.vm(), fmt.Sprintf(`count_over_time(cgminer_up{instance=%q}[%ds])`, a[3], int(vmOutage.Seconds())), t0.Add(vmOutage))
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 1 || math.Abs(v[0].value()-vmOutage.Seconds()/interval.Seconds()) > 2 {
			t.Errorf("count_over_time of %s over the outage at the centre: %v, want %.0f±2", a[3], v, vmOutage.Seconds()/interval.Seconds())
		} else {
			t.Logf("count_over_time(cgminer_up{instance=%q}[%s]) at the end of the outage, at the centre: %.0f (scrapes every %s: %.0f)", a[3], vmOutage, v[0].value(), interval, vmOutage.Seconds()/interval.Seconds())
		}
		// The fan alert raised during the outage reached the centre's ALERTS too.
		al, err := cl.queryAt(cl.vm(), fmt.Sprintf(`count_over_time(ALERTS{alertname="MinerFanFailure",alertstate="firing",instance=%q}[%ds])`, a[2], int(vmOutage.Seconds())), t0.Add(vmOutage))
		if err != nil {
			t.Fatal(err)
		}
		if len(al) != 1 || al[0].value() < 5 {
			t.Errorf("ALERTS of the outage's fan alert at the centre: %v", al)
		}
		cl.oneTaskEach()
	})

	// 4. Every dashboard's queries answer from VictoriaMetrics (MetricsQL accepts them), every one
	//    reading an aggregate the centre re-sums (site:, site_model:, model:, pool:, rack:, fleet:)
	//    has an answer, and the centre's sums are the farm.
	t.Run("dashboards on VictoriaMetrics", func(t *testing.T) {
		cl := cl.sub(t)
		files, err := filepath.Glob(filepath.Join(root, "dashboards", "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no dashboards: %v", err)
		}
		aggregate := regexp.MustCompile(`\b(?:` + topology.PartialLevels + `|` + topology.CentreLevels + `):cgminer_`)
		// A comparison that filters (payback "> 0": no model pays back at these prices) may
		// rightly answer nothing.
		filter := regexp.MustCompile(`\)\s*(?:>|<|==|>=|<=)\s*[0-9]`)
		for _, f := range files {
			exprs, err := check.Exprs(f)
			if err != nil {
				t.Fatal(err)
			}
			vars, err := cl.dashboardVars(f, exprs)
			if err != nil {
				t.Fatal(err)
			}
			empty := 0
			for _, e := range exprs {
				raw := e.Raw
				if r := strings.TrimSpace(raw); strings.HasPrefix(r, "label_values(") || strings.HasPrefix(r, "query_result(") {
					raw = e.PromQL
				}
				q, err := check.SubstituteValues(raw, vars)
				if err != nil {
					t.Fatal(err)
				}
				v, err := cl.queryAt(cl.vm(), q, time.Time{})
				if err != nil {
					t.Errorf("%s: %v", e.Where, err)
					continue
				}
				if len(v) == 0 {
					empty++
					if aggregate.MatchString(q) && !filter.MatchString(q) {
						t.Errorf("%s: %s: empty at the centre", e.Where, q)
					}
				}
			}
			t.Logf("%s: %d queries answered by VictoriaMetrics (%d empty)", filepath.Base(f), len(exprs), empty)
		}
		v := cl.query(cl.vm(), `fleet:cgminer_miners:count`)
		if len(v) != 1 || v[0].value() != 2*minersPerSite {
			t.Errorf("fleet:cgminer_miners:count at the centre: %v, want %d", v, 2*minersPerSite)
		}
		for _, site := range []string{"site-a", "site-b"} {
			v := cl.query(cl.vm(), fmt.Sprintf(`site:cgminer_miners:count{site=%q}`, site))
			if len(v) != 1 || v[0].value() != minersPerSite {
				t.Errorf("site:cgminer_miners:count{site=%q}: %v, want %d", site, v, minersPerSite)
			}
		}
	})

	// 5. Site B goes dark: one site task (SiteDown from the centre inhibits every MinerOffline of
	//    the site), no task per miner.
	t.Run("site-wide outage", func(t *testing.T) {
		cl := cl.sub(t)
		dark := time.Now()
		cl.sim("site-b", "POST", "/faults", fmt.Sprintf(`{"fault":"offline","range":%q}`, ranges[1]))
		stamp("site-b dark")
		st := cl.waitTask(r1, "site=site-b", "SiteDown")
		stamp(fmt.Sprintf("SiteDown task %d, %s after the site went dark", st.ID, time.Since(dark).Round(time.Second)))
		cl.eventually("every site-b miner's MinerOffline firing at the shards", 90*time.Second, func() (bool, string) {
			n := 0
			for name, u := range shards {
				if !strings.HasPrefix(name, "site-b-") {
					continue
				}
				v, err := cl.queryAt(u, `ALERTS{alertname="MinerOffline",alertstate="firing"}`, time.Time{})
				if err != nil {
					return false, err.Error()
				}
				n += len(v)
			}
			return n == minersPerSite, fmt.Sprintf("%d firing", n)
		})
		stamp("every MinerOffline of site-b firing at the shards")
		// Longer than MinerOffline's group_wait (2m/10) and a group_interval: time to have become tasks.
		time.Sleep(20 * time.Second)
		for i := range 2 {
			als, err := cl.amAlerts(i)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, al := range als {
				if al.Labels["alertname"] == "MinerOffline" && al.Labels["site"] == "site-b" {
					n++
					if al.Status.State != "suppressed" || len(al.Status.InhibitedBy) == 0 {
						t.Errorf("alertmanager-%d: MinerOffline %s not inhibited: %+v", i, al.Labels["instance"], al.Status)
					}
				}
			}
			if n != minersPerSite {
				t.Errorf("alertmanager-%d holds %d MinerOffline of site-b, want %d", i, n, minersPerSite)
			}
		}
		for _, r := range []string{r0, r1} {
			tasks, err := cl.tasks(r)
			if err != nil {
				t.Fatal(err)
			}
			site := 0
			for _, tk := range tasks {
				if tk.has("MinerOffline") {
					t.Errorf("task %d (%s) has a MinerOffline problem: the site's outage became a task per miner", tk.ID, tk.key())
				}
				if tk.key() == "site=site-b" {
					site++
				}
			}
			if site != 1 {
				t.Errorf("%d tasks for site-b, want 1", site)
			}
		}
		cl.oneTaskEach()
	})
	t.Logf("the whole run took %s", time.Since(start).Round(time.Second))
}

// dashboardVars gives every variable of a dashboard a value as Grafana would: a constant its own;
// one matched with = (a single choice) a value the centre has for that label on site-a (site-a
// itself for site); the others "All" (.*).
func (cl *client) dashboardVars(path string, exprs []check.Expr) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d struct {
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	single := map[string]string{} // variable → the label it is matched with by =
	eq := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?"`)
	for _, e := range exprs {
		for _, m := range eq.FindAllStringSubmatch(e.Raw, -1) {
			single[m[2]] = m[1]
		}
	}
	out := map[string]string{}
	for _, v := range d.Templating.List {
		out[v.Name] = ".*"
		var q string
		switch {
		case v.Type == "constant" && json.Unmarshal(v.Query, &q) == nil:
			out[v.Name] = q
		case single[v.Name] == "site":
			out[v.Name] = "site-a"
		case single[v.Name] != "":
			l := single[v.Name]
			r, err := cl.queryAt(cl.vm(), fmt.Sprintf(`count by (%s) ({__name__=~"cgminer_up|rack:cgminer_miners:count", site="site-a", %s!=""})`, l, l), time.Time{})
			if err != nil {
				return nil, err
			}
			vals := make([]string, 0, len(r))
			for _, s := range r {
				vals = append(vals, s.Metric[l])
			}
			if len(vals) == 0 {
				return nil, fmt.Errorf("%s: no value of %s at the centre for the variable %s", path, l, v.Name)
			}
			slices.Sort(vals)
			out[v.Name] = vals[0]
		}
	}
	return out, nil
}

func shardCounts(m map[string]string) map[string]int {
	out := map[string]int{}
	for _, s := range m {
		out[s]++
	}
	return out
}

// splitShard turns "site-a-shard-1" into ("site-a", "1").
func splitShard(name string) (string, string) {
	i := strings.LastIndex(name, "-shard-")
	return name[:i], name[i+len("-shard-"):]
}

// waitTask waits until a receiver shows a task for the identity with a firing problem alertname.
func (cl *client) waitTask(base, key, alertname string) task {
	cl.t.Helper()
	var found task
	cl.eventually(alertname+" task for "+key, 120*time.Second, func() (bool, string) {
		tasks, err := cl.tasks(base)
		if err != nil {
			return false, err.Error()
		}
		for _, tk := range tasks {
			if tk.key() == key && tk.firing(alertname) {
				found = tk
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d tasks", len(tasks))
	})
	return found
}

func (cl *client) taskByID(base string, id int64) (task, bool) {
	tasks, err := cl.tasks(base)
	if err != nil {
		return task{}, false
	}
	for _, tk := range tasks {
		if tk.ID == id {
			return tk, true
		}
	}
	return task{}, false
}

// sameTasks: both replicas show the same tasks (one store).
func (cl *client) sameTasks(r0, r1 string) {
	cl.t.Helper()
	t0, err0 := cl.tasks(r0)
	t1, err1 := cl.tasks(r1)
	if err0 != nil || err1 != nil {
		cl.t.Fatal(err0, err1)
	}
	ids := func(ts []task) []string {
		var out []string
		for _, t := range ts {
			out = append(out, fmt.Sprintf("%d:%s", t.ID, t.key()))
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(ids(t0), ids(t1)) {
		cl.t.Errorf("the replicas disagree: %v and %v", ids(t0), ids(t1))
	}
}

// oneTaskEach: no machine or site has two tasks (the test closes none, so every task it made is
// still the only one of its identity).
func (cl *client) oneTaskEach() {
	cl.t.Helper()
	tasks, err := cl.tasks(cl.receiverURL(1))
	if err != nil {
		cl.t.Fatal(err)
	}
	seen := map[string]int64{}
	for _, tk := range tasks {
		if prev, dup := seen[tk.key()]; dup {
			cl.t.Errorf("two tasks for %s: %d and %d", tk.key(), prev, tk.ID)
		}
		seen[tk.key()] = tk.ID
	}
}

// noAlertLost: every alert the shards fire is held by Alertmanager replica am, and every one of
// those it would deliver to the repair board (not inhibited, not meta) is a firing problem of a
// task on the receiver.
func (cl *client) noAlertLost(am int, receiver string) {
	cl.t.Helper()
	cl.eventually("every firing alert in Alertmanager and on the board", 90*time.Second, func() (bool, string) {
		held, err := cl.amAlerts(am)
		if err != nil {
			return false, err.Error()
		}
		inAM := map[string]amAlert{}
		for _, al := range held {
			inAM[alertKey(al.Labels)+"/"+al.Labels["alertname"]+"/"+al.Labels["board"]+al.Labels["sensor"]+al.Labels["fan"]+al.Labels["reason"]] = al
		}
		var missing []string
		for name, u := range cl.shardURLs() {
			v, err := cl.queryAt(u, `ALERTS{alertstate="firing"}`, time.Time{})
			if err != nil {
				return false, err.Error()
			}
			for _, s := range v {
				l := s.Metric
				if l["alertname"] == "SiteDown" || l["alertname"] == "FleetHashrateDrop" {
					continue // dropped at the shard: the centre's
				}
				k := alertKey(l) + "/" + l["alertname"] + "/" + l["board"] + l["sensor"] + l["fan"] + l["reason"]
				if _, ok := inAM[k]; !ok && l["alertname"] != "Watchdog" {
					missing = append(missing, name+": "+k+" not in Alertmanager")
				}
			}
		}
		tasks, err := cl.tasks(receiver)
		if err != nil {
			return false, err.Error()
		}
		onBoard := map[string]bool{}
		for _, tk := range tasks {
			for _, p := range tk.Problems {
				if p.Firing {
					onBoard[tk.key()+"/"+p.Alertname] = true
				}
			}
		}
		for _, al := range held {
			if al.Status.State != "active" || al.Labels["category"] == "meta" {
				continue
			}
			repair := false
			for _, r := range al.Receivers {
				repair = repair || r.Name == "repair_receiver"
			}
			if repair && !onBoard[alertKey(al.Labels)+"/"+al.Labels["alertname"]] {
				missing = append(missing, alertKey(al.Labels)+"/"+al.Labels["alertname"]+" not on the board")
			}
		}
		return len(missing) == 0, strings.Join(missing, "; ")
	})
}

func binaries(t *testing.T, root string) map[topology.Kind]string {
	t.Helper()
	prom, am, err := stack.Binaries(root, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	out := map[topology.Kind]string{topology.Prometheus: prom, topology.Alertmanager: am}
	for kind, env := range map[topology.Kind]string{topology.VictoriaMetrics: "VICTORIA_METRICS", topology.VMAlert: "VMALERT"} {
		p := os.Getenv(env)
		if p == "" {
			if p, err = exec.LookPath(string(kind)); err != nil {
				t.Fatalf("%s not found (make multisite-tools installs Debian's victoria-metrics): %v", kind, err)
			}
		}
		out[kind] = p
	}
	bin := t.TempDir()
	for kind, pkg := range map[topology.Kind]string{topology.Exporter: "./exporter", topology.Receiver: "./receiver", MinersimKind: "./simulator", topology.Price: "./dashboards/cmd/price_exporter"} {
		p := filepath.Join(bin, string(kind))
		cmd := exec.Command("go", "build", "-o", p, pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, b)
		}
		out[kind] = p
	}
	return out
}

// freeRanges picks n loopback /27s whose first hosts' port 4028 is free, away from the ranges
// e2e's own test picks (127.200-249.x.x).
func freeRanges(t *testing.T, n int) []string {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	var out []string
	for i := 0; i < 100 && len(out) < n; i++ {
		base := fmt.Sprintf("127.%d.%d.", 150+r.IntN(50), r.IntN(256))
		cidr := base + "0/27"
		if slices.Contains(out, cidr) {
			continue
		}
		free := true
		for h := 1; h <= minersPerSite; h++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("%s%d:4028", base, h))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			out = append(out, cidr)
		}
	}
	if len(out) < n {
		t.Fatal("no free loopback ranges for the farms")
	}
	return out
}
