package web

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/minefarm/cgminer-stack/receiver/alert"
)

// maxAlertLogs bounds the log lines one delivery writes about refused alerts, and about cut ones.
const maxAlertLogs = 20

// webhook is POST /api/v1/alerts: 2xx only after the delivery is committed, 503 when the store
// failed (Alertmanager retries 5xx), 400 for a payload that can never be accepted, 401 without the
// bearer token, 413 over the size limit.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	cfg := s.o.Config()
	if tok := cfg.Webhook.Token.Reveal(); tok != "" {
		h := r.Header.Get("Authorization")
		got, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
			s.requests.WithLabelValues("unauthorized").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="repair_receiver"`)
			writeJSONError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, cfg.Webhook.MaxBodyBytes)
	msg, err := alert.Decode(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.requests.WithLabelValues("too_large").Inc()
			writeJSONError(w, http.StatusRequestEntityTooLarge, "payload larger than webhook.max_body_bytes")
			return
		}
		s.requests.WithLabelValues("bad_request").Inc()
		s.o.Logger.Warn("webhook payload refused", "err", err, "remote", r.RemoteAddr)
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	res := s.o.Service.Keyer().Events(msg)
	for _, a := range msg.Alerts {
		switch a.Status {
		case "firing", "resolved":
			s.alerts.WithLabelValues(a.Status).Inc()
		}
	}
	// groupKey is the sender's string: logged cut. A delivery logs at most maxAlertLogs lines
	// about its alerts (every one is counted).
	groupKey := truncate(msg.GroupKey, 256)
	for i, rej := range res.Rejected {
		s.alerts.WithLabelValues("rejected").Inc()
		if i < maxAlertLogs {
			s.o.Logger.Warn("alert refused", "index", rej.Index, "reason", rej.Reason, "groupKey", groupKey)
		}
	}
	for i, tr := range res.Trimmed {
		if tr.Index >= 0 {
			s.alerts.WithLabelValues("trimmed").Inc()
		}
		if i < maxAlertLogs {
			s.o.Logger.Warn("alert taken with a field cut or dropped", "index", tr.Index, "what", tr.What, "groupKey", groupKey)
		}
	}
	if len(res.Rejected) > maxAlertLogs || len(res.Trimmed) > maxAlertLogs {
		s.o.Logger.Warn("more alerts refused or cut than logged", "refused", len(res.Rejected), "cut", len(res.Trimmed), "groupKey", groupKey)
	}
	sum, err := s.o.Service.Ingest(r.Context(), res)
	if err != nil {
		s.requests.WithLabelValues("store_error").Inc()
		s.o.Logger.Error("webhook delivery not stored; Alertmanager will retry", "err", err, "alerts", len(msg.Alerts))
		writeJSONError(w, http.StatusServiceUnavailable, "could not store the delivery; retry")
		return
	}
	result := "ok"
	if len(res.Rejected) > 0 {
		result = "rejected_alerts"
	}
	s.requests.WithLabelValues(result).Inc()
	s.o.Logger.Debug("webhook delivery stored", "alerts", len(msg.Alerts), "created", sum.Created, "joined", sum.Joined,
		"reopened", sum.Reopened, "cleared", sum.Cleared, "duplicates", sum.Duplicates, "unknown", sum.Unknown)
	rejected := make([]map[string]any, 0, len(res.Rejected))
	for _, rej := range res.Rejected {
		rejected = append(rejected, map[string]any{"index": rej.Index, "reason": rej.Reason})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "stored", "created": sum.Created, "joined": sum.Joined, "reopened": sum.Reopened,
		"cleared": sum.Cleared, "duplicates": sum.Duplicates, "unknown_resolved": sum.Unknown, "rejected": rejected,
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
