package stack

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Timing is what a run's clocks are: how its configs differ from the repository's. Zero values
// mean "as the repository's file says". configs.go applies it; Banner prints it.
type Timing struct {
	Speed Speed

	// Prometheus: scrape and evaluation interval, the scrape timeout and SD refresh; rules' `for:`
	// divided by ForDiv (at least ForMin), rule group intervals by GroupDiv (at least GroupMin).
	Scrape, ScrapeTimeout, SDRefresh time.Duration
	ForDiv, GroupDiv                 float64
	ForMin, GroupMin                 time.Duration
	// Discovery is the exporter's scan interval of the simulated farm.
	Discovery time.Duration
	// Alertmanager: every route's group_wait and group_interval, and repeat_interval where a route
	// sets one.
	GroupWait, GroupInterval, RepeatInterval time.Duration

	// The receiver's windows as written into this run's receiver.yml (after the speed's changes).
	Windows map[string]time.Duration
	// Escalation timeouts per severity as written (ack_timeout, progress_timeout).
	Escalation map[string][2]time.Duration
	// Ladder describes the escalation steps ("assignee over telegram", …).
	Ladder []string
	// Loop periods passed to the receiver (0: its default).
	VerifyInterval, SweepInterval, NotifyInterval, EvidenceInterval, ReconcileInterval time.Duration
	// Remediation: the check interval written into remedy.yml (0: the file's) and what the rules do.
	RemedyInterval time.Duration
	Remedy         []string
	// RestartDelay is how long a simulated miner stays silent after an accepted restart.
	RestartDelay time.Duration
}

// receiverDiv is how much Fast divides the receiver's windows and escalation timeouts by; forDiv
// the rules' `for:`.
const (
	forDiv      = 30
	receiverDiv = 60
)

// timingFor is the plan of a speed; the receiver's windows are filled in when its config is
// written.
func timingFor(sp Speed, realVerification bool) Timing {
	t := Timing{Speed: sp, ForDiv: 1, GroupDiv: 1, Discovery: time.Minute, RestartDelay: 20 * time.Second}
	switch sp {
	case Fast:
		t.Scrape, t.ScrapeTimeout, t.SDRefresh = 2*time.Second, 1500*time.Millisecond, 2*time.Second
		t.ForDiv, t.ForMin, t.GroupDiv, t.GroupMin = forDiv, 4*time.Second, forDiv, 2*time.Second
		t.Discovery = 5 * time.Second
		t.GroupWait, t.GroupInterval, t.RepeatInterval = time.Second, 2*time.Second, time.Minute
		t.VerifyInterval, t.SweepInterval, t.NotifyInterval, t.EvidenceInterval, t.ReconcileInterval =
			2*time.Second, 2*time.Second, time.Second, time.Second, 10*time.Second
		t.RemedyInterval, t.RestartDelay = 2*time.Second, 4*time.Second
	case Demo:
		t.Scrape, t.ScrapeTimeout, t.SDRefresh = 15*time.Second, 10*time.Second, 15*time.Second
		t.ForDiv, t.ForMin, t.GroupDiv, t.GroupMin = 5, 30*time.Second, 4, 15*time.Second
		t.GroupWait, t.GroupInterval = 10*time.Second, 30*time.Second
		t.VerifyInterval, t.SweepInterval, t.NotifyInterval, t.ReconcileInterval = 10*time.Second, 5*time.Second, 2*time.Second, time.Minute
		t.RemedyInterval = 10 * time.Second
	}
	if realVerification {
		t.VerifyInterval = 0 // the receiver's default, 30s
	}
	return t
}

// demoWindows and demoEscalation are make run's receiver windows and timeouts: short enough that a
// newcomer sees a task escalate, a failed repair come back and a good one confirmed within minutes.
var (
	demoWindows    = map[string]time.Duration{"grace": 2 * time.Minute, "settle": 30 * time.Second, "verify_window": 3 * time.Minute, "reconcile_after": 10 * time.Minute}
	demoEscalation = map[string][2]time.Duration{"critical": {time.Minute, 5 * time.Minute}, "warning": {2 * time.Minute, 10 * time.Minute}}
)

// receiverFlags are the repair_receiver loop periods of the run.
func (t Timing) receiverFlags() []string {
	var out []string
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"verify.interval", t.VerifyInterval}, {"sweep.interval", t.SweepInterval}, {"notify.interval", t.NotifyInterval},
		{"evidence.interval", t.EvidenceInterval}, {"reconcile.interval", t.ReconcileInterval}} {
		if f.d > 0 {
			out = append(out, "--"+f.name+"="+f.d.String())
		}
	}
	return out
}

func or(d time.Duration, def string) string {
	if d == 0 {
		return def
	}
	return short(d)
}

// short writes 1m30s, 2m, 10s (time.Duration's String without "0s" tails).
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Lines describe the run's timing for the banner.
func (t Timing) Lines() []string {
	var l []string
	switch t.Speed {
	case Real:
		l = append(l, "Timing: the repository's (scrapes, rules' for:, receiver windows and escalation as the files say).")
	case Demo:
		l = append(l, fmt.Sprintf("Demo timing (make run; the repository's files keep the production values): Prometheus scrapes and evaluates every %s, "+
			"alerts' for: ÷%g (MinerOffline 5m → %s, MinerFanFailure 5m → %s, MinerNoHashrate 15m → %s); Alertmanager group_wait %s, group_interval %s.",
			short(t.Scrape), t.ForDiv, short(t.scaleFor(5*time.Minute)), short(t.scaleFor(5*time.Minute)), short(t.scaleFor(15*time.Minute)), short(t.GroupWait), short(t.GroupInterval)))
	case Fast:
		l = append(l, fmt.Sprintf("Fast timing (tests): scrapes every %s, alerts' for: ÷%g, receiver windows and escalation ÷%d.", short(t.Scrape), t.ForDiv, receiverDiv))
	}
	if len(t.Windows) > 0 {
		var w []string
		for _, k := range []string{"settle", "verify_window", "grace", "reopen_window", "reconcile_after"} {
			if d, ok := t.Windows[k]; ok {
				w = append(w, k+" "+short(d))
			}
		}
		l = append(l, "Receiver windows: "+strings.Join(w, ", ")+fmt.Sprintf("; verification every %s, escalation checked every %s.",
			or(t.VerifyInterval, "30s"), or(t.SweepInterval, "30s")))
	}
	if len(t.Escalation) > 0 {
		var sev []string
		for _, k := range sortedKeys(t.Escalation) {
			v := t.Escalation[k]
			if v[0] == 0 && v[1] == 0 {
				sev = append(sev, k+" never")
				continue
			}
			sev = append(sev, fmt.Sprintf("%s: unacknowledged %s, no progress %s", k, or(v[0], "never"), or(v[1], "never")))
		}
		l = append(l, "Escalation: "+strings.Join(sev, "; ")+".")
	}
	if len(t.Ladder) > 0 {
		l = append(l, "Ladder: "+strings.Join(t.Ladder, " → ")+".")
	}
	if len(t.Remedy) > 0 {
		l = append(l, "Remediation: "+strings.Join(t.Remedy, "; ")+fmt.Sprintf("; a restarted simulated miner is silent %s.", short(t.RestartDelay)))
	}
	return l
}

// scaleFor is a `for:` of d in this run.
func (t Timing) scaleFor(d time.Duration) time.Duration {
	if t.ForDiv <= 1 {
		return d
	}
	return max(time.Duration(float64(d)/t.ForDiv), t.ForMin)
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}
