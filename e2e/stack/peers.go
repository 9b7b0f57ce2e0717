package stack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The current Prometheus and Alertmanager are built from their Go modules into the repository's
// .tools/ folder, one folder per pinned version (mk/tools.mk, mk/peers.sh): .tools/prometheus-
// v0.316.0/prometheus, .tools/alertmanager-v0.35.0/alertmanager. The Makefile exports their paths
// as PROMETHEUS and ALERTMANAGER.

// Binaries returns the Prometheus and Alertmanager a run uses: the paths getenv gives for
// PROMETHEUS and ALERTMANAGER, else the newest built into root/.tools. Debian's binaries are
// never taken on their own (Debian bookworm's Alertmanager 0.25 cannot load alertmanager.yml);
// name them explicitly (Options, runstack's flags) to run on them.
func Binaries(root string, getenv func(string) string) (prometheus, alertmanager string, err error) {
	find := func(env, name, bin string) (string, error) {
		if p := getenv(env); p != "" {
			return p, nil
		}
		if p := FindTool(root, name, bin); p != "" {
			return p, nil
		}
		return "", fmt.Errorf("no %s: set %s or run `make peers` (builds it into %s)", bin, env, filepath.Join(root, ".tools"))
	}
	if prometheus, err = find("PROMETHEUS", "prometheus", "prometheus"); err != nil {
		return "", "", err
	}
	if alertmanager, err = find("ALERTMANAGER", "alertmanager", "alertmanager"); err != nil {
		return "", "", err
	}
	return prometheus, alertmanager, nil
}

// FindMailpit returns the mailpit the stack runs: $MAILPIT (getenv), else the newest built into
// root/.tools (mk/tools.mk builds .tools/mailpit-<pin>/mailpit with its web UI).
func FindMailpit(root string, getenv func(string) string) (string, error) {
	if p := getenv("MAILPIT"); p != "" {
		return p, nil
	}
	if p := FindTool(root, "mailpit", "mailpit"); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("no mailpit: set MAILPIT or run `make peers` (builds it into %s)", filepath.Join(root, ".tools"))
}

// FindTool returns root/.tools/<name>-v<version>/<bin> of the highest version present, or "".
func FindTool(root, name, bin string) string {
	matches, _ := filepath.Glob(filepath.Join(root, ".tools", name+"-v*", bin))
	best, bestV := "", version{}
	for _, m := range matches {
		v, ok := parseVersion(strings.TrimPrefix(filepath.Base(filepath.Dir(m)), name+"-"))
		if fi, err := os.Stat(m); !ok || err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			continue
		}
		if best == "" || bestV.less(v) {
			best, bestV = m, v
		}
	}
	return best
}

// version is a release's major.minor.patch.
type version struct{ major, minor, patch int }

var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)`)

func parseVersion(s string) (version, bool) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return version{}, false
	}
	var v version
	v.major, _ = strconv.Atoi(m[1])
	v.minor, _ = strconv.Atoi(m[2])
	v.patch, _ = strconv.Atoi(m[3])
	return v, true
}

func (v version) less(w version) bool {
	if v.major != w.major {
		return v.major < w.major
	}
	if v.minor != w.minor {
		return v.minor < w.minor
	}
	return v.patch < w.patch
}

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }

// binaryVersion runs `bin --version` and reads the version Prometheus-project binaries print
// ("prometheus, version 3.16.0 (branch: …"; Debian's "2.42.0+ds"). ok is false when it says none
// (a `go install` build: "version  (branch: , …").
func binaryVersion(ctx context.Context, bin string) (v version, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return version{}, false, fmt.Errorf("%s --version: %w\n%s", bin, err, out)
	}
	m := regexp.MustCompile(`, version (\S+)`).FindSubmatch(out)
	if m == nil {
		return version{}, false, nil
	}
	v, ok = parseVersion(string(m[1]))
	return v, ok, nil
}
