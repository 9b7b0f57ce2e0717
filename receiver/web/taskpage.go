package web

import (
	"net/http"
	"sort"

	"github.com/minefarm/cgminer-stack/receiver/task"
)

type taskPage struct {
	page
	Task     task.Task
	Problems []task.Problem
	Events   []task.Event
	People   []string
}

// taskPage is GET /tasks/{id}: the task with its problems, labels, history and links.
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
	user := userOf(r)
	p := taskPage{page: page{Title: "#" + r.PathValue("id") + " " + d.Task.Machine, User: user, CSRF: s.csrfToken(user),
		Return: r.URL.Path, Now: s.o.Now()}, Task: d.Task, Problems: d.Problems, Events: d.Events}
	people := map[string]bool{}
	for _, t := range s.o.Config().Teams {
		for _, m := range t.Members {
			people[m] = true
		}
		if t.Lead != "" {
			people[t.Lead] = true
		}
	}
	for u := range s.o.Users() {
		people[u] = true
	}
	for u := range people {
		p.People = append(p.People, u)
	}
	sort.Strings(p.People)
	s.render(w, http.StatusOK, "task", p)
}
