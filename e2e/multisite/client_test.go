package multisite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// client talks to the running cluster for the test.
type client struct {
	t *testing.T
	c *Cluster
	// expectedDown are parts the test stopped on purpose.
	expectedDown map[string]bool
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
	Values [][2]any          `json:"values"`
}

func num(v any) float64 {
	f, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
	return f
}

func (s sample) value() float64 { return num(s.Value[1]) }

// timestamps of a matrix answer's samples, in milliseconds.
func (s sample) timestamps() []int64 {
	out := make([]int64, 0, len(s.Values))
	for _, v := range s.Values {
		out = append(out, int64(num(v[0])*1000+0.5))
	}
	return out
}

// queryAt asks a Prometheus API (a shard, or VictoriaMetrics) for an instant query; at zero
// means now. nocache=1 keeps VictoriaMetrics from answering a backfilled range from its cache.
func (cl *client) queryAt(base, q string, at time.Time) ([]sample, error) {
	v := url.Values{"query": {q}, "nocache": {"1"}}
	if !at.IsZero() {
		v.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	resp, err := http.PostForm(base+"/api/v1/query", v)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []sample `json:"result"`
		} `json:"data"`
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("query %s at %s: %v: %.300s", q, base, err, b)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s at %s: %s %s", q, base, r.Status, r.Error)
	}
	return r.Data.Result, nil
}

func (cl *client) query(base, q string) []sample {
	cl.t.Helper()
	v, err := cl.queryAt(base, q, time.Time{})
	if err != nil {
		cl.t.Fatal(err)
	}
	return v
}

func (cl *client) eventually(what string, within time.Duration, cond func() (bool, string)) {
	cl.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if name := cl.c.Exited(cl.expectedDown); name != "" {
			cl.t.Fatalf("%s exited while waiting for %s\n%s", name, what, cl.c.LogTail(name))
		}
		if time.Now().After(deadline) {
			cl.t.Fatalf("timed out after %s waiting for %s (last: %s)", within, what, last)
		}
		time.Sleep(time.Second)
	}
}

// sub is the client for a subtest (its failures are the subtest's).
func (cl *client) sub(t *testing.T) *client {
	return &client{t: t, c: cl.c, expectedDown: cl.expectedDown}
}

// leaderGauge is receiver i's repair_receiver_leader (1 while it holds the lease).
func (cl *client) leaderGauge(i int) (float64, error) {
	resp, err := http.Get(cl.receiverURL(i) + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "repair_receiver_leader "); ok {
			return num(v), nil
		}
	}
	return 0, fmt.Errorf("no repair_receiver_leader in receiver %d's metrics", i)
}

// leader is the receiver that holds the lease; exactly one does.
func (cl *client) leader() int {
	cl.t.Helper()
	var who int
	cl.eventually("exactly one receiver holding the lease", 30*time.Second, func() (bool, string) {
		l0, err0 := cl.leaderGauge(0)
		l1, err1 := cl.leaderGauge(1)
		who = int(l1)
		return err0 == nil && err1 == nil && l0+l1 == 1, fmt.Sprint(l0, l1, err0, err1)
	})
	return who
}

func (cl *client) vm() string { return "http://" + cl.c.Topology.Centre.VictoriaMetrics }

func (cl *client) shardURLs() map[string]string {
	out := map[string]string{}
	for _, s := range cl.c.Topology.Sites {
		for i, a := range s.Shards {
			out[fmt.Sprintf("%s-shard-%d", s.Name, i)] = "http://" + a
		}
	}
	return out
}

func (cl *client) receiverURL(i int) string { return "http://" + cl.c.Topology.Centre.Receivers[i] }
func (cl *client) amURL(i int) string       { return "http://" + cl.c.Topology.Centre.Alertmanagers[i].Web }

// miners lists a site's simulated miners' addresses.
func (cl *client) miners(site string) []string {
	cl.t.Helper()
	resp, err := http.Get(cl.c.SimControl[site] + "/miners")
	if err != nil {
		cl.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Miners []struct {
			Address string `json:"address"`
		} `json:"miners"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		cl.t.Fatal(err)
	}
	var out []string
	for _, m := range r.Miners {
		out = append(out, m.Address)
	}
	return out
}

func (cl *client) sim(site, method, path, body string) {
	cl.t.Helper()
	req, _ := http.NewRequest(method, cl.c.SimControl[site]+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cl.c.SimToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cl.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		cl.t.Fatalf("%s %s %s: %d %s", method, path, body, resp.StatusCode, b)
	}
}

func (cl *client) fault(site, addr, fault string) {
	cl.t.Helper()
	cl.sim(site, "POST", "/miners/"+addr+"/faults", `{"fault":"`+fault+`"}`)
}

type problem struct {
	Alertname string            `json:"alertname"`
	Firing    bool              `json:"firing"`
	Labels    map[string]string `json:"labels"`
}

type task struct {
	ID            int64             `json:"id"`
	State         string            `json:"state"`
	Assignee      string            `json:"assignee"`
	Fleet         bool              `json:"fleet"`
	FailedRepairs int               `json:"failed_repairs"`
	Identity      map[string]string `json:"identity"`
	Problems      []problem         `json:"problems"`
}

// key is the task's identity as one string: instance=… or site=….
func (tk task) key() string {
	var parts []string
	for k, v := range tk.Identity {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (tk task) firing(alertname string) bool {
	for _, p := range tk.Problems {
		if p.Alertname == alertname && p.Firing {
			return true
		}
	}
	return false
}

func (tk task) has(alertname string) bool {
	for _, p := range tk.Problems {
		if p.Alertname == alertname {
			return true
		}
	}
	return false
}

// Demo users: the password is the name with "-demo" (receiver/README.md).
func (cl *client) do(base, method, path, user string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else if method == "POST" {
		rd = strings.NewReader("{}")
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.SetBasicAuth(user, user+"-demo")
	if method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	return http.DefaultClient.Do(req)
}

// tasks lists every task one receiver replica shows, each read whole (with its problems).
func (cl *client) tasks(base string) ([]task, error) {
	resp, err := cl.do(base, "GET", "/api/v1/tasks?limit=1000", "carol", nil)
	if err != nil {
		return nil, err
	}
	var r struct {
		Tasks []task `json:"tasks"`
	}
	err = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	out := make([]task, 0, len(r.Tasks))
	for _, tk := range r.Tasks {
		resp, err := cl.do(base, "GET", fmt.Sprintf("/api/v1/tasks/%d", tk.ID), "carol", nil)
		if err != nil {
			return nil, err
		}
		var full task
		err = json.NewDecoder(resp.Body).Decode(&full)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, full)
	}
	return out, nil
}

func (cl *client) act(base string, id int64, user, action string, body any) {
	cl.t.Helper()
	resp, err := cl.do(base, "POST", fmt.Sprintf("/api/v1/tasks/%d/%s", id, action), user, body)
	if err != nil {
		cl.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		cl.t.Fatalf("%s on task %d as %s: %d %s", action, id, user, resp.StatusCode, b)
	}
}

// amAlert is one alert as an Alertmanager replica holds it.
type amAlert struct {
	Labels    map[string]string `json:"labels"`
	Receivers []struct {
		Name string `json:"name"`
	} `json:"receivers"`
	Status struct {
		State       string   `json:"state"`
		InhibitedBy []string `json:"inhibitedBy"`
		SilencedBy  []string `json:"silencedBy"`
	} `json:"status"`
}

func (cl *client) amAlerts(i int) ([]amAlert, error) {
	resp, err := http.Get(cl.amURL(i) + "/api/v2/alerts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []amAlert
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// remoteWriteLag is how far a shard's remote write is behind its newest sample (seconds), from
// its /metrics: prometheus_remote_storage_highest_timestamp_in_seconds minus the queue's
// prometheus_remote_storage_queue_highest_sent_timestamp_seconds.
func (cl *client) remoteWriteLag(base string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, err
	}
	var newest, sent float64
	var haveNewest, haveSent bool
	for _, l := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		metric, _, _ := strings.Cut(name, "{")
		switch metric {
		case "prometheus_remote_storage_highest_timestamp_in_seconds":
			newest, haveNewest = num(strings.TrimSpace(rest)), true
		case "prometheus_remote_storage_queue_highest_sent_timestamp_seconds":
			sent, haveSent = num(strings.TrimSpace(rest)), true
		}
	}
	if !haveNewest || !haveSent {
		return 0, fmt.Errorf("no remote-write timestamps in %s/metrics", base)
	}
	return newest - sent, nil
}

func (cl *client) amPeers(i int) (int, error) {
	resp, err := http.Get(cl.amURL(i) + "/api/v2/status")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		Cluster struct {
			Status string `json:"status"`
			Peers  []any  `json:"peers"`
		} `json:"cluster"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	return len(st.Cluster.Peers), nil
}

// alertKey is how the receiver keys an alert's machine: instance, or site for a fleet alert.
func alertKey(l map[string]string) string {
	if v := l["instance"]; v != "" {
		return "instance=" + v
	}
	return "site=" + l["site"]
}
