package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/e2e/stack"
)

// The mission's loop through the real components: minersim → cgminer_exporter (discovery) →
// Prometheus (the repository's rules) → Alertmanager (the repository's routing) → repair_receiver.
// Fast mode divides every `for:` by 30 and the receiver's windows by 60; nothing else changes.
func TestStack(t *testing.T) {
	if testing.Short() {
		t.Skip("the full stack takes a few minutes")
	}
	root, _ := filepath.Abs("..")
	bin := t.TempDir()
	for _, c := range [][2]string{{"cgminer_exporter", "./exporter"}, {"repair_receiver", "./receiver"}, {"minersim", "./simulator"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, c[0]), c[1])
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", c[0], err, out)
		}
	}
	work := t.TempDir()
	prometheus, alertmanager := binaries(t, root)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var log bytes.Buffer
	s, err := stack.Start(ctx, stack.Options{Root: root, BinDir: bin, WorkDir: work, Fast: true,
		Prometheus: prometheus, Alertmanager: alertmanager,
		SimRange: freeRange(t), Miners: 12, Models: "s19jpro=2,m30s=1", Seed: 5, Log: &log})
	if err != nil {
		t.Fatalf("stack: %v\n%s", err, log.String())
	}
	defer s.Stop()
	defer func() {
		if t.Failed() {
			for _, n := range []string{"cgminer_exporter", "repair_receiver", "alertmanager", "prometheus", "minersim"} {
				b, _ := os.ReadFile(filepath.Join(work, "logs", n+".log"))
				if len(b) > 3000 {
					b = b[len(b)-3000:]
				}
				t.Logf("--- %s log (tail):\n%s", n, b)
			}
		}
	}()
	c := &client{t: t, s: s}

	// The farm is found, probed and healthy.
	c.eventually("every simulated miner up in Prometheus", 90*time.Second, func() (bool, string) {
		v := c.query(`count(cgminer_up{job="cgminer"} == 1)`)
		return len(v) == 1 && v[0].value() == 12, fmt.Sprint(v)
	})
	// Every link `make run` prints answers, and its page works.
	t.Run("links", func(t *testing.T) { checkLinks(t, s) })
	miners := c.miners()
	fan, hot, dark := miners[1], miners[2], miners[3]

	// 1. A fan stops: the alert fires, Alertmanager posts it, a task appears, assigned.
	c.fault(fan, "fan_stopped", true)
	tk := c.waitTask(fan, "MinerFanFailure", func(tk task) bool { return tk.State == "open" && tk.Assignee != "" })
	user := tk.Assignee
	// 2. The worker reports it fixed while the fan is still stopped: verification fails and the
	//    task goes back to the worker.
	c.act(tk.ID, user, "ack", nil)
	c.act(tk.ID, user, "start", nil)
	c.act(tk.ID, user, "fixed", map[string]string{"report": "reseated the fan connector"})
	if got := c.task(tk.ID); got.State != "verifying" {
		t.Fatalf("after fixed: state %s", got.State)
	}
	reopened := c.waitTaskID(tk.ID, "reopened after a failed verification", func(tk task) bool {
		return tk.State == "acknowledged" && tk.FailedRepairs >= 1 && tk.Assignee == user
	})
	if reopened.Reason == "" {
		t.Error("reopened task carries no reason")
	}
	// 3. The fan really is fixed: the alert clears, the report closes the task as done.
	c.fault(fan, "fan_stopped", false)
	c.eventually("MinerFanFailure resolved for "+fan, 90*time.Second, func() (bool, string) {
		v := c.query(fmt.Sprintf(`ALERTS{alertname="MinerFanFailure",instance=%q}`, fan))
		return len(v) == 0, fmt.Sprint(v)
	})
	c.waitTaskID(tk.ID, "every problem cleared", func(tk task) bool { return tk.Cleared })
	c.act(tk.ID, user, "fixed", map[string]string{"report": "replaced fan 2"})
	c.waitTaskID(tk.ID, "done", func(tk task) bool { return tk.State == "done" })

	// 4. A problem that clears by itself before anyone works on it: auto_resolved.
	c.fault(hot, "overheat_critical", true)
	ht := c.waitTask(hot, "MinerTemperatureCritical", func(tk task) bool { return tk.State == "open" })
	c.fault(hot, "overheat_critical", false)
	c.waitTaskID(ht.ID, "auto_resolved", func(tk task) bool { return tk.State == "auto_resolved" })

	// 5. An offline miner raises MinerOffline and none of its other alerts.
	c.fault(dark, "offline", true)
	dt := c.waitTask(dark, "MinerOffline", func(tk task) bool { return true })
	for _, a := range c.query(fmt.Sprintf(`ALERTS{instance=%q,alertstate="firing"}`, dark)) {
		if a.Metric["alertname"] != "MinerOffline" {
			t.Errorf("offline miner also fires %s", a.Metric["alertname"])
		}
	}
	for _, p := range c.task(dt.ID).Problems {
		if p.Alertname != "MinerOffline" {
			t.Errorf("offline miner's task has problem %s", p.Alertname)
		}
	}
}

// freeRange picks a loopback /27 whose port 4028 is free, so that two runs of the test (two
// checkouts, or `go test ./...` beside `make test`) never share a farm.
func freeRange(t *testing.T) string {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	for i := 0; i < 50; i++ {
		a := fmt.Sprintf("127.%d.%d.", 200+r.IntN(50), r.IntN(256))
		free := true
		for h := 1; h <= 12; h++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("%s%d:4028", a, h))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return a + "0/27"
		}
	}
	t.Fatal("no free loopback range for the farm")
	return ""
}

type client struct {
	t *testing.T
	s *stack.Stack
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s sample) value() float64 {
	var f float64
	fmt.Sscan(fmt.Sprint(s.Value[1]), &f)
	return f
}

func (c *client) query(q string) []sample {
	c.t.Helper()
	resp, err := http.Get(c.s.URLs.Prometheus + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []sample `json:"result"`
		} `json:"data"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		c.t.Fatalf("query %s: %v %s", q, err, r.Error)
	}
	return r.Data.Result
}

func (c *client) eventually(what string, within time.Duration, cond func() (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if name := c.s.Exited(); name != "" {
			c.t.Fatalf("%s exited while waiting for %s", name, what)
		}
		time.Sleep(time.Second)
	}
	c.t.Fatalf("timed out after %s waiting for %s (last: %s)", within, what, last)
}

// miners lists the simulated miners' addresses.
func (c *client) miners() []string {
	c.t.Helper()
	resp, err := http.Get(c.s.URLs.SimControl + "/miners")
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Miners []struct {
			Address string `json:"address"`
		} `json:"miners"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, m := range r.Miners {
		out = append(out, m.Address)
	}
	if len(out) < 4 {
		c.t.Fatalf("only %d miners", len(out))
	}
	return out
}

func (c *client) fault(addr, fault string, set bool) {
	c.t.Helper()
	method, u, body := "POST", c.s.URLs.SimControl+"/miners/"+addr+"/faults", `{"fault":"`+fault+`"}`
	if !set {
		method, u, body = "DELETE", u+"/"+fault, ""
	}
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.s.SimToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		c.t.Fatalf("%s %s: %d", method, u, resp.StatusCode)
	}
}

type task struct {
	ID            int64             `json:"id"`
	State         string            `json:"state"`
	Assignee      string            `json:"assignee"`
	Cleared       bool              `json:"cleared"`
	Reason        string            `json:"reason"`
	FailedRepairs int               `json:"failed_repairs"`
	Identity      map[string]string `json:"identity"`
	Problems      []struct {
		Alertname string `json:"alertname"`
		Firing    bool   `json:"firing"`
	} `json:"problems"`
}

// Demo users: the password is the name with "-demo" (receiver/README.md).
func (c *client) do(method, path, user string, body any) *http.Response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else if method == "POST" {
		rd = strings.NewReader("{}")
	}
	req, _ := http.NewRequest(method, c.s.URLs.Receiver+path, rd)
	req.SetBasicAuth(user, user+"-demo")
	if method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

func (c *client) task(id int64) task {
	c.t.Helper()
	resp := c.do("GET", fmt.Sprintf("/api/v1/tasks/%d", id), "carol", nil)
	defer resp.Body.Close()
	var tk task
	if err := json.NewDecoder(resp.Body).Decode(&tk); err != nil {
		c.t.Fatal(err)
	}
	return tk
}

func (c *client) act(id int64, user, action string, body any) {
	c.t.Helper()
	resp := c.do("POST", fmt.Sprintf("/api/v1/tasks/%d/%s", id, action), user, body)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("%s on task %d as %s: %d %s", action, id, user, resp.StatusCode, b)
	}
}

// waitTask waits for the task of a machine that holds a firing problem with this alertname.
func (c *client) waitTask(instance, alertname string, cond func(task) bool) task {
	c.t.Helper()
	var found task
	c.eventually(alertname+" task for "+instance, 120*time.Second, func() (bool, string) {
		resp := c.do("GET", "/api/v1/tasks?limit=1000", "carol", nil)
		defer resp.Body.Close()
		var r struct {
			Tasks []task `json:"tasks"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return false, err.Error()
		}
		for _, tk := range r.Tasks {
			if tk.Identity["instance"] != instance {
				continue
			}
			full := c.task(tk.ID)
			for _, p := range full.Problems {
				if p.Alertname == alertname && p.Firing && cond(full) {
					found = full
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("%d tasks; firing: %v", len(r.Tasks), c.query(fmt.Sprintf(`ALERTS{instance=%q}`, instance)))
	})
	return found
}

func (c *client) waitTaskID(id int64, what string, cond func(task) bool) task {
	c.t.Helper()
	var got task
	c.eventually(fmt.Sprintf("task %d %s", id, what), 120*time.Second, func() (bool, string) {
		got = c.task(id)
		return cond(got), fmt.Sprintf("%+v", got)
	})
	return got
}
