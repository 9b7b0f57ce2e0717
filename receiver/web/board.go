package web

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

var funcs = map[string]any{
	// num writes a count with thousands separators (51,234).
	"num": func(n int) string {
		s := strconv.Itoa(n)
		for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
			s = s[:i] + "," + s[i:]
		}
		return s
	},
	// short bounds an alert-supplied string (title, label, annotation) as shown on a page.
	"short": func(s string) string { return truncate(s, pageValue) },
	"ago": func(t, now time.Time) string {
		if t.IsZero() {
			return "?"
		}
		d := now.Sub(t)
		switch {
		case d < time.Minute:
			return fmt.Sprintf("%ds", int(d.Seconds()))
		case d < time.Hour:
			return fmt.Sprintf("%dm", int(d.Minutes()))
		case d < 48*time.Hour:
			return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
		}
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	// at writes a time in the configured zone (display.timezone).
	"at": func(t time.Time, loc *time.Location) string {
		if loc == nil {
			loc = time.UTC
		}
		if t.IsZero() {
			return "—"
		}
		return t.In(loc).Format("2006-01-02 15:04:05 MST")
	},
	"location": func(t task.Task) string {
		var parts []string
		for _, k := range []string{"site", "rack"} {
			if v := t.Location[k]; v != "" {
				parts = append(parts, k+" "+v)
			}
		}
		keys := make([]string, 0, len(t.Location))
		for k := range t.Location {
			if k != "site" && k != "rack" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			parts = append(parts, k+" "+t.Location[k])
		}
		if len(parts) == 0 {
			return "no location"
		}
		return truncate(strings.Join(parts, " › "), pageValue)
	},
	"undeliverable": undeliverableText,
	"labels": func(m map[string]string) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = truncate(k+"="+m[k], pageValue)
		}
		return strings.Join(parts, " ")
	},
}

// Categories are the alert categories of the contract.
var Categories = []string{"offline", "hashrate", "hashboard", "temperature", "fan", "pool", "stability", "fleet", "meta"}

type page struct {
	Title  string
	User   string
	Role   string
	CSRF   string
	Return string
	Now    time.Time
	// Loc is display.timezone; Refresh the auto-refresh period in seconds (0: off); Flash the
	// confirmation of the action that led here.
	Loc     *time.Location
	Refresh int
	Flash   string
}

type card struct {
	Task   task.Task
	CSRF   string
	Return string
	Perm   perms
	View   view
}

type section struct {
	State task.State
	Tasks []card
	More  bool
}

type boardPage struct {
	page
	Filter     struct{ State, Site, Assignee, Category, Instance string }
	States     []task.State
	Counts     map[string]int
	Sites      []string
	Categories []string
	Sections   []section
}

// Per-section limits keep the board one screenful of work even with 100,000 tasks in the store.
const (
	activeLimit = 200
	closedLimit = 20
	// maxSites bounds the site choices of the filter.
	maxSites = 500
)

// board is GET /: tasks by state, filtered by site, assignee, category and instance. Each state is
// a section at most once (repeated state values are one filter), and the forms return to the
// canonical filter, never to the raw request.
func (s *Server) board(w http.ResponseWriter, r *http.Request) {
	f, err := filterOf(r, false)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	cfg := s.o.Config()
	user := userOf(r)
	p := boardPage{page: s.pageFor(r, "Tasks", canonical(f)), States: task.States, Counts: map[string]int{}, Categories: Categories}
	p.Filter.Site, p.Filter.Assignee, p.Filter.Category, p.Filter.Instance = f.Site, f.Assignee, f.Category, f.Instance
	counts, err := s.o.Store.Counts(r.Context())
	if err != nil {
		s.o.Metrics.StoreErrors.WithLabelValues("counts").Inc()
		s.errorPage(w, r, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	sites := map[string]bool{}
	for _, c := range counts {
		p.Counts[string(c.State)] += c.N
		if c.Site != "" && len(sites) < maxSites {
			sites[c.Site] = true
		}
	}
	for site := range sites {
		p.Sites = append(p.Sites, site)
	}
	sort.Strings(p.Sites)
	states := task.States
	if len(f.States) > 0 {
		states = f.States
		p.Filter.State = string(f.States[0])
	}
	for _, st := range states {
		limit := activeLimit
		if st.Closed() {
			limit = closedLimit
			if len(f.States) > 0 {
				limit = activeLimit
			}
		}
		q := store.Filter{States: []task.State{st}, Assignee: f.Assignee, Site: f.Site, Category: f.Category, Instance: f.Instance, Limit: limit + 1,
			Urgent: !st.Closed()}
		ts, err := s.o.Store.ListTasks(r.Context(), q)
		if err != nil {
			s.o.Metrics.StoreErrors.WithLabelValues("list").Inc()
			s.errorPage(w, r, http.StatusServiceUnavailable, "store unavailable")
			return
		}
		sec := section{State: st}
		if len(ts) > limit {
			ts, sec.More = ts[:limit], true
		}
		views, err := s.views(r.Context(), cfg, ts)
		if err != nil {
			s.o.Metrics.StoreErrors.WithLabelValues("list").Inc()
			s.errorPage(w, r, http.StatusServiceUnavailable, "store unavailable")
			return
		}
		for _, t := range ts {
			sec.Tasks = append(sec.Tasks, card{Task: t, CSRF: p.CSRF, Return: p.Return, Perm: permsFor(cfg, user, t), View: views[t.ID]})
		}
		p.Sections = append(p.Sections, sec)
	}
	p.Flash = takeFlash(w, r)
	s.render(w, r, http.StatusOK, "board", p)
}

func (s *Server) pageFor(r *http.Request, title, ret string) page {
	user := userOf(r)
	cfg := s.o.Config()
	p := page{Title: title, User: user, Return: ret, Now: s.o.Now(), Loc: cfg.Display.Location(), Refresh: int(cfg.Display.Refresh / time.Second)}
	if user != "" {
		p.CSRF = s.csrfToken(user)
		p.Role = string(s.o.Config().RoleOf(user))
	}
	return p
}

// render executes a template into a buffer of at most MaxPageBytes: a page that would be larger is
// refused, not built.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	buf := &capped{max: s.o.MaxPageBytes}
	if err := s.tmpl.ExecuteTemplate(buf, name, data); err != nil {
		if errors.Is(err, errTooLarge) {
			s.refused.WithLabelValues("answer_too_large").Inc()
			s.o.Logger.Warn("page too large; refused", "template", name, "path", r.URL.Path, "max_bytes", s.o.MaxPageBytes)
			http.Error(w, fmt.Sprintf("the page would exceed %d bytes; narrow the filter", s.o.MaxPageBytes), http.StatusInternalServerError)
			return
		}
		s.o.Logger.Error("render", "template", name, "err", err)
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

type errorData struct {
	page
	Code    int
	Message string
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, code int, msg string) {
	ret := "/"
	if r.PostForm != nil { // only a form that was already read; never parse a body here
		ret = safeReturn(r.PostForm.Get("return"), "/")
	}
	p := page{Title: "Error", User: userOf(r), Return: ret}
	s.render(w, r, code, "error", errorData{page: p, Code: code, Message: truncate(msg, pageValue)})
}

// safeReturn keeps redirects on this site and short.
func safeReturn(v, def string) string {
	if v == "" || len(v) > maxQueryBytes+64 || !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.HasPrefix(v, "/\\") ||
		strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return def
	}
	return v
}
