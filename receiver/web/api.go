package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

type taskJSON struct {
	ID              int64             `json:"id"`
	Machine         string            `json:"machine"`
	Fleet           bool              `json:"fleet"`
	Identity        map[string]string `json:"identity"`
	Location        map[string]string `json:"location"`
	Site            string            `json:"site"`
	Category        string            `json:"category"`
	Severity        string            `json:"severity"`
	Title           string            `json:"title"`
	State           task.State        `json:"state"`
	Cleared         bool              `json:"cleared"`
	Assignee        string            `json:"assignee"`
	Team            string            `json:"team"`
	CreatedAt       *time.Time        `json:"created_at,omitempty"`
	UpdatedAt       *time.Time        `json:"updated_at,omitempty"`
	OpenedAt        *time.Time        `json:"opened_at,omitempty"`
	AckedAt         *time.Time        `json:"acknowledged_at,omitempty"`
	StartedAt       *time.Time        `json:"started_at,omitempty"`
	ReportedAt      *time.Time        `json:"reported_at,omitempty"`
	ClosedAt        *time.Time        `json:"closed_at,omitempty"`
	ClearedAt       *time.Time        `json:"cleared_at,omitempty"`
	LastEscalatedAt *time.Time        `json:"last_escalated_at,omitempty"`
	Report          string            `json:"report,omitempty"`
	Reason          string            `json:"reason,omitempty"`
	Recurrences     int               `json:"recurrences"`
	FailedRepairs   int               `json:"failed_repairs"`
	Escalations     int               `json:"escalations"`
	Problems        []problemJSON     `json:"problems,omitempty"`
	History         []eventJSON       `json:"history,omitempty"`
	// Headline is the human title ("Antminer S19j Pro at site-a › rack-2 › slot 14: fan 1
	// stopped"); MachineInfo what the monitoring says the machine is (api_evidence.go).
	Headline    string       `json:"headline,omitempty"`
	MachineInfo *machineJSON `json:"machine_info,omitempty"`
	// Undeliverable counts the task's notifications that could not be delivered.
	Undeliverable int `json:"undeliverable_notifications"`
}

type problemJSON struct {
	ID           int64             `json:"id"`
	Key          string            `json:"key"`
	Alertname    string            `json:"alertname"`
	Category     string            `json:"category"`
	Severity     string            `json:"severity"`
	Firing       bool              `json:"firing"`
	StartsAt     *time.Time        `json:"starts_at,omitempty"`
	EndsAt       *time.Time        `json:"ends_at,omitempty"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	Fingerprint  string            `json:"fingerprint"`
	GeneratorURL string            `json:"generator_url,omitempty"`
	SourceURL    string            `json:"source_url,omitempty"`
}

type eventJSON struct {
	ID    int64      `json:"id"`
	At    time.Time  `json:"at"`
	Actor string     `json:"actor"`
	Kind  string     `json:"kind"`
	From  task.State `json:"from,omitempty"`
	To    task.State `json:"to,omitempty"`
	Text  string     `json:"text"`
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toJSON(t task.Task) taskJSON {
	return taskJSON{ID: t.ID, Machine: t.Machine, Fleet: t.Fleet, Identity: t.Identity, Location: t.Location, Site: t.Site,
		Category: t.Category, Severity: t.Severity, Title: t.Title, State: t.State, Cleared: t.Cleared(), Assignee: t.Assignee,
		Team: t.Team, CreatedAt: tp(t.CreatedAt), UpdatedAt: tp(t.UpdatedAt), OpenedAt: tp(t.OpenedAt), AckedAt: tp(t.AckedAt),
		StartedAt: tp(t.StartedAt), ReportedAt: tp(t.ReportedAt), ClosedAt: tp(t.ClosedAt), ClearedAt: tp(t.ClearedAt),
		LastEscalatedAt: tp(t.LastEscalatedAt), Report: t.Report, Reason: t.Reason, Recurrences: t.Recurrences,
		FailedRepairs: t.FailedRepairs, Escalations: t.Escalations}
}

// taskDetailJSON is GET /api/v1/tasks/{id}: the task, a page of its problems and history, the
// counts, and where the next pages start (absent when there is none).
type taskDetailJSON struct {
	taskJSON
	ProblemCount       int   `json:"problem_count"`
	FiringCount        int   `json:"firing_count"`
	EventCount         int   `json:"event_count"`
	NextEventsBefore   int64 `json:"next_events_before,omitempty"`
	NextProblemsOffset int   `json:"next_problems_offset,omitempty"`
	// Snapshot is the evidence snapshot (absent when the task has none).
	Snapshot *snapshotJSON `json:"snapshot,omitempty"`
	// Notifications are the task's last deliveries with their attempts (notifications.go).
	Notifications []deliveryJSON `json:"notifications"`
}

func detailJSON(d store.Detail, q store.DetailQuery) taskDetailJSON {
	j := taskDetailJSON{taskJSON: detailTaskJSON(d), ProblemCount: d.ProblemCount, FiringCount: d.FiringCount, EventCount: d.EventCount}
	if d.MoreEvents && len(d.Events) > 0 {
		j.NextEventsBefore = d.Events[0].ID
	}
	if next := max(q.ProblemsOffset, 0) + len(d.Problems); len(d.Problems) > 0 && next < d.ProblemCount {
		j.NextProblemsOffset = next
	}
	return j
}

func detailTaskJSON(d store.Detail) taskJSON {
	j := toJSON(d.Task)
	for _, p := range d.Problems {
		j.Problems = append(j.Problems, problemJSON{ID: p.ID, Key: p.Key, Alertname: p.Alertname, Category: p.Category,
			Severity: p.Severity, Firing: p.Firing, StartsAt: tp(p.StartsAt), EndsAt: tp(p.EndsAt), Labels: p.Labels,
			Annotations: p.Annotations, Fingerprint: p.Fingerprint, GeneratorURL: p.GeneratorURL, SourceURL: p.SourceURL})
	}
	for _, e := range d.Events {
		j.History = append(j.History, eventJSON{ID: e.ID, At: e.At, Actor: e.Actor, Kind: e.Kind, From: e.From, To: e.To, Text: e.Text})
	}
	return j
}

// apiList is GET /api/v1/tasks: at most limit tasks (default 500, at most 1000), newest first.
func (s *Server) apiList(w http.ResponseWriter, r *http.Request) {
	f, err := filterOf(r, true)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	ts, err := s.o.Store.ListTasks(r.Context(), f)
	if err != nil {
		s.storeError(w, "list", err)
		return
	}
	cfg := s.o.Config()
	views, err := s.views(r.Context(), cfg, ts)
	if err != nil {
		s.storeError(w, "list", err)
		return
	}
	facts, err := s.o.Store.Facts(r.Context(), taskIDs(ts))
	if err != nil {
		s.storeError(w, "list", err)
		return
	}
	out := make([]taskJSON, len(ts))
	for i, t := range ts {
		out[i] = toJSON(t)
		out[i].Headline = views[t.ID].Headline
		out[i].Undeliverable = views[t.ID].Undeliverable
		if !t.Fleet {
			out[i].MachineInfo = machineOf(t, facts[t.ID], cfg.LocationLabels)
		}
	}
	s.writeBoundedJSON(w, map[string]any{"tasks": out}, "ask for fewer tasks (limit) or narrow the filter")
}

// writeBoundedJSON encodes into a buffer of at most MaxPageBytes; a larger answer is refused.
func (s *Server) writeBoundedJSON(w http.ResponseWriter, v any, hint string) {
	buf := &capped{max: s.o.MaxPageBytes}
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		if errors.Is(err, errTooLarge) {
			s.refused.WithLabelValues("answer_too_large").Inc()
			writeJSONError(w, http.StatusInternalServerError, fmt.Sprintf("the answer would exceed %d bytes; %s", s.o.MaxPageBytes, hint))
			return
		}
		s.o.Logger.Error("encode", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "cannot encode the answer")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) storeError(w http.ResponseWriter, op string, err error) {
	s.o.Metrics.StoreErrors.WithLabelValues(op).Inc()
	s.o.Logger.Error("store", "op", op, "err", err)
	writeJSONError(w, http.StatusServiceUnavailable, "store unavailable")
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: task id %q", task.ErrNotFound, r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) apiGet(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		writeJSONError(w, http.StatusNotFound, err.Error())
		return
	}
	q, err := detailOf(r)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	d, err := s.o.Store.Detail(r.Context(), id, q)
	if err != nil {
		if status(err) == http.StatusNotFound {
			writeJSONError(w, http.StatusNotFound, err.Error())
			return
		}
		s.storeError(w, "detail", err)
		return
	}
	j := detailJSON(d, q)
	cfg := s.o.Config()
	facts, err := s.o.Store.Facts(r.Context(), []int64{id})
	if err != nil {
		s.storeError(w, "detail", err)
		return
	}
	j.Headline = task.Headline(d.Task, facts[id], d.Problems, cfg.LocationLabels)
	if !d.Task.Fleet {
		j.MachineInfo = machineOf(d.Task, facts[id], cfg.LocationLabels)
	}
	sn, ok, err := s.o.Store.Snapshot(r.Context(), id)
	if err != nil {
		s.storeError(w, "detail", err)
		return
	}
	if ok {
		j.Snapshot = snapshotOf(sn)
	}
	undelivered, err := s.o.Store.Undeliverable(r.Context(), []int64{id})
	if err != nil {
		s.storeError(w, "detail", err)
		return
	}
	ds, err := s.o.Store.Deliveries(r.Context(), id, pageDeliveries)
	if err != nil {
		s.storeError(w, "detail", err)
		return
	}
	j.Undeliverable, j.Notifications = undelivered[id], deliveriesJSON(ds)
	s.writeBoundedJSON(w, j, "ask for fewer problems or events (problems_limit, events_limit)")
}

// actionBody is the JSON body of POST /api/v1/tasks/{id}/{action}.
type actionBody struct {
	Report   string `json:"report"`
	Text     string `json:"text"`
	Note     string `json:"note"`
	Reason   string `json:"reason"`
	Assignee string `json:"assignee"`
}

func (s *Server) apiAction(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if !actions[action] {
		writeJSONError(w, http.StatusNotFound, fmt.Sprintf("unknown action %q (ack, start, fixed, note, assign, cancel)", action))
		return
	}
	id, err := pathID(r)
	if err != nil {
		writeJSONError(w, http.StatusNotFound, err.Error())
		return
	}
	// A JSON content type cannot be sent cross-site without a CORS preflight, which we never grant.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSONError(w, http.StatusUnsupportedMediaType, "send Content-Type: application/json (an empty body is fine)")
		return
	}
	var body actionBody
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxActionBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.refused.WithLabelValues("body_too_large").Inc()
			writeJSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxActionBody))
			return
		}
		writeJSONError(w, http.StatusBadRequest, "cannot read the body")
		return
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			writeJSONError(w, http.StatusBadRequest, "invalid JSON: "+truncate(err.Error(), 200))
			return
		}
	}
	var text string
	for _, t := range []string{body.Report, body.Note, body.Reason, body.Text} {
		if t != "" {
			text = t
			break
		}
	}
	t, err := s.act(r, id, action, text, body.Assignee)
	if err != nil {
		code := status(err)
		if code == http.StatusServiceUnavailable {
			s.o.Logger.Error("action not stored", "task", id, "action", action, "err", err)
			writeJSONError(w, code, "store unavailable")
			return
		}
		if code == http.StatusBadRequest {
			s.refused.WithLabelValues("bad_input").Inc()
		}
		writeJSONError(w, code, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, toJSON(t))
}
