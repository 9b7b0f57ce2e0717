package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Snapshot configures the evidence snapshot: when a task is made, the receiver fetches the
// exporter's /probe?target=<instance>&module=<module>&debug=true (the miner's raw replies, the
// probe's log and the metrics) and stores it with the task, so the technician and the lead see
// the state before anyone touched the machine. Fetched by a loop of its own, never in the
// webhook's transaction; rate-limited below the exporter's --probe.debug-rate.
type Snapshot struct {
	// ExporterURL is the exporter's base URL (http://127.0.0.1:9154); empty: no snapshots.
	ExporterURL string `yaml:"exporter_url"`
	// ModuleLabel is the alert label naming the exporter module; DefaultModule when the alert
	// has none.
	ModuleLabel   string `yaml:"module_label"`
	DefaultModule string `yaml:"default_module"`
	// Rate is how many debug probes per second the receiver asks for at most (the exporter
	// allows 1 per second from all clients together by default), Burst how many at once.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// MaxBytes bounds a stored snapshot; what is longer is cut (and marked so).
	MaxBytes int `yaml:"max_bytes"`
	// Timeout bounds one fetch (the exporter's probe timeout plus its answer).
	Timeout time.Duration `yaml:"timeout"`
	// Attempts is how many failed fetches (errors, 5xx) are tried before giving up; a 429 is
	// retried after its Retry-After and counts too.
	Attempts int `yaml:"attempts"`
}

func defaultSnapshot() Snapshot {
	return Snapshot{ModuleLabel: "module", DefaultModule: "default", Rate: 0.5, Burst: 1, MaxBytes: 256 << 10,
		Timeout: 30 * time.Second, Attempts: 5}
}

// Verification configures the fast verification of reported repairs.
type Verification struct {
	// Fast: after windows.settle, a problem whose alert still fires and whose verify_expr
	// annotation (the alert's condition, evaluated instantly) still selects the machine sends the
	// task back at once instead of after windows.verify_window.
	Fast bool `yaml:"fast"`
}

func defaultVerification() Verification {
	return Verification{Fast: true}
}

// Bounds of the snapshot settings.
const (
	maxSnapshotBytes = 4 << 20
	maxDebugRate     = 10
)

var moduleName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

func (c *Config) validateSnapshot() error {
	s := &c.Snapshot
	s.ExporterURL = strings.TrimRight(s.ExporterURL, "/")
	if s.ExporterURL != "" {
		u, err := url.Parse(s.ExporterURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("snapshot.exporter_url: %q is not an http(s) base URL without query or credentials", s.ExporterURL)
		}
	}
	if s.ModuleLabel != "" && !labelName.MatchString(s.ModuleLabel) {
		return fmt.Errorf("snapshot.module_label: %q is not a label name", s.ModuleLabel)
	}
	if !moduleName.MatchString(s.DefaultModule) {
		return fmt.Errorf("snapshot.default_module: %q is not a module name", s.DefaultModule)
	}
	if s.Rate <= 0 || s.Rate > maxDebugRate {
		return fmt.Errorf("snapshot.rate: %g per second; more than 0 and at most %d (keep it below the exporter's --probe.debug-rate)", s.Rate, maxDebugRate)
	}
	if s.Burst < 1 || s.Burst > 100 {
		return fmt.Errorf("snapshot.burst: %d is not between 1 and 100", s.Burst)
	}
	if s.MaxBytes < 1024 || s.MaxBytes > maxSnapshotBytes {
		return fmt.Errorf("snapshot.max_bytes: %d is not between 1024 and %d", s.MaxBytes, maxSnapshotBytes)
	}
	if s.Timeout <= 0 || s.Timeout > 5*time.Minute {
		return fmt.Errorf("snapshot.timeout: %s; more than 0 and at most 5m", s.Timeout)
	}
	if s.Attempts < 1 || s.Attempts > 100 {
		return fmt.Errorf("snapshot.attempts: %d is not between 1 and 100", s.Attempts)
	}
	return nil
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,127}$`)

// SnapshotModule is the exporter module a task's snapshot is taken with: the alert's module
// label when it carries a valid one, else the default module.
func (s Snapshot) SnapshotModule(labels map[string]string) string {
	if m := labels[s.ModuleLabel]; s.ModuleLabel != "" && moduleName.MatchString(m) {
		return m
	}
	return s.DefaultModule
}
