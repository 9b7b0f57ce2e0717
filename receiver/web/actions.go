package web

import (
	"net/http"

	"github.com/minefarm/cgminer-stack/receiver/repair"
)

// formAction is POST /tasks/{id}/{action} from the HTML pages: ack, start, fixed, note, assign,
// cancel. It needs the user's CSRF token; the acting user is the one logged in.
func (s *Server) formAction(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
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
	a := repair.Action{Kind: action, Assignee: r.PostFormValue("assignee")}
	for _, f := range []string{"report", "note", "reason"} {
		if v := r.PostFormValue(f); v != "" {
			a.Text = v
			break
		}
	}
	if _, err := s.o.Service.Act(r.Context(), id, userOf(r), a); err != nil {
		code := status(err)
		msg := err.Error()
		if code == http.StatusServiceUnavailable {
			s.o.Logger.Error("action not stored", "task", id, "action", action, "err", err)
			msg = "could not save; try again"
		}
		s.errorPage(w, r, code, msg)
		return
	}
	http.Redirect(w, r, safeReturn(r.PostFormValue("return"), "/"), http.StatusSeeOther)
}
