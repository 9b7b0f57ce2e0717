package dialect_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/collector"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/internal/recorded"
)

var update = flag.Bool("update", false, "rewrite the golden exposition files")

const fixtures = "../testdata/cgminer-api"

// notGolden lists the captures that are not a miner's state but a behaviour of the API, with the
// test that covers each instead. Every other capture is part of a golden case.
var notGolden = map[string]string{
	"btminer-whatsminer/whatsminer-m30s_error-missing-command.json":          "reply to a request without a command: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_addpool.raw":                  "privileged command refused: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_bogus.raw":                    "Code 14 without Description: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_check.raw":                    "check without parameter: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_check_summary.raw":            "check|summary: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_invalid.raw":                  "invalid JSON reply: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_invalid_after_join.raw":       "two chunks after a join: cgminer client tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_invalid_after_plain_cmd.raw":  "invalid JSON reply: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_invalid_after_plain_cmd2.raw": "invalid JSON reply: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_missing_command.raw":          "Code 24: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_privileged.raw":               "privileged refused: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_pools_emptyparam.raw":         "same reply as pools: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_pools_summary_param.raw":      "parameter ignored in join: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_summary_bogus.raw":            "join with an invalid command: golden case cgminer-4.11.1-nodevices-join",
	"cgminer-upstream/cgminer-4.11.1-nodevices_summary_restart.raw":          "join with a privileged command: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_summary_summary.raw":          "duplicate in join: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_summary_via_echo_newline.raw": "same reply as summary: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_lcd.raw":                      "lcd is not read: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_notify.raw":                   "notify is not read: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_estats.raw":                   "empty estats: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_coin.raw":                     "coin is not read: cgminer parse tests",
	"cgminer-upstream/cgminer-4.11.1-nodevices_config.raw":                   "config is not read: cgminer parse tests",
}

// explicit cases: a name and the captures that make up one probe of one miner. Every other
// capture is grouped by the miner part of its file name (before the first "_").
var explicit = map[string][]string{
	"cgminer-4.11.1-nodevices": {
		"cgminer-upstream/cgminer-4.11.1-nodevices_version.raw",
		"cgminer-upstream/cgminer-4.11.1-nodevices_summary.raw",
		"cgminer-upstream/cgminer-4.11.1-nodevices_pools.raw",
		"cgminer-upstream/cgminer-4.11.1-nodevices_stats.raw",
		"cgminer-upstream/cgminer-4.11.1-nodevices_devs.raw",
		"cgminer-upstream/cgminer-4.11.1-nodevices_devdetails.raw",
	},
	"cgminer-4.11.1-nodevices-pool-down": {
		"cgminer-upstream/cgminer-4.11.1-nodevices_summary_after_pool_down.raw",
		"cgminer-upstream/cgminer-4.11.1-nodevices_pools_after_pool_down.raw",
	},
	"cgminer-4.11.1-nodevices-join": {
		"cgminer-upstream/cgminer-4.11.1-nodevices_summary_pools.raw",
	},
}

// commandOf reads the command from a capture's file name: "<miner>_<command>[_variant].ext".
func commandOf(path string) []string {
	base := filepath.Base(path)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	parts := strings.Split(base, "_")
	if len(parts) < 2 {
		return nil
	}
	cmd := parts[1]
	if strings.HasPrefix(filepath.Base(path), "cgminer-4.11.1-nodevices") {
		// upstream names joins with "_": summary_pools is summary+pools
		rest := parts[1:]
		for i, p := range rest {
			if p == "after" {
				rest = rest[:i]
				break
			}
		}
		return rest
	}
	cmd = strings.TrimSuffix(cmd, "-error")
	if strings.HasPrefix(cmd, "get-") {
		cmd = strings.ReplaceAll(cmd, "-", "_")
	}
	return strings.Split(cmd, "+")
}

func loadResult(t *testing.T, files []string) *cgminer.Result {
	t.Helper()
	res := &cgminer.Result{Replies: map[string]*cgminer.Reply{}, Errors: map[string]error{}}
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(fixtures, f))
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.IndexByte(raw, 0); i >= 0 {
			raw = raw[:i]
		}
		names := commandOf(f)
		var cmds []cgminer.Command
		for _, n := range names {
			c, err := cgminer.ParseCommand(n)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			cmds = append(cmds, c)
		}
		body, rep, err := cgminer.Decode(raw)
		if err != nil {
			res.Errors[names[0]] = err
			res.Exchanges = append(res.Exchanges, cgminer.Exchange{Err: err})
			continue
		}
		if len(cmds) > 1 {
			parts, ok := recorded.Split(body, cmds, rep)
			if !ok {
				t.Fatalf("%s: not a joined reply", f)
			}
			for k, v := range parts {
				res.Replies[k] = v
			}
			continue
		}
		if _, dup := res.Replies[names[0]]; dup {
			t.Fatalf("%s: second reply to %s in one case", f, names[0])
		}
		res.Replies[names[0]] = recorded.Reply(names[0], body, rep)
	}
	return res
}

func goldenCases(t *testing.T) map[string][]string {
	t.Helper()
	cases := map[string][]string{}
	inExplicit := map[string]bool{}
	for name, files := range explicit {
		cases[name] = files
		for _, f := range files {
			inExplicit[f] = true
		}
	}
	err := filepath.WalkDir(fixtures, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "SOURCES.md" {
			return err
		}
		rel, _ := filepath.Rel(fixtures, p)
		if _, skip := notGolden[rel]; skip || inExplicit[rel] {
			return nil
		}
		if strings.HasPrefix(rel, "cgminer-upstream/") {
			t.Errorf("%s: upstream capture neither in a golden case nor in notGolden", rel)
			return nil
		}
		miner := strings.SplitN(d.Name(), "_", 2)[0]
		cases[miner] = append(cases[miner], rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

// exposeDirect is expose through collector.Probe.WriteText, the path /probe serves.
func exposeDirect(t *testing.T, res *cgminer.Result) []byte {
	t.Helper()
	p := probeOf(res)
	var buf bytes.Buffer
	if err := p.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	skip := false
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if strings.Contains(line, "cgminer_probe_duration_seconds") {
			skip = true
			continue
		}
		if skip && strings.HasPrefix(line, "#") {
			skip = false
		}
		out.WriteString(line)
	}
	return out.Bytes()
}

func probeOf(res *cgminer.Result) *collector.Probe {
	p := &collector.Probe{Commands: map[string]bool{}}
	for c, r := range res.Replies {
		p.Commands[c] = r.OK()
	}
	for c := range res.Errors {
		if _, ok := p.Commands[c]; !ok {
			p.Commands[c] = false
		}
	}
	if err := res.Err(); err != nil {
		p.Reason = string(cgminer.ReasonOf(err))
	} else {
		p.Up = true
		snap := dialect.Read(res, nil)
		p.Snapshot = &snap
	}
	return p
}

// Expose runs a probe's replies through the dialect and the collector and returns the text
// exposition, as /probe would serve it.
func expose(t *testing.T, res *cgminer.Result) []byte {
	t.Helper()
	p := probeOf(res)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(p)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if mf.GetName() == "cgminer_probe_duration_seconds" {
			continue
		}
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestGolden turns every capture into metrics and compares them with an exposition file that was
// checked by hand against the reply (testdata/golden/*.prom; regenerate with -update and review
// the diff).
func TestGolden(t *testing.T) {
	cases := goldenCases(t)
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		files := cases[name]
		t.Run(name, func(t *testing.T) {
			sort.Strings(files)
			got := expose(t, loadResult(t, files))
			if direct := exposeDirect(t, loadResult(t, files)); !bytes.Equal(direct, got) {
				t.Errorf("WriteText differs from the registry's exposition:\n%s", diff(string(got), string(direct)))
			}
			path := filepath.Join("testdata", "golden", name+".prom")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				header := "# files: " + strings.Join(files, " ") + "\n"
				if err := os.WriteFile(path, append([]byte(header), got...), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./exporter/dialect -update and review the result)", err)
			}
			if i := bytes.IndexByte(want, '\n'); i >= 0 && bytes.HasPrefix(want, []byte("# files:")) {
				want = want[i+1:]
			}
			if !bytes.Equal(got, want) {
				t.Errorf("exposition differs from %s:\n%s", path, diff(string(want), string(got)))
			}
		})
	}
}

func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	ws, gs := map[string]bool{}, map[string]bool{}
	for _, l := range w {
		ws[l] = true
	}
	for _, l := range g {
		gs[l] = true
	}
	var b strings.Builder
	for _, l := range w {
		if !gs[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if !ws[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

func readFixture(tb testing.TB, f string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtures, f))
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.TrimRight(raw, "\x00\n")
}
