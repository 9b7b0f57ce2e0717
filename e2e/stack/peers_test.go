package stack

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeExec(t *testing.T, path, script string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestFindTool(t *testing.T) {
	root := t.TempDir()
	tools := filepath.Join(root, ".tools")
	for _, v := range []string{"v0.9.0", "v0.35.0", "v0.4.2"} {
		writeExec(t, filepath.Join(tools, "alertmanager-"+v, "alertmanager"), "#!/bin/sh\n")
	}
	// Not a candidate: not executable, a folder, an unparsable version.
	if err := os.MkdirAll(filepath.Join(tools, "alertmanager-v0.99.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tools, "alertmanager-v0.99.0", "alertmanager"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tools, "alertmanager-v1.0.0", "alertmanager"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeExec(t, filepath.Join(tools, "alertmanager-vnext", "alertmanager"), "#!/bin/sh\n")

	if got, want := FindTool(root, "alertmanager", "alertmanager"), filepath.Join(tools, "alertmanager-v0.35.0", "alertmanager"); got != want {
		t.Errorf("FindTool = %q, want %q (0.35 is newer than 0.9 and 0.4.2)", got, want)
	}
	if got := FindTool(root, "prometheus", "prometheus"); got != "" {
		t.Errorf("FindTool with nothing built = %q", got)
	}
}

func TestBinaries(t *testing.T) {
	root := t.TempDir()
	prom := filepath.Join(root, ".tools", "prometheus-v0.316.0", "prometheus")
	writeExec(t, prom, "#!/bin/sh\n")
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	if _, _, err := Binaries(root, getenv); err == nil {
		t.Error("no Alertmanager anywhere: no error")
	}
	env["ALERTMANAGER"] = "/opt/am/alertmanager"
	p, a, err := Binaries(root, getenv)
	if err != nil || p != prom || a != "/opt/am/alertmanager" {
		t.Errorf("Binaries = %q, %q, %v; want the built Prometheus and $ALERTMANAGER", p, a, err)
	}
	env["PROMETHEUS"] = "/usr/bin/prometheus"
	if p, _, _ := Binaries(root, getenv); p != "/usr/bin/prometheus" {
		t.Errorf("$PROMETHEUS set: Prometheus = %q", p)
	}
}

func TestBinaryVersion(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, out string
		want      version
		ok        bool
	}{
		{"module build", "prometheus, version 3.16.0 (branch: module, revision: v0.316.0)\n  build user: cgminer-stack\n", version{3, 16, 0}, true},
		{"debian", "prometheus, version 2.42.0+ds (branch: debian/sid, revision: 2.42.0+ds-5+deb12u1)\n", version{2, 42, 0}, true},
		{"alertmanager", "alertmanager, version 0.35.0 (branch: module, revision: v0.35.0)\n", version{0, 35, 0}, true},
		{"go install", "prometheus, version  (branch: , revision: unknown)\n  build user:       \n", version{}, false},
		{"not a prometheus binary", "usage: foo\n", version{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := filepath.Join(dir, "bin-"+c.want.String()+c.name)
			writeExec(t, bin, "#!/bin/sh\ncat <<'EOF'\n"+c.out+"EOF\n")
			v, ok, err := binaryVersion(context.Background(), bin)
			if err != nil || ok != c.ok || v != c.want {
				t.Errorf("binaryVersion = %v, %v, %v; want %v, %v", v, ok, err, c.want, c.ok)
			}
		})
	}
	failing := filepath.Join(dir, "failing")
	writeExec(t, failing, "#!/bin/sh\necho broken >&2\nexit 3\n")
	if _, _, err := binaryVersion(context.Background(), failing); err == nil {
		t.Error("a binary whose --version fails: no error")
	}
}

// A part that exits while starting fails Start at once, with its log, instead of a wait for its
// port to answer (which another process on that port could even satisfy).
func TestStartFailsWhenAPartExits(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	dir := t.TempDir()
	fake := func(name, script string) string {
		p := filepath.Join(dir, name)
		writeExec(t, p, script)
		return p
	}
	_, err := Start(context.Background(), Options{Root: root, BinDir: dir, WorkDir: filepath.Join(dir, "work"), Speed: Fast,
		Prometheus: fake("prometheus", "#!/bin/sh\nexit 0\n"), Alertmanager: fake("alertmanager", "#!/bin/sh\nexit 0\n"),
		Mailpit: fake("mailpit", "#!/bin/sh\necho 'mailpit: database is locked' >&2\nexit 1\n")})
	if err == nil {
		t.Fatal("Start succeeded with a mailpit that exits")
	}
	for _, want := range []string{"mailpit exited", "database is locked"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
