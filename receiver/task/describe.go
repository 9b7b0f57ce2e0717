package task

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"time"
)

// WebLink keeps only an http(s) link of a sane length: an annotation such as runbook_url comes
// with the alert, and is shown and sent as a link.
func WebLink(u string) string {
	if len(u) > 4096 || !(strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) ||
		strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return ""
	}
	return u
}

// Runbook is a task's runbook link: that of its worst firing problem group with a web link (the
// group its headline names, when that one has a link), else that of the first group that has
// one; "" when none has. The board and the messages take it from here, so a technician reads one
// runbook for one task wherever they look.
func Runbook(groups []ProblemGroup) string {
	first := ""
	for _, g := range groups {
		u := WebLink(g.Latest.Annotations["runbook_url"])
		if u == "" {
			continue
		}
		if g.Firing {
			return u
		}
		if first == "" {
			first = u
		}
	}
	return first
}

// Facts is what the monitoring says a task's machine is: model and firmware from cgminer_info,
// serial and MAC from cgminer_device_info, why its last probe failed from
// cgminer_probe_error_info. Asked from Prometheus when the task is made and refreshed while it is
// open; an empty field is unknown (the metric was absent), never an error.
type Facts struct {
	Model      string
	Firmware   string
	Software   string
	Serial     string
	MAC        string
	ProbeError string
	// AskedAt is when Prometheus last answered (zero: never).
	AskedAt time.Time
}

// IP is the address part of a task's instance label ("10.1.0.7" of "10.1.0.7:4029"); the
// instance itself when it is no host:port.
func IP(identity map[string]string) string {
	in := identity["instance"]
	if h, _, err := net.SplitHostPort(in); err == nil {
		return h
	}
	return in
}

// Where writes a task's location in the order of labels (location_labels: site › row › rack ›
// slot): a value that already starts with its label's name ("rack-2", "site-a") stands alone,
// any other is named ("slot 14", "row 3"). Labels not in order follow in name order.
func Where(location map[string]string, order []string) string {
	var parts []string
	seen := map[string]bool{}
	add := func(k string) {
		v := location[k]
		if v == "" || seen[k] {
			return
		}
		seen[k] = true
		if strings.HasPrefix(strings.ToLower(v), strings.ToLower(k)) {
			parts = append(parts, v)
		} else {
			parts = append(parts, k+" "+v)
		}
	}
	for _, k := range order {
		add(k)
	}
	rest := make([]string, 0, len(location))
	for k := range location {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		add(k)
	}
	return strings.Join(parts, " › ")
}

// Phrase says in a few words what a problem is, with the part it is about woven in ("fan 1
// stopped", "board 2 dead", "board 0 chip hot"). Unknown alerts fall back to their summary.
func Phrase(p Problem) string {
	l := p.Labels
	board, fan, sensor, device := l["board"], l["fan"], l["sensor"], l["device"]
	on := func(what string) string { // "board 2 chip" / "chip_max sensor"
		switch {
		case board != "" && sensor != "":
			return "board " + board + " " + sensor
		case board != "":
			return "board " + board
		case sensor != "":
			return sensor + " sensor"
		}
		return what
	}
	switch p.Alertname {
	case "MinerOffline":
		if e := ProbeErrorText(l["reason"]); e != "" {
			return "offline (" + e + ")"
		}
		return "offline"
	case "MinerNoHashrate":
		return "hashing nothing"
	case "MinerHashrateLow":
		return "hashrate low"
	case "MinerHashboardMissing":
		return "hashboard missing"
	case "MinerHashboardFailed":
		switch l["reason"] {
		case "chips_missing":
			return "board " + or(board, "?") + " missing chips"
		case "chips_failed":
			return "board " + or(board, "?") + " chips failed"
		}
		return "board " + or(board, "?") + " dead"
	case "MinerHashboardDegraded":
		return "board " + or(board, "?") + " degraded"
	case "MinerDeviceNotAlive":
		if l["reason"] == "disabled" {
			return "device " + or(device, "?") + " disabled"
		}
		return "device " + or(device, "?") + " not alive"
	case "MinerTemperatureHigh":
		return on("temperature") + " hot"
	case "MinerTemperatureCritical":
		return on("temperature") + " dangerously hot"
	case "MinerFanFailure":
		if l["reason"] == "missing" {
			return "fan missing"
		}
		return "fan " + or(fan, "?") + " stopped"
	case "MinerPoolDown":
		return "no pool alive"
	case "MinerPoolMisconfigured":
		return "mining on a foreign pool"
	case "MinerSharesRejectedHigh":
		return "shares rejected"
	case "MinerNoSharesAccepted":
		return "no shares accepted"
	case "MinerHardwareErrorsHigh":
		return "hardware errors high"
	case "MinerRestarting":
		return "keeps restarting"
	case "MinerFeePoolOveractive":
		return "fee pool takes too much"
	case "MinerScrapeFailing":
		return "probe scrape failing"
	case "SiteDown":
		return "site dark"
	case "FleetHashrateDrop":
		return "site hashrate dropped"
	}
	if s := strings.TrimSpace(p.Annotations["summary"]); s != "" {
		return s
	}
	return p.Alertname
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// ProbeErrorText is cgminer_probe_error_info's reason in words ("" for none).
func ProbeErrorText(reason string) string {
	switch reason {
	case "":
		return ""
	case "connection_refused":
		return "connection refused"
	case "timeout":
		return "timeout"
	case "unreachable":
		return "host unreachable"
	case "connection_reset":
		return "connection reset"
	case "dial_error":
		return "cannot connect"
	case "empty_reply":
		return "empty reply"
	case "reply_too_large":
		return "reply too large"
	case "truncated_reply":
		return "reply cut short"
	case "malformed_reply":
		return "malformed reply"
	case "not_cgminer_api":
		return "not a cgminer API"
	case "api_error":
		return "API error"
	}
	return strings.ReplaceAll(reason, "_", " ")
}

// Headline is a task's human title: "Antminer S19j Pro at site-a › rack-2 › slot 14: fan 1
// stopped" — what the machine is, where, and its worst firing problem (the task's title when
// none fires); "+2 more" when others fire too. Never the raw identity selector.
func Headline(t Task, f Facts, problems []Problem, order []string) string {
	what := f.Model
	if t.Fleet {
		what = "Site " + or(t.Identity["site"], "?")
	} else if what == "" {
		what = "Miner " + or(IP(t.Identity), "?")
	}
	where := Where(t.Location, order)
	head := what
	if where != "" && !t.Fleet {
		head += " at " + where
	}
	groups := Group(problems)
	firing := 0
	for _, g := range groups {
		if g.Firing {
			firing++
		}
	}
	switch {
	case len(groups) > 0 && groups[0].Firing:
		head += ": " + groups[0].Phrase
		if firing > 1 {
			head += fmt.Sprintf(" (+%d more)", firing-1)
		}
	case len(groups) > 0:
		head += ": " + groups[0].Phrase + " (cleared)"
	case t.Title != "":
		head += ": " + t.Title
	}
	return head
}

// ProblemGroup is a task's problems about one part (a board, a fan, a sensor, a pool or the
// machine as a whole) and one alert: six occurrences of "board 0 chip hot" are one group.
type ProblemGroup struct {
	Part   string // "board 2", "fan 1", "pool 0", "miner"
	Phrase string
	// Latest is the most recent occurrence (the firing one when one fires).
	Latest Problem
	// Occurrences counts the problems in the group; Firing is true when one of them fires.
	Occurrences int
	Firing      bool
	Severity    string
}

// Part names what a problem is about.
func Part(p Problem) string {
	l := p.Labels
	switch {
	case l["board"] != "":
		return "board " + l["board"]
	case l["fan"] != "":
		return "fan " + l["fan"]
	case l["device"] != "":
		return "device " + l["device"]
	case l["sensor"] != "":
		return l["sensor"] + " sensor"
	case l["pool"] != "":
		return "pool " + l["pool"]
	}
	return "miner"
}

// Group folds a task's problems into one group per part and phrase, the firing groups first (most
// severe first), then the cleared ones; each in the order their latest occurrence started.
func Group(problems []Problem) []ProblemGroup {
	idx := map[string]int{}
	var out []ProblemGroup
	for _, p := range problems {
		phrase := Phrase(p)
		k := Part(p) + "\x00" + phrase
		i, ok := idx[k]
		if !ok {
			idx[k] = len(out)
			out = append(out, ProblemGroup{Part: Part(p), Phrase: phrase, Latest: p, Severity: p.Severity})
			i = len(out) - 1
		}
		g := &out[i]
		g.Occurrences++
		if rank(p.Severity) > rank(g.Severity) {
			g.Severity = p.Severity
		}
		if p.Firing && !g.Latest.Firing || p.Firing == g.Latest.Firing && p.StartsAt.After(g.Latest.StartsAt) {
			g.Latest = p
		}
		g.Firing = g.Firing || p.Firing
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Firing != b.Firing {
			return a.Firing
		}
		if rank(a.Severity) != rank(b.Severity) {
			return rank(a.Severity) > rank(b.Severity)
		}
		return a.Latest.StartsAt.Before(b.Latest.StartsAt)
	})
	return out
}

// SeverityRank orders severities: critical 3, warning 2, info 1, anything else 0.
func SeverityRank(sev string) int { return rank(sev) }
