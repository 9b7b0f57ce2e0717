package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/e2e/stack"
)

// The mixed farm of TestMixedFarm: three of each protocol's kind, in minersim's order on the range.
const (
	mixedMiners  = 9
	mixedModels  = "m30s=1,m60s=1,s19jpro=1"
	mixedWebUser = "root"
)

// TestMixedFarm is issue 13's end to end: a farm of legacy cgminer-API miners (Whatsminer M30S on
// 4028), Whatsminers that speak only API v3 (M60S on 4433) and Antminers whose HTTP API wants a
// Digest login (S19j Pro; minersim --http.*, the exporter's web: block) is discovered over one
// range, probed by the exporter binary through Prometheus, and each fault raises its alert and a
// repair task naming the machine's model and serial (the serial comes from API v3 for the M60S
// and from the HTTP API for the S19j Pro; the M30S's cgminer API reports none, so its task names
// the MAC). A miner that is down (the M60S answering garbage) exports no identity: its task gives
// the probe's reason, not_whatsminer_api. API v3 carries no share or hardware-error counters:
// rejects_high and hw_errors_high are not tried on the M60S.
func TestMixedFarm(t *testing.T) {
	if testing.Short() {
		t.Skip("the full stack takes a minute or two")
	}
	t.Parallel()
	root, _ := filepath.Abs("..")
	bin := buildBinaries(t, root)
	work := t.TempDir()
	prometheus, alertmanager := binaries(t, root)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var log bytes.Buffer
	_, webPort, _ := net.SplitHostPort(freeAddr(t))
	port, _ := strconv.Atoi(webPort)
	web := &stack.SimWeb{Port: port, User: mixedWebUser, Password: "not-the-stock-root"}
	s, err := stack.Start(ctx, stack.Options{Root: root, BinDir: bin, WorkDir: work, Speed: stack.Fast,
		Prometheus: prometheus, Alertmanager: alertmanager, Mailpit: mailpitBinary(t, root),
		SimRange: freeRange(t), Miners: mixedMiners, Models: mixedModels, Seed: 13, SimWeb: web, Log: &log})
	if err != nil {
		t.Fatalf("stack: %v\n%s", err, log.String())
	}
	defer s.Stop()
	defer func() {
		if t.Failed() {
			for _, n := range []string{"cgminer_exporter", "repair_receiver", "minersim"} {
				b, _ := os.ReadFile(filepath.Join(work, "logs", n+".log"))
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("--- %s log (tail):\n%s", n, b)
			}
		}
	}()
	c := &client{t: t, s: s}

	// Discovered and probed: every miner up over the protocol it speaks.
	c.eventually("every miner of the mixed farm up", 90*time.Second, func() (bool, string) {
		v := c.query(`count(cgminer_up{job="cgminer"} == 1)`)
		return len(v) == 1 && v[0].value() == mixedMiners, fmt.Sprint(c.query(`cgminer_up{job="cgminer"} == 0`))
	})
	ms := c.farm(mixedMiners)
	wantProto := map[string]string{"m30s": "cgminer", "m60s": "whatsminer-v3", "s19jpro": "cgminer"}
	for _, m := range ms {
		if m.Protocols[wantProto[m.Model]] == 0 {
			t.Fatalf("%s (%s) does not serve %s: %v", m.Address, m.Model, wantProto[m.Model], m.Protocols)
		}
	}
	// Who each one is, as the exporter tells Prometheus: model, and a serial where the miner's
	// APIs report one (API v3; the Antminer HTTP API behind its login).
	c.eventually("the identity of every miner", 60*time.Second, func() (bool, string) {
		missing := []string{}
		for _, m := range ms {
			info := c.query(fmt.Sprintf(`cgminer_info{instance=%q}`, m.Address))
			if len(info) != 1 || info[0].Metric["model"] != m.Name {
				missing = append(missing, m.Address+" model")
				continue
			}
			dev := c.query(fmt.Sprintf(`cgminer_device_info{instance=%q}`, m.Address))
			if m.Model != "m30s" && (len(dev) != 1 || dev[0].Metric["serial"] == "") {
				missing = append(missing, fmt.Sprintf("%s (%s) serial: %v", m.Address, m.Model, dev))
			}
		}
		return len(missing) == 0, strings.Join(missing, "; ")
	})
	if v := c.query(`min by (instance) (cgminer_command_success{command=~"web:.*"})`); len(v) != 3 {
		t.Errorf("web reads of the three S19j Pro: %v", v)
	} else {
		for _, sm := range v {
			if sm.value() != 1 {
				t.Errorf("a web read of %s failed (the login?): %v", sm.Metric["instance"], sm)
			}
		}
	}

	// One fault per miner: its alert fires and its task names the machine.
	byModel := map[string][]miner{}
	for _, m := range ms {
		byModel[m.Model] = append(byModel[m.Model], m)
	}
	type drill struct {
		m            miner
		fault, alert string
		reason       string // cgminer_probe_error_info's reason, for a fault that takes the miner down
	}
	drills := []drill{
		{m: byModel["m30s"][0], fault: "fan_stopped", alert: "MinerFanFailure"},
		{m: byModel["m30s"][1], fault: "overheat", alert: "MinerTemperatureHigh"},
		{m: byModel["m30s"][2], fault: "board_missing", alert: "MinerHashboardMissing"},
		{m: byModel["m60s"][0], fault: "fan_stopped", alert: "MinerFanFailure"},
		{m: byModel["m60s"][1], fault: "garbage", alert: "MinerOffline", reason: "not_whatsminer_api"},
		{m: byModel["m60s"][2], fault: "overheat", alert: "MinerTemperatureHigh"},
		{m: byModel["s19jpro"][0], fault: "board_dead", alert: "MinerHashboardFailed"},
		{m: byModel["s19jpro"][1], fault: "overheat_critical", alert: "MinerTemperatureCritical"},
		{m: byModel["s19jpro"][2], fault: "fan_stopped", alert: "MinerFanFailure"},
	}
	// Before the faults: what each healthy miner says it is, to compare with the tasks.
	serial := map[string]string{}
	mac := map[string]string{}
	for _, m := range ms {
		if dev := c.query(fmt.Sprintf(`cgminer_device_info{instance=%q}`, m.Address)); len(dev) == 1 {
			serial[m.Address], mac[m.Address] = dev[0].Metric["serial"], dev[0].Metric["mac"]
		}
	}
	var wg sync.WaitGroup
	for _, d := range drills {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(d.m.Model+"/"+d.fault, func(t *testing.T) {
				c := &client{t: t, s: s}
				c.fault(d.m.Address, d.fault, true)
				tk := c.waitTask(d.m.Address, d.alert, func(task) bool { return true })
				// The evidence: the exporter's debug probe of the machine, over its protocol.
				sn := c.waitTaskID(tk.ID, "the evidence snapshot", 60*time.Second, func(tk task) bool {
					return tk.Snapshot != nil && tk.Snapshot.State == "taken"
				}).Snapshot
				if sn.Status != 200 || !strings.Contains(sn.Body, "cgminer_up") || !strings.Contains(sn.Target, d.m.Address) {
					t.Errorf("snapshot of %s: target %q, HTTP %d, body %.300q", d.m.Address, sn.Target, sn.Status, sn.Body)
				}
				if d.reason != "" {
					// A miner that is down exports no identity (cgminer_info and cgminer_device_info
					// come from a reply): its task says why the probe failed, in the exporter's words.
					full := c.waitTaskID(tk.ID, "the probe error", 60*time.Second, func(tk task) bool { return tk.MachineInfo.ProbeError != "" })
					t.Logf("task #%d: %s (probe error %s)", tk.ID, full.Headline, full.MachineInfo.ProbeError)
					if full.MachineInfo.ProbeError != d.reason || full.MachineInfo.IP != d.m.Address {
						t.Errorf("task's machine %+v, want %s with probe error %s", full.MachineInfo, d.m.Address, d.reason)
					}
					v := c.query(fmt.Sprintf(`cgminer_probe_error_info{instance=%q}`, d.m.Address))
					if len(v) != 1 || v[0].Metric["reason"] != d.reason {
						t.Errorf("probe error of %s: %v, want reason %s", d.m.Address, v, d.reason)
					}
					return
				}
				full := c.waitTaskID(tk.ID, "machine facts", 60*time.Second, func(tk task) bool { return tk.MachineInfo.Model != "" })
				t.Logf("task #%d: %s (serial %q, MAC %q)", tk.ID, full.Headline, full.MachineInfo.Serial, full.MachineInfo.MAC)
				if full.MachineInfo.Model != d.m.Name || full.MachineInfo.IP != d.m.Address {
					t.Errorf("task's machine %+v, want %s at %s", full.MachineInfo, d.m.Name, d.m.Address)
				}
				if !strings.HasPrefix(full.Headline, d.m.Name) {
					t.Errorf("headline %q does not start with the model %q", full.Headline, d.m.Name)
				}
				if want := serial[d.m.Address]; full.MachineInfo.Serial != want || (d.m.Model != "m30s" && want == "") {
					t.Errorf("task's serial %q, the miner reported %q", full.MachineInfo.Serial, want)
				}
				if full.MachineInfo.Serial == "" && full.MachineInfo.MAC == "" {
					t.Errorf("task's machine %+v: neither a serial nor a MAC", full.MachineInfo)
				}
				if want := mac[d.m.Address]; want != "" && full.MachineInfo.MAC != want {
					t.Errorf("task's MAC %q, the miner reported %q", full.MachineInfo.MAC, want)
				}
			})
		}()
	}
	wg.Wait()
}
