package web

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

var funcs = map[string]any{
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
		return strings.Join(parts, " › ")
	},
	"labels": func(m map[string]string) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + m[k]
		}
		return strings.Join(parts, " ")
	},
}

// Categories are the alert categories of the contract.
var Categories = []string{"offline", "hashrate", "hashboard", "temperature", "fan", "pool", "stability", "fleet", "meta"}

type page struct {
	Title  string
	User   string
	CSRF   string
	Return string
	Now    time.Time
}

type card struct {
	Task   task.Task
	CSRF   string
	Return string
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
)

// board is GET /: tasks by state, filtered by site, assignee, category and instance.
func (s *Server) board(w http.ResponseWriter, r *http.Request) {
	f, err := filterOf(r, 0)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, err.Error())
		return
	}
	user := userOf(r)
	p := boardPage{page: page{Title: "Tasks", User: user, CSRF: s.csrfToken(user), Return: r.URL.RequestURI(), Now: s.o.Now()},
		States: task.States, Counts: map[string]int{}, Categories: Categories}
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
		if c.Site != "" {
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
		q := store.Filter{States: []task.State{st}, Assignee: f.Assignee, Site: f.Site, Category: f.Category, Instance: f.Instance, Limit: limit + 1}
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
		for _, t := range ts {
			sec.Tasks = append(sec.Tasks, card{Task: t, CSRF: p.CSRF, Return: p.Return})
		}
		p.Sections = append(p.Sections, sec)
	}
	s.render(w, http.StatusOK, "board", p)
}

func (s *Server) render(w http.ResponseWriter, code int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
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
	s.render(w, code, "error", errorData{page: page{Title: "Error", User: userOf(r), Return: safeReturn(r.PostFormValue("return"), "/")},
		Code: code, Message: msg})
}

// safeReturn keeps redirects on this site.
func safeReturn(v, def string) string {
	if v == "" || !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.HasPrefix(v, "/\\") {
		return def
	}
	return v
}
