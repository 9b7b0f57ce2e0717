package farm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"time"
	"unicode/utf8"
)

// Whatsminer API v3 (TCP 4433), as MicroBT firmware from late 2024 on serves it: every request and
// every reply is one frame, a 4-byte little-endian length and that many bytes of JSON. A request
// is {"cmd":"get.device.info"} with an optional "param"; the reply's envelope is
// {"code":0,"desc":"<cmd>","msg":{…},"when":<unix time>}, code 0 on success and negative on an
// error (-1 fail, -2 invalid command, -3 invalid JSON item, -4 no permission), msg then a string.
// The get.* commands need no token; every set.* command needs one this simulator never grants
// (-4). One request per connection, then the connection closes, as MicroBT's own tools use it.

const (
	// maxV3Request bounds a request frame. A get.* request has under 100 bytes and a set.* one a
	// few KiB; a longer announced length closes the connection unanswered, before anything is
	// allocated for it.
	maxV3Request = 16 << 10
	// maxV3Frame is MicroBT's cap on any frame (1 MiB). The simulator's largest reply, get.device.info
	// with every fault's code, has a few KiB; a test holds it far under the cap.
	maxV3Frame = 1 << 20
	// maxEcho bounds how much of a client's cmd a reply echoes in desc.
	maxEcho = 64
)

// The API v3 error codes (MicroBT's API v3 reference, SOURCES.md of the modern captures).
const (
	v3Fail         = -1
	v3InvalidCmd   = -2
	v3InvalidJSON  = -3
	v3NoPermission = -4
)

var errFrame = errors.New("not an API v3 frame")

// readV3Frame reads one frame's body, refusing a length of 0 or above limit before allocating it.
func readV3Frame(r io.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n == 0 || uint64(n) > uint64(limit) {
		return nil, errFrame
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

// appendV3Frame appends body as one frame.
func appendV3Frame(dst, body []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}

// handleV3 answers one API v3 connection: one request frame, one reply frame, then close. A frame
// that cannot be read (too long, empty, cut short, too slow) closes the connection unanswered.
// The connection-level faults act as on the cgminer API.
func (m *Miner) handleV3(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(m.farm.cfg.ReadTimeout))
	req, err := readV3Frame(conn, maxV3Request)
	if err != nil {
		return
	}
	f, ok := m.delay(conn)
	if !ok {
		return
	}
	if f.has(Garbage) {
		// A broken daemon's bytes in a well-formed frame: the length is right, the body no JSON.
		_, _ = conn.Write(appendV3Frame(nil, garbage(m.seed, m.farm.cfg.Clock.Now())))
		return
	}
	out := appendV3Frame(nil, m.RespondV3(req, nil))
	if f.has(Truncated) {
		out = truncate(out) // the length announces the whole reply; half of it arrives
	}
	_, _ = conn.Write(out)
}

// v3Request is a request frame's JSON. param is a string for every get.* command; set.* commands
// also carry ts, token and account, which are never checked (no token is ever granted).
type v3Request struct {
	Cmd   *string         `json:"cmd"`
	Param json.RawMessage `json:"param"`
}

// RespondV3 answers one API v3 request frame's JSON (without the length), appended to dst.
func (m *Miner) RespondV3(raw []byte, dst []byte) []byte {
	var st *state
	s := func() *state {
		if st == nil {
			st = m.snapshot(m.farm.cfg.Clock.Now())
		}
		return st
	}
	var req v3Request
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&req); err != nil || dec.More() {
		return v3Error(dst, s(), "", v3InvalidJSON, "invalid json")
	}
	if req.Cmd == nil {
		return v3Error(dst, s(), "", v3InvalidCmd, "invalid command")
	}
	cmd := *req.Cmd
	param, hasParam := "", len(req.Param) > 0 && string(req.Param) != "null"
	if hasParam {
		if err := json.Unmarshal(req.Param, &param); err != nil && !strings.HasPrefix(cmd, "set.") {
			return v3Error(dst, s(), cmd, v3InvalidJSON, "invalid param")
		}
	}
	switch {
	case strings.HasPrefix(cmd, "set."):
		return v3Error(dst, s(), cmd, v3NoPermission, "no permission")
	case cmd == "get.device.info":
		msg, ok := v3DeviceInfo(s(), param)
		if !ok {
			return v3Error(dst, s(), cmd, v3InvalidJSON, "invalid param")
		}
		return v3OK(dst, s(), cmd, msg)
	case cmd == "get.miner.status":
		msg, ok := v3MinerStatus(s(), param)
		if !ok {
			return v3Error(dst, s(), cmd, v3InvalidJSON, "invalid param")
		}
		return v3OK(dst, s(), cmd, msg)
	case cmd == "get.miner.setting":
		return v3OK(dst, s(), cmd, v3Setting(s()))
	}
	return v3Error(dst, s(), cmd, v3InvalidCmd, "invalid command")
}

// v3OK writes the success envelope, keys sorted as in every capture.
func v3OK(dst []byte, s *state, cmd string, msg []kv) []byte {
	return appendDoc(dst, []kv{I("code", 0), S("desc", cmd), O("msg", msg...), I("when", s.when)}, true)
}

// v3Error writes an error envelope; desc echoes the request's cmd, cut and made valid UTF-8.
func v3Error(dst []byte, s *state, cmd string, code int64, msg string) []byte {
	return appendDoc(dst, []kv{I("code", code), S("desc", echo(cmd)), S("msg", msg), I("when", s.when)}, true)
}

// echo is a client's string as a reply may repeat it: valid UTF-8, at most maxEcho bytes.
func echo(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxEcho {
		return s
	}
	n := maxEcho
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
