package web

import (
	"context"
	"embed"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// view is what a card and the task page show about a task beyond its row: which machine, where,
// what it is (from the facts asked from Prometheus), why (its problems grouped per part), the
// runbook and how long verification has left. Everything is computed here; the templates only
// print (html/template escapes it).
type view struct {
	Headline string
	Where    string
	Model    string // "unknown" when Prometheus had no cgminer_info
	Firmware string
	IP       string
	Serial   string
	MAC      string
	// ProbeError: why the last probe of an offline miner failed, in words (refused, timeout).
	ProbeError string
	AskedAt    string // when Prometheus last told us (local time); "" never
	Groups     []group
	Runbook    string // the worst firing problem's runbook_url, when it is a web link
	Opened     string // local time the task (re)opened
	Verify     string // "first check in 1m20s; decided within 13m" on verifying tasks
	// Undeliverable counts the task's notifications that could not be delivered (notifications.go).
	Undeliverable int
}

// group is one row of "why": a part and what is wrong with it.
type group struct {
	task.ProblemGroup
	Description string
	Runbook     string
	Since       string
	// Evidence: the foreign pool and worker of a hijack, the probe error of an offline miner.
	Evidence string
}

const unknown = "unknown"

// local formats a time in the configured zone ("2026-11-22 09:00 CET").
func local(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(loc).Format("2006-01-02 15:04 MST")
}

func orUnknown(s string) string {
	if strings.TrimSpace(s) == "" {
		return unknown
	}
	return truncate(s, pageValue)
}

func (s *Server) viewOf(cfg *config.Config, t task.Task, f task.Facts, problems []task.Problem, now time.Time) view {
	loc := cfg.Display.Location()
	v := view{Headline: truncate(task.Headline(t, f, problems, cfg.LocationLabels), pageValue),
		Where: truncate(task.Where(t.Location, cfg.LocationLabels), pageValue), Model: orUnknown(f.Model), Firmware: orUnknown(f.Firmware),
		IP: orUnknown(task.IP(t.Identity)), Serial: orUnknown(f.Serial), MAC: orUnknown(f.MAC), ProbeError: task.ProbeErrorText(f.ProbeError),
		Opened: local(t.OpenedAt, loc)}
	if t.Fleet {
		v.IP = ""
	}
	if !f.AskedAt.IsZero() {
		v.AskedAt = local(f.AskedAt, loc)
	}
	groups := task.Group(problems)
	v.Runbook = task.Runbook(groups)
	for _, g := range groups {
		p := g.Latest
		gr := group{ProblemGroup: g, Description: truncate(p.Annotations["description"], pageValue),
			Runbook: task.WebLink(p.Annotations["runbook_url"]), Since: local(p.StartsAt, loc)}
		gr.Phrase = truncate(gr.Phrase, pageValue)
		switch p.Alertname {
		case "MinerPoolMisconfigured":
			gr.Evidence = truncate(fmt.Sprintf("mining on %s as %s (pool %s)", orUnknown(p.Labels["url"]), orUnknown(p.Labels["user"]), orUnknown(p.Labels["pool"])), pageValue)
		case "MinerOffline":
			if e := task.ProbeErrorText(f.ProbeError); e != "" && p.Firing {
				gr.Evidence = "last probe: " + e
			} else if e := probeErrorIn(p.Annotations["description"]); e != "" {
				gr.Evidence = "last probe: " + e
			}
		}
		v.Groups = append(v.Groups, gr)
	}
	if first, last := task.VerifyTimes(t, problems, cfg.Windows); !first.IsZero() {
		left := max(last.Sub(now), 0).Round(time.Second)
		if now.Before(first) {
			v.Verify = fmt.Sprintf("first check in %s; decided within %s (by %s)", first.Sub(now).Round(time.Second), left, local(last, loc))
		} else {
			v.Verify = fmt.Sprintf("being checked; decided within %s (by %s)", left, local(last, loc))
		}
	}
	return v
}

// probeErrorIn reads "last probe error: timeout" from MinerOffline's description (rules/).
func probeErrorIn(desc string) string {
	const marker = "last probe error: "
	i := strings.Index(desc, marker)
	if i < 0 {
		return ""
	}
	rest := desc[i+len(marker):]
	end := strings.IndexAny(rest, ").; \n")
	if end < 0 {
		end = len(rest)
	}
	r := rest[:min(end, 64)]
	if r == "" || r == unknown {
		return ""
	}
	return task.ProbeErrorText(r)
}

// views builds the views of many tasks with two store reads (facts, headline problems).
func (s *Server) views(ctx context.Context, cfg *config.Config, ts []task.Task) (map[int64]view, error) {
	ids := make([]int64, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	facts, err := s.o.Store.Facts(ctx, ids)
	if err != nil {
		return nil, err
	}
	heads, err := s.o.Store.Headlines(ctx, ids, cardProblems)
	if err != nil {
		return nil, err
	}
	undelivered, err := s.o.Store.Undeliverable(ctx, ids)
	if err != nil {
		return nil, err
	}
	now := s.o.Now()
	out := make(map[int64]view, len(ts))
	for _, t := range ts {
		v := s.viewOf(cfg, t, facts[t.ID], heads[t.ID], now)
		v.Undeliverable = undelivered[t.ID]
		out[t.ID] = v
	}
	return out, nil
}

// cardProblems: the problems a board card reads for its title and groups.
const cardProblems = 5

// Flash: a confirmation shown once on the page a form returns to (POST-redirect-GET), carried in
// a short-lived cookie holding only an action name and a task id.
const flashCookie = "repair_flash"

var flashText = map[string]string{"ack": "acknowledged", "start": "started", "fixed": "reported fixed — verification is running",
	"note": "note added", "assign": "reassigned", "cancel": "cancelled"}

func setFlash(w http.ResponseWriter, action string, id int64) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: action + "." + strconv.FormatInt(id, 10), Path: "/", MaxAge: 60,
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// takeFlash reads and clears the confirmation; only a known action and a task id are shown.
func takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	action, id, ok := strings.Cut(c.Value, ".")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || n <= 0 || flashText[action] == "" {
		return ""
	}
	return fmt.Sprintf("Task #%d %s.", n, flashText[action])
}

//go:embed static/board.js
var staticFS embed.FS

// boardJS serves the refresh script (the CSP allows scripts from this origin only).
func boardJS(w http.ResponseWriter, r *http.Request) {
	b, _ := staticFS.ReadFile("static/board.js")
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(b)
}

// snapshotView is the evidence snapshot on the task page.
type snapshotView struct {
	store.Snapshot
	Taken string
}
