package farm

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink tests read while the farm writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func stateFarm(t *testing.T, cidr, file string, port int, log *syncBuffer) (*Farm, error) {
	t.Helper()
	mix, err := ParseMix("s19jpro=1,m30s=1")
	if err != nil {
		t.Fatal(err)
	}
	var logger *slog.Logger
	if log != nil {
		logger = slog.New(slog.NewTextHandler(log, nil))
	}
	return New(Config{Range: netip.MustParsePrefix(cidr), Miners: 4, Mix: mix, Seed: 7, Port: port,
		StateFile: file, Clock: newFakeClock(), Logger: logger, AllowRestart: true, RestartDelay: 100 * time.Millisecond})
}

func readState(t *testing.T, file string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("state file %q: %v", b, err)
	}
	out := map[string][]string{}
	for _, m := range doc.Miners {
		out[m.Address] = m.Faults
	}
	return out
}

func sameState(got map[string][]string, want map[string][]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if strings.Join(got[k], ",") != strings.Join(v, ",") {
			return false
		}
	}
	return true
}

// TestStateFileKeepsFaults: faults set at run time are in the state file right after the change,
// and a new simulator started on the same file has them again, an offline miner refusing
// connections from the start.
func TestStateFileKeepsFaults(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "minersim-state.json")
	const cidr = "127.77.5.0/29"
	port := freePort(t, "127.77.5.1")
	f, err := stateFarm(t, cidr, file, port, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ms := f.Miners()
	for _, step := range []struct {
		m     *Miner
		fault Fault
		set   bool
	}{{ms[0], Offline, true}, {ms[1], Overheat, true}, {ms[1], FanStopped, true}, {ms[2], ZeroHashrate, true}, {ms[1], FanStopped, false}} {
		if step.set {
			_, err = step.m.SetFault(step.fault)
		} else {
			_, err = step.m.ClearFault(step.fault)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][]string{ms[0].addr.String(): {"offline"}, ms[1].addr.String(): {"overheat"}, ms[2].addr.String(): {"zero_hashrate"}}
	waitFor(t, 2*time.Second, "the state file to show the faults", func() bool { return sameState(readState(t, file), want) })

	// A restart clears zero_hashrate: the file follows.
	ms[2].Restart()
	delete(want, ms[2].addr.String())
	waitFor(t, 2*time.Second, "the state file to drop the cured fault", func() bool { return sameState(readState(t, file), want) })
	waitFor(t, 2*time.Second, "the restart to end", func() bool { return !ms[2].Restarting() })
	cancel()
	f.Close()
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	g, err := stateFarm(t, cidr, file, port, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer func() { cancel2(); g.Close() }()
	if err := g.Start(ctx2); err != nil {
		t.Fatal(err)
	}
	gm := g.Miners()
	if got := gm[1].Faults(); len(got) != 1 || got[0] != Overheat {
		t.Errorf("restored faults of %s: %v, want overheat", gm[1].addr, got)
	}
	if got := gm[0].Faults(); len(got) != 1 || got[0] != Offline {
		t.Errorf("restored faults of %s: %v, want offline", gm[0].addr, got)
	}
	if !refused(gm[0].Endpoint()) {
		t.Error("a miner restored offline accepts connections")
	}
	if refused(gm[3].Endpoint()) {
		t.Error("a healthy miner refuses connections")
	}
	if _, err := gm[0].ClearFault(Offline); err != nil || refused(gm[0].Endpoint()) {
		t.Errorf("clearing the restored offline fault: %v, refused %v", err, refused(gm[0].Endpoint()))
	}
}

// TestStateFileLoad: what a state file holds that this farm does not know is skipped with a
// warning; a file that is not a state file stops the start; no file is a first start.
func TestStateFileLoad(t *testing.T) {
	const cidr = "127.77.5.8/29"
	tests := []struct {
		name     string
		content  string // "" : no file
		err      string
		faults   map[string][]string
		warnings []string
	}{
		{name: "no file yet"},
		{name: "unknown miners and faults skipped",
			content: `{"version":1,"miners":[{"address":"127.77.5.9","faults":["overheat","melted","fan_stopped"]},` +
				`{"address":"10.9.9.9","faults":["offline"]},{"address":"nope","faults":["offline"]},` +
				`{"address":"127.77.5.10","faults":["sleeping"]}]}`,
			faults:   map[string][]string{"127.77.5.9": {"overheat", "fan_stopped"}, "127.77.5.10": {"sleeping"}},
			warnings: []string{`fault=melted`, `address=10.9.9.9`, `address=nope`}},
		{name: "empty list", content: `{"version":1,"miners":[]}`, faults: map[string][]string{}},
		{name: "not JSON", content: `{"version":1,"miners":[`, err: "not a minersim state file"},
		{name: "other version", content: `{"version":2,"miners":[]}`, err: "version 2"},
		{name: "too large", content: `{"version":1,"miners":[],"pad":"` + strings.Repeat("x", maxStateFile) + `"}`, err: "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "state.json")
			if tc.content != "" {
				if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var log syncBuffer
			f, err := stateFarm(t, cidr, file, 4028, &log)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range f.Miners() {
				var names []string
				for _, fl := range m.Faults() {
					names = append(names, fl.String())
				}
				if want := tc.faults[m.addr.String()]; strings.Join(names, ",") != strings.Join(want, ",") {
					t.Errorf("%s faults %v, want %v", m.addr, names, want)
				}
			}
			for _, w := range tc.warnings {
				if !strings.Contains(log.String(), w) {
					t.Errorf("no warning with %s in:\n%s", w, log.String())
				}
			}
		})
	}
}
