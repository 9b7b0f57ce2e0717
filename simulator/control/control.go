// Package control is minersim's JSON control API: list the miners and set or clear their faults
// at run time. It listens on loopback only; when a token is configured, every request that
// changes a miner needs it as a bearer token.
package control

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/minefarm/cgminer-stack/simulator/farm"
)

// Farm is what the API needs of the farm.
type Farm interface {
	Miners() []*farm.Miner
	Miner(addr netip.Addr) (*farm.Miner, bool)
	Pick(sel farm.Selector) ([]*farm.Miner, error)
}

// API serves the control endpoints.
type API struct {
	farm  Farm
	token string
	log   *slog.Logger
}

// New returns the API. An empty token leaves mutating requests open (loopback only).
func New(f Farm, token string, log *slog.Logger) *API {
	return &API{farm: f, token: token, log: log}
}

// Handler routes the endpoints.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "miners": len(a.farm.Miners())})
	})
	mux.HandleFunc("GET /miners", a.list)
	mux.HandleFunc("GET /miners/{address}", a.get)
	mux.HandleFunc("POST /miners/{address}/faults", a.auth(a.setFault))
	mux.HandleFunc("DELETE /miners/{address}/faults/{fault}", a.auth(a.clearFault))
	mux.HandleFunc("DELETE /miners/{address}/faults", a.auth(a.clearAll))
	mux.HandleFunc("POST /faults", a.auth(a.bulk(true)))
	mux.HandleFunc("DELETE /faults", a.auth(a.bulk(false)))
	return mux
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, apiError{Error: fmt.Sprintf(format, args...)})
}

func (a *API) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="minersim"`)
				fail(w, http.StatusUnauthorized, "this request needs the control token as a bearer token")
				return
			}
		}
		next(w, r)
	}
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	model, fault := r.URL.Query().Get("model"), r.URL.Query().Get("fault")
	if fault != "" {
		if _, err := farm.ParseFault(fault); err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	out := make([]farm.MinerInfo, 0, len(a.farm.Miners()))
	for _, m := range a.farm.Miners() {
		info := m.Info()
		if model != "" && info.Model != model {
			continue
		}
		if fault != "" && !contains(info.Faults, fault) {
			continue
		}
		out = append(out, info)
	}
	writeJSON(w, http.StatusOK, map[string]any{"miners": out})
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// miner finds the miner of the path's address, or answers 400/404.
func (a *API) miner(w http.ResponseWriter, r *http.Request) (*farm.Miner, bool) {
	raw := r.PathValue("address")
	addr, err := netip.ParseAddr(raw)
	if err != nil {
		fail(w, http.StatusBadRequest, "%q is not an IP address", raw)
		return nil, false
	}
	m, ok := a.farm.Miner(addr)
	if !ok {
		fail(w, http.StatusNotFound, "no miner at %s", addr)
		return nil, false
	}
	return m, true
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	if m, ok := a.miner(w, r); ok {
		writeJSON(w, http.StatusOK, m.Info())
	}
}

type faultRequest struct {
	Fault string `json:"fault"`
}

func (a *API) setFault(w http.ResponseWriter, r *http.Request) {
	m, ok := a.miner(w, r)
	if !ok {
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	var req faultRequest
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			fail(w, http.StatusRequestEntityTooLarge, "request body larger than %d bytes", mbe.Limit)
		case errors.Is(err, io.EOF):
			fail(w, http.StatusBadRequest, `empty body: send {"fault": "<name>"}`)
		default:
			fail(w, http.StatusBadRequest, `bad body (want {"fault": "<name>"}): %v`, err)
		}
		return
	}
	if dec.More() {
		fail(w, http.StatusBadRequest, "one JSON object expected, found more")
		return
	}
	if req.Fault == "" {
		fail(w, http.StatusBadRequest, `missing "fault" (known: %s)`, strings.Join(farm.FaultNames(), ", "))
		return
	}
	fl, err := farm.ParseFault(req.Fault)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	changed, err := m.SetFault(fl)
	if err != nil {
		a.log.Error("set fault", "miner", m.Addr(), "fault", fl, "err", err)
		fail(w, http.StatusInternalServerError, "set %s on %s: %v", fl, m.Addr(), err)
		return
	}
	code := http.StatusOK
	if changed {
		code = http.StatusCreated
	}
	writeJSON(w, code, m.Info())
}

func (a *API) clearFault(w http.ResponseWriter, r *http.Request) {
	m, ok := a.miner(w, r)
	if !ok {
		return
	}
	fl, err := farm.ParseFault(r.PathValue("fault"))
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if _, err := m.ClearFault(fl); err != nil {
		a.log.Error("clear fault", "miner", m.Addr(), "fault", fl, "err", err)
		fail(w, http.StatusInternalServerError, "clear %s on %s: %v", fl, m.Addr(), err)
		return
	}
	writeJSON(w, http.StatusOK, m.Info())
}

func (a *API) clearAll(w http.ResponseWriter, r *http.Request) {
	m, ok := a.miner(w, r)
	if !ok {
		return
	}
	if err := m.ClearFaults(); err != nil {
		a.log.Error("clear faults", "miner", m.Addr(), "err", err)
		fail(w, http.StatusInternalServerError, "clear faults on %s: %v", m.Addr(), err)
		return
	}
	writeJSON(w, http.StatusOK, m.Info())
}

// maxBulkBody bounds a bulk request: a list of a few thousand addresses fits.
const maxBulkBody = 64 << 10

// bulkRequest selects miners for an outage drill: range, model and miners must all hold; count
// then picks that many of them (the same ones every time, from the seed).
type bulkRequest struct {
	Fault  string   `json:"fault"`
	Range  string   `json:"range"`
	Model  string   `json:"model"`
	Miners []string `json:"miners"`
	Count  int      `json:"count"`
}

type bulkAnswer struct {
	Fault    string   `json:"fault,omitempty"`
	Selected int      `json:"selected"`
	Changed  int      `json:"changed"`
	Miners   []string `json:"miners"`
}

// bulk sets (POST) or clears (DELETE) a fault on every miner a selector picks: 201 when at least
// one miner changed on POST, else 200; 400 for a bad selector or fault. DELETE without a fault
// clears every fault of the selected miners.
func (a *API) bulk(set bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBulkBody))
		dec.DisallowUnknownFields()
		var req bulkRequest
		if err := dec.Decode(&req); err != nil {
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				fail(w, http.StatusRequestEntityTooLarge, "request body larger than %d bytes", mbe.Limit)
			case errors.Is(err, io.EOF):
				fail(w, http.StatusBadRequest, `empty body: send {"fault": "<name>", "range": "<cidr>"} or model/count/miners`)
			default:
				fail(w, http.StatusBadRequest, "bad body: %v", err)
			}
			return
		}
		if dec.More() {
			fail(w, http.StatusBadRequest, "one JSON object expected, found more")
			return
		}
		var fl farm.Fault
		all := false
		switch {
		case req.Fault == "" && set:
			fail(w, http.StatusBadRequest, `missing "fault" (known: %s)`, strings.Join(farm.FaultNames(), ", "))
			return
		case req.Fault == "":
			all = true
		default:
			var err error
			if fl, err = farm.ParseFault(req.Fault); err != nil {
				fail(w, http.StatusBadRequest, "%v", err)
				return
			}
		}
		sel := farm.Selector{Model: req.Model, Count: req.Count}
		if req.Range != "" {
			p, err := netip.ParsePrefix(req.Range)
			if err != nil {
				fail(w, http.StatusBadRequest, "range %q is not a CIDR prefix", truncate(req.Range))
				return
			}
			sel.Range = p
		}
		for _, s := range req.Miners {
			addr, err := netip.ParseAddr(s)
			if err != nil {
				fail(w, http.StatusBadRequest, "%q is not an IP address", truncate(s))
				return
			}
			sel.Miners = append(sel.Miners, addr)
		}
		ms, err := a.farm.Pick(sel)
		if err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
		ans := bulkAnswer{Fault: req.Fault, Selected: len(ms), Miners: make([]string, len(ms))}
		var errs []error
		for i, m := range ms {
			ans.Miners[i] = m.Addr().String()
			var changed bool
			var err error
			switch {
			case set:
				changed, err = m.SetFault(fl)
			case all:
				changed = len(m.Faults()) > 0
				err = m.ClearFaults()
			default:
				changed, err = m.ClearFault(fl)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", m.Addr(), err))
			}
			if changed {
				ans.Changed++
			}
		}
		if err := errors.Join(errs...); err != nil {
			a.log.Error("bulk fault change", "fault", req.Fault, "set", set, "err", err)
			fail(w, http.StatusInternalServerError, "%v", err)
			return
		}
		a.log.Info("bulk fault change", "fault", req.Fault, "set", set, "selected", ans.Selected, "changed", ans.Changed)
		code := http.StatusOK
		if set && ans.Changed > 0 {
			code = http.StatusCreated
		}
		writeJSON(w, code, ans)
	}
}

// truncate shortens client input quoted back in an error.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
