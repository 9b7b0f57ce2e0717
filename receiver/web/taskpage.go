package web

import (
	"net/http"

	"github.com/minefarm/cgminer-stack/receiver/task"
)

type taskPage struct {
	page
	Task     task.Task
	Perm     perms
	Problems []task.Problem
	// MoreProblems and EarlierEvents count what the page leaves out (the API has everything).
	MoreProblems  int
	Events        []task.Event
	EarlierEvents int
	People        []string
}

// taskPage is GET /tasks/{id}: the task with its problems, labels, history and links; the first
// pageProblems problems and the last pageEvents events.
func (s *Server) taskPage(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.errorPage(w, r, http.StatusNotFound, err.Error())
		return
	}
	d, err := s.o.Store.Detail(r.Context(), id)
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
		Task: d.Task, Problems: d.Problems, Events: d.Events, Perm: permsFor(cfg, user, d.Task)}
	if len(p.Problems) > pageProblems {
		p.MoreProblems = len(p.Problems) - pageProblems
		p.Problems = p.Problems[:pageProblems]
	}
	if len(p.Events) > pageEvents {
		p.EarlierEvents = len(p.Events) - pageEvents
		p.Events = p.Events[len(p.Events)-pageEvents:]
	}
	p.People = assigneesFor(cfg, user, d.Task)
	s.render(w, r, http.StatusOK, "task", p)
}
