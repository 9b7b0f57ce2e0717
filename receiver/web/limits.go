package web

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// Request and answer bounds. Everything a client sends is bounded before it drives a loop, an
// allocation or a query.
const (
	// maxQueryBytes: the board's and the API's filters fit in a few hundred bytes.
	maxQueryBytes = 2048
	// maxFilterValue bounds one filter value (site, assignee, category, instance).
	maxFilterValue = 256
	// maxListLimit caps the API list's limit; defaultListLimit when none is given.
	maxListLimit     = 1000
	defaultListLimit = 500
	// maxActionBody bounds an API action's JSON body and an HTML form.
	maxActionBody = 64 << 10
	// maxText bounds a note, a repair report or a cancel reason.
	maxText = 4096
	// defaultMaxPage bounds a rendered HTML page and a JSON answer; past it the answer is refused
	// (500) rather than built. With the board's per-section limits a page stays far below it.
	defaultMaxPage = 8 << 20
	// The task page shows the most recent events and the first problems (firing first); the API
	// returns as many by default and pages through the rest (detailOf).
	pageEvents   = store.DefaultDetailEvents
	pageProblems = store.DefaultDetailProblems
	// maxProblemsOffset bounds problems_offset (a task holds one problem per occurrence).
	maxProblemsOffset = 1 << 30
	// pageValue bounds a label, annotation or title as shown on a page.
	pageValue = 1024
)

var errTooLarge = errors.New("answer too large")

// capped is a buffer that refuses to grow past max bytes.
type capped struct {
	bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if c.Len()+len(p) > c.max {
		return 0, errTooLarge
	}
	return c.Buffer.Write(p)
}

// filterParams are the query parameters the board and the list take; limit only the API.
var filterParams = map[string]bool{"state": true, "site": true, "assignee": true, "category": true, "instance": true}

type queryError struct {
	code int
	msg  string
}

func (e *queryError) Error() string { return e.msg }

func badQuery(format string, args ...any) error {
	return &queryError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// checkQuery refuses a query string longer than maxQueryBytes (414).
func checkQuery(r *http.Request) error {
	if len(r.URL.RawQuery) > maxQueryBytes {
		return &queryError{code: http.StatusRequestURITooLong, msg: fmt.Sprintf("query string of %d bytes; at most %d", len(r.URL.RawQuery), maxQueryBytes)}
	}
	return nil
}

func queryStatus(err error) int {
	var qe *queryError
	if errors.As(err, &qe) {
		return qe.code
	}
	return http.StatusBadRequest
}

// filterOf reads state (repeatable, deduplicated), assignee, site, category, instance and, for the
// API (withLimit), limit. Unknown parameters, repeated single parameters, unknown states and
// categories and overlong values are refused.
func filterOf(r *http.Request, withLimit bool) (store.Filter, error) {
	f := store.Filter{}
	if err := checkQuery(r); err != nil {
		return f, err
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return f, badQuery("malformed query string")
	}
	for k, vs := range q {
		switch {
		case filterParams[k]:
		case k == "limit" && withLimit:
		default:
			return f, badQuery("unknown parameter %q (state, site, assignee, category, instance%s)", truncate(k, 32), map[bool]string{true: ", limit"}[withLimit])
		}
		if k != "state" && len(vs) > 1 {
			return f, badQuery("%s given %d times; give it once", k, len(vs))
		}
		for _, v := range vs {
			if len(v) > maxFilterValue || !utf8.ValidString(v) {
				return f, badQuery("%s: at most %d bytes of UTF-8", k, maxFilterValue)
			}
		}
	}
	f.Assignee, f.Site, f.Category, f.Instance = q.Get("assignee"), q.Get("site"), q.Get("category"), q.Get("instance")
	if f.Category != "" && !slices.Contains(Categories, f.Category) {
		return f, badQuery("unknown category %q (%v)", f.Category, Categories)
	}
	seen := map[task.State]bool{}
	for _, v := range q["state"] {
		if v == "" {
			continue
		}
		st, err := task.ParseState(v)
		if err != nil {
			return f, badQuery("%v", err)
		}
		seen[st] = true
	}
	for _, st := range task.States { // board order, each once
		if seen[st] {
			f.States = append(f.States, st)
		}
	}
	if withLimit {
		f.Limit = defaultListLimit
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n <= 0 || n > maxListLimit {
				return f, badQuery("limit must be 1..%d", maxListLimit)
			}
			f.Limit = n
		}
	}
	return f, nil
}

// detailOf reads GET /api/v1/tasks/{id}'s parameters: events_limit (1..store.MaxDetailEvents),
// events_before (an event id), problems_limit (1..store.MaxDetailProblems), problems_offset; each
// at most once, nothing else.
func detailOf(r *http.Request) (store.DetailQuery, error) {
	q := store.DetailQuery{Events: pageEvents, Problems: pageProblems}
	if err := checkQuery(r); err != nil {
		return q, err
	}
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return q, badQuery("malformed query string")
	}
	for k, vs := range vals {
		var lo, hi int64
		switch k {
		case "events_limit":
			lo, hi = 1, store.MaxDetailEvents
		case "problems_limit":
			lo, hi = 1, store.MaxDetailProblems
		case "events_before":
			lo, hi = 1, math.MaxInt64
		case "problems_offset":
			lo, hi = 0, maxProblemsOffset
		default:
			return q, badQuery("unknown parameter %q (events_limit, events_before, problems_limit, problems_offset)", truncate(k, 32))
		}
		if len(vs) > 1 {
			return q, badQuery("%s given %d times; give it once", k, len(vs))
		}
		n, err := strconv.ParseInt(vs[0], 10, 64)
		if err != nil || n < lo || n > hi {
			return q, badQuery("%s must be %d..%d", k, lo, hi)
		}
		switch k {
		case "events_limit":
			q.Events = int(n)
		case "problems_limit":
			q.Problems = int(n)
		case "events_before":
			q.EventsBefore = n
		case "problems_offset":
			q.ProblemsOffset = int(n)
		}
	}
	return q, nil
}

// canonical is the board's address for a filter: what the forms return to, built from the parsed
// filter, never from the raw request.
func canonical(f store.Filter) string {
	v := url.Values{}
	for _, st := range f.States {
		v.Add("state", string(st))
	}
	for k, s := range map[string]string{"site": f.Site, "assignee": f.Assignee, "category": f.Category, "instance": f.Instance} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// checkText bounds a note, report or reason.
func checkText(field, s string) error {
	if len(s) > maxText {
		return fmt.Errorf("%w: %s of %d bytes; at most %d", task.ErrInvalidInput, field, len(s), maxText)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not UTF-8", task.ErrInvalidInput, field)
	}
	return nil
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
