package cgminer

import (
	"fmt"
	"strings"
)

// Status is one entry of a reply's STATUS envelope.
type Status struct {
	// Status is the letter: S success, I informational, W warning, E error, F fatal. For the bare
	// string form (`{"STATUS":"RESTART"}`) it holds that word.
	Status      string
	When        int64
	Code        int
	Msg         string
	Description string
	// MsgValue holds Msg when the firmware sends an object there (Whatsminer get_version,
	// status); Msg is then empty.
	MsgValue Value
}

// OK reports success: S and I are success, W, E and F are failure.
func (s Status) OK() bool { return s.Status == "S" || s.Status == "I" }

func (s Status) String() string {
	return fmt.Sprintf("%s code=%d msg=%q", s.Status, s.Code, s.Msg)
}

// StatusOf reads the STATUS envelope of one command's reply in all its shapes: the usual array
// of objects, Whatsminer's flat form (the letter in "STATUS", Code/Msg/When/Description beside
// it) and the bare string of restart/quit.
func StatusOf(body Value) []Status {
	st, ok := body.Lookup("STATUS")
	if !ok {
		return nil
	}
	switch st.Kind() {
	case Array:
		out := make([]Status, 0, len(st.arr()))
		for _, e := range st.arr() {
			out = append(out, statusFrom(e))
		}
		return out
	case Object:
		return []Status{statusFrom(st)}
	case String:
		letter := st.str
		if len(letter) == 1 {
			// Flat Whatsminer form: the rest of the envelope sits beside STATUS.
			s := statusFrom(body)
			s.Status = letter
			return []Status{s}
		}
		return []Status{{Status: letter}}
	}
	return nil
}

func statusFrom(o Value) Status {
	s := Status{Status: o.StrKey("STATUS"), Description: o.StrKey("Description")}
	if f, ok := o.FloatKey("When"); ok {
		s.When = int64(f)
	}
	if f, ok := o.FloatKey("Code"); ok {
		s.Code = int(f)
	}
	if m := o.Get("Msg"); m.Kind() == Object {
		s.MsgValue = m
	} else {
		s.Msg = m.Str()
	}
	return s
}

// Reply is one command's reply.
type Reply struct {
	Command string
	// Body is the command's whole reply object: STATUS, the data sections, id.
	Body    Value
	Status  []Status
	Repairs Repair
}

// OK reports whether the command succeeded: its first status is S or I. A reply without any
// STATUS but with data (some forks) counts as success.
func (r *Reply) OK() bool {
	if len(r.Status) == 0 {
		return len(r.Body.obj()) > 0
	}
	return r.Status[0].OK()
}

// Err describes a failed reply, or returns nil.
func (r *Reply) Err() error {
	if r.OK() {
		return nil
	}
	if len(r.Status) == 0 {
		return &APIError{Command: r.Command}
	}
	return &APIError{Command: r.Command, Status: r.Status[0]}
}

// Section returns a data section such as "SUMMARY", "POOLS", "DEVS" or "STATS" as a list of
// objects. The name is matched exactly first, then ignoring case. A section sent as one object
// instead of a list is returned as a list of one.
func (r *Reply) Section(name string) []Value {
	v, ok := r.Body.Lookup(name)
	if !ok {
		if v, ok = r.Body.LookupFold(name); !ok {
			return nil
		}
	}
	switch v.Kind() {
	case Array:
		return v.arr()
	case Object:
		return []Value{v}
	}
	return nil
}

// First returns the first object of a section, or null.
func (r *Reply) First(name string) Value {
	if s := r.Section(name); len(s) > 0 {
		return s[0]
	}
	return Value{}
}

// APIError is a command the miner answered with a failure status.
type APIError struct {
	Command string
	Status  Status
}

func (e *APIError) Error() string {
	if e.Status.Status == "" {
		return fmt.Sprintf("command %s: reply without status or data", e.Command)
	}
	return fmt.Sprintf("command %s: status %s code %d: %s", e.Command, e.Status.Status, e.Status.Code, strings.TrimSpace(e.Status.Msg))
}

// InvalidCommand reports cgminer's Code 14 "Invalid command": the firmware does not have it.
func (e *APIError) InvalidCommand() bool {
	return e.Status.Code == 14 || strings.Contains(strings.ToLower(e.Status.Msg), "invalid command")
}

// splitJoined splits the reply to a joined request into one reply per command. The usual form is
// {"summary":[{…}],"pools":[{…}],"id":1}; an object in place of the one-element list (the API
// README's example) is accepted too. ok is false when the reply is not keyed by command, which
// means the firmware did not understand the join.
func splitJoined(top Value, cmds []Command, rep Repair) (map[string]*Reply, bool) {
	if _, hasStatus := top.Lookup("STATUS"); hasStatus {
		return nil, false
	}
	out := make(map[string]*Reply, len(cmds))
	for _, c := range cmds {
		v, ok := top.Lookup(c.name)
		if !ok {
			continue
		}
		body := v
		if v.Kind() == Array {
			if len(v.arr()) == 0 {
				continue
			}
			body = v.arr()[0]
		}
		if body.Kind() != Object {
			continue
		}
		out[c.name] = newReply(c.name, body, rep)
	}
	return out, len(out) > 0
}

func newReply(cmd string, body Value, rep Repair) *Reply {
	return &Reply{Command: cmd, Body: body, Status: StatusOf(body), Repairs: rep}
}
