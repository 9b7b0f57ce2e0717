package web

import (
	"net/http"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

type taskPage struct {
	page
	Task     task.Task
	Perm     perms
	Problems []task.Problem
	Events   []task.Event
	// The counts of what the task holds; MoreProblems and EarlierEvents what the page leaves out.
	ProblemCount, FiringCount, EventCount int
	MoreProblems, EarlierEvents           int
	People                                []string
	View                                  view
	Snapshot                              *snapshotView
	Deliveries                            []deliveryView // the last notifications (notifications.go)
}

// taskPage is GET /tasks/{id}: the task with its problems, labels, history and links; the first
// pageProblems problems (firing first) and the last pageEvents events, read as such from the store.
func (s *Server) taskPage(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.errorPage(w, r, http.StatusNotFound, err.Error())
		return
	}
	d, err := s.o.Store.Detail(r.Context(), id, store.DetailQuery{Problems: pageProblems, Events: pageEvents})
	if err != nil {
		code := status(err)
		if code == http.StatusServiceUnavailable {
			s.o.Metrics.StoreErrors.WithLabelValues("detail").Inc()
			s.errorPage(w, r, code, "store unavailable")
			return
		}
		s.errorPage(w, r, code, err.Error())
		return
	}
	cfg := s.o.Config()
	user := userOf(r)
	p := taskPage{page: s.pageFor(r, "#"+r.PathValue("id")+" "+truncate(d.Task.Machine, 128), r.URL.Path),
		Task: d.Task, Problems: d.Problems, Events: d.Events, Perm: permsFor(cfg, user, d.Task),
		ProblemCount: d.ProblemCount, FiringCount: d.FiringCount, EventCount: d.EventCount,
		MoreProblems: max(d.ProblemCount-len(d.Problems), 0), EarlierEvents: max(d.EventCount-len(d.Events), 0)}
	p.People = assigneesFor(cfg, user, d.Task)
	facts, err := s.o.Store.Facts(r.Context(), []int64{id})
	if err != nil {
		s.o.Metrics.StoreErrors.WithLabelValues("detail").Inc()
		s.errorPage(w, r, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	p.View = s.viewOf(cfg, d.Task, facts[id], d.Problems, p.Now)
	undelivered, err := s.o.Store.Undeliverable(r.Context(), []int64{id})
	if err == nil {
		p.View.Undeliverable = undelivered[id]
		p.Deliveries, err = s.deliveries(r.Context(), id)
	}
	if err != nil {
		s.o.Metrics.StoreErrors.WithLabelValues("detail").Inc()
		s.errorPage(w, r, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	p.Title = "#" + r.PathValue("id") + " " + p.View.Headline
	sn, ok, err := s.o.Store.Snapshot(r.Context(), id)
	if err != nil {
		s.o.Metrics.StoreErrors.WithLabelValues("detail").Inc()
		s.errorPage(w, r, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	if ok {
		p.Snapshot = &snapshotView{Snapshot: sn, Taken: local(sn.TakenAt, cfg.Display.Location())}
	}
	p.Flash = takeFlash(w, r)
	s.render(w, r, http.StatusOK, "task", p)
}
