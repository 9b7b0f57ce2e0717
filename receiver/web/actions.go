package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/minefarm/cgminer-stack/receiver/repair"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

var actions = map[string]bool{"ack": true, "start": true, "fixed": true, "note": true, "assign": true, "cancel": true}

// act applies a person's action through the repair service; who may do it is decided inside the
// action's transaction, on the task as stored (authorize). Texts are bounded here.
func (s *Server) act(r *http.Request, id int64, action, text, assignee string) (task.Task, error) {
	if err := checkText(fieldOf(action), text); err != nil {
		return task.Task{}, err
	}
	if len(assignee) > maxUserLen {
		return task.Task{}, fmt.Errorf("%w: %q is not someone tasks can be assigned to", task.ErrInvalidInput, truncate(assignee, maxUserLen))
	}
	cfg := s.o.Config()
	user := userOf(r)
	a := repair.Action{Kind: action, Text: text, Assignee: assignee,
		Allow: func(t task.Task) error { return authorize(cfg, user, action, t, assignee) }}
	t, err := s.o.Service.Act(r.Context(), id, user, a)
	if errors.Is(err, repair.ErrForbidden) {
		s.denied.WithLabelValues(action).Inc()
		s.o.Logger.Info("action refused", "user", user, "action", action, "task", id, "err", err)
	}
	return t, err
}

func fieldOf(action string) string {
	switch action {
	case "fixed":
		return "report"
	case "cancel":
		return "reason"
	}
	return "note"
}

// formAction is POST /tasks/{id}/{action} from the HTML pages: ack, start, fixed, note, assign,
// cancel. It needs the user's CSRF token; the acting user is the one logged in.
func (s *Server) formAction(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxActionBody)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.refused.WithLabelValues("body_too_large").Inc()
			s.errorPage(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("form larger than %d bytes", maxActionBody))
			return
		}
		s.errorPage(w, r, http.StatusBadRequest, "bad form")
		return
	}
	if !s.validCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "the form is stale or did not come from this site; reload the page and try again")
		return
	}
	action := r.PathValue("action")
	if !actions[action] {
		s.errorPage(w, r, http.StatusNotFound, "unknown action")
		return
	}
	id, err := pathID(r)
	if err != nil {
		s.errorPage(w, r, http.StatusNotFound, err.Error())
		return
	}
	var text string
	for _, f := range []string{"report", "note", "reason"} {
		if v := r.PostFormValue(f); v != "" {
			text = v
			break
		}
	}
	if _, err := s.act(r, id, action, text, r.PostFormValue("assignee")); err != nil {
		code := status(err)
		msg := err.Error()
		if code == http.StatusServiceUnavailable {
			s.o.Logger.Error("action not stored", "task", id, "action", action, "err", err)
			msg = "could not save; try again"
		}
		if code == http.StatusBadRequest {
			s.refused.WithLabelValues("bad_input").Inc()
		}
		s.errorPage(w, r, code, msg)
		return
	}
	setFlash(w, action, id)
	http.Redirect(w, r, safeReturn(r.PostFormValue("return"), "/"), http.StatusSeeOther)
}
