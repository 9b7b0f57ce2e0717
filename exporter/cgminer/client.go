// Package cgminer is a client for the cgminer-style JSON API that ASIC miners serve on TCP 4028:
// framing, deadlines, a size cap, repair of the malformed JSON firmware emits, the STATUS envelope
// in all its shapes, and joined commands with a fallback to separate requests. It can only send
// the read-only commands this package defines.
package cgminer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultPort is the cgminer API port.
const DefaultPort = "4028"

// DefaultMaxReplyBytes caps one reply unless the client says otherwise. The largest real replies
// (Avalon estats with many modules, btminer error lists) stay far below it.
const DefaultMaxReplyBytes = 1 << 20

// Reason says why a probe failed, in a few stable words fit for a metric label.
type Reason string

// The reasons an exchange with a miner fails.
const (
	ReasonRefused     Reason = "connection_refused"
	ReasonTimeout     Reason = "timeout"
	ReasonUnreachable Reason = "unreachable"
	ReasonReset       Reason = "connection_reset"
	ReasonDial        Reason = "dial_error"
	ReasonEmpty       Reason = "empty_reply"
	ReasonTooLarge    Reason = "reply_too_large"
	ReasonTruncated   Reason = "truncated_reply"
	ReasonMalformed   Reason = "malformed_reply"
	ReasonNotAPI      Reason = "not_cgminer_api"
	ReasonAPIError    Reason = "api_error"
)

// Error is a failed exchange with a miner.
type Error struct {
	Reason Reason
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.Reason, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the reason of an error from this package ("" for nil).
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ReasonAPIError
	}
	return classify(err)
}

// ConnectionLevel reasons mean the miner cannot be talked to now; asking again for another
// command is pointless.
func (r Reason) ConnectionLevel() bool {
	switch r {
	case ReasonRefused, ReasonTimeout, ReasonUnreachable, ReasonDial:
		return true
	}
	return false
}

func classify(err error) Reason {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.Canceled):
		return ReasonTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ReasonReset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return ReasonUnreachable
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ReasonTimeout
	}
	return ReasonDial
}

// Client talks to miners. It keeps nothing about them between queries (what a miner's firmware
// refuses is the caller's to remember: Result.JoinRefused), so one Client serves every probe and
// scan at once. The zero value is ready to use.
type Client struct {
	// MaxReplyBytes caps one reply (DefaultMaxReplyBytes when 0).
	MaxReplyBytes int
	// Dial opens the TCP connection (a net.Dialer when nil).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Exchange is one request and its reply as it crossed the wire.
type Exchange struct {
	Request string
	// Raw is the reply up to its first NUL, kept only when Options.KeepRaw and the reply is
	// cgminer API (API): what another service on the port says is never kept, so debug output
	// cannot echo its banner.
	Raw      []byte
	API      bool
	Bytes    int
	Duration time.Duration
	Err      error
}

// Options shape a QueryAll.
type Options struct {
	// Join sends the joinable commands as one `a+b+c` request, falling back to separate requests
	// when the firmware refuses joins (Result.JoinRefused then says so; the caller decides how
	// long to send that miner's commands one by one).
	Join bool
	// KeepRaw keeps each reply's bytes in the Exchange (for debug output).
	KeepRaw bool
	// MaxReplyBytes caps each reply of this query (a module's max_reply_bytes); 0 leaves the
	// client's cap.
	MaxReplyBytes int
}

// Result is the outcome of asking one miner several commands.
type Result struct {
	// Replies holds the reply to each command that was answered, failed ones included.
	Replies map[string]*Reply
	// Errors holds, per command, why it gave no usable reply.
	Errors    map[string]error
	Exchanges []Exchange
	// Joined is true when a joined request was answered as one.
	Joined bool
	// JoinRefused is true when the miner answered a joined request but not as one (firmware that
	// cannot join): its commands were then sent one by one.
	JoinRefused bool
}

// Reply returns the successful reply to cmd, or nil.
func (r *Result) Reply(cmd Command) *Reply {
	if rep, ok := r.Replies[cmd.name]; ok && rep.OK() {
		return rep
	}
	return nil
}

// Err is nil when at least one command succeeded; otherwise it is the reason nothing did.
func (r *Result) Err() error {
	for _, rep := range r.Replies {
		if rep.OK() {
			return nil
		}
	}
	// Prefer a connection-level error, then a reading error, then the miner's own refusal.
	var first, api error
	for _, ex := range r.Exchanges {
		if ex.Err != nil && first == nil {
			first = ex.Err
		}
	}
	if first != nil {
		return first
	}
	for _, e := range r.Errors {
		if api == nil {
			api = e
		}
	}
	if api != nil {
		return &Error{Reason: ReasonAPIError, Err: api}
	}
	return &Error{Reason: ReasonEmpty, Err: errors.New("no command was answered")}
}

// QueryAll asks the miner at addr (host:port) every command in cmds under ctx's deadline.
func (c *Client) QueryAll(ctx context.Context, addr string, cmds []Command, o Options) *Result {
	res := &Result{Replies: make(map[string]*Reply, len(cmds)), Errors: map[string]error{}}
	var joinable, single []Command
	for _, cmd := range cmds {
		if cmd.joinable && o.Join {
			joinable = append(joinable, cmd)
		} else {
			single = append(single, cmd)
		}
	}
	if len(joinable) > 1 {
		names := make([]string, len(joinable))
		for i, cmd := range joinable {
			names[i] = cmd.name
		}
		top, rep, ex := c.exchange(ctx, addr, strings.Join(names, "+"), o)
		res.Exchanges = append(res.Exchanges, ex)
		if ex.Err != nil && ReasonOf(ex.Err).ConnectionLevel() {
			for _, cmd := range cmds {
				res.Errors[cmd.name] = ex.Err
			}
			return res
		}
		var missing []Command
		if replies, ok := splitJoined(top, joinable, rep); ex.Err == nil && ok {
			res.Joined = true
			for _, cmd := range joinable {
				if r, ok := replies[cmd.name]; ok {
					res.Replies[cmd.name] = r
					if err := r.Err(); err != nil {
						res.Errors[cmd.name] = err
					}
				} else {
					missing = append(missing, cmd)
				}
			}
		} else {
			res.JoinRefused = true
			missing = joinable
		}
		single = append(missing, single...)
	} else {
		single = append(joinable, single...)
	}
	for i, cmd := range single {
		top, rep, ex := c.exchange(ctx, addr, cmd.name, o)
		res.Exchanges = append(res.Exchanges, ex)
		if ex.Err != nil {
			res.Errors[cmd.name] = ex.Err
			// Nothing more to learn: the miner cannot be reached now, or the peer is not the
			// cgminer API (nothing or another service's bytes in reply to a single command, which
			// the API answers with at least a STATUS, before anything answered).
			if r := ReasonOf(ex.Err); r.ConnectionLevel() || len(res.Replies) == 0 && !ex.API && (r == ReasonEmpty || r == ReasonNotAPI) {
				for _, rest := range single[i+1:] {
					res.Errors[rest.name] = ex.Err
				}
				return res
			}
			continue
		}
		r := newReply(cmd.name, top, rep)
		res.Replies[cmd.name] = r
		if err := r.Err(); err != nil {
			res.Errors[cmd.name] = err
		}
	}
	return res
}

// Query asks the miner one command.
func (c *Client) Query(ctx context.Context, addr string, cmd Command) (*Reply, Exchange) {
	top, rep, ex := c.exchange(ctx, addr, cmd.name, Options{})
	if ex.Err != nil {
		return nil, ex
	}
	return newReply(cmd.name, top, rep), ex
}

// exchange sends one request (a command or joined commands) and parses the reply.
func (c *Client) exchange(ctx context.Context, addr, command string, o Options) (Value, Repair, Exchange) {
	start := time.Now()
	ex := Exchange{Request: command}
	limit := o.MaxReplyBytes
	if limit <= 0 {
		limit = c.maxReply()
	}
	// The reply is read into a reused buffer: Decode copies what it keeps, so the buffer goes
	// back to the pool unless the raw reply is kept.
	pooled := replyBuffers.Get().(*[]byte)
	raw, err := c.roundTrip(ctx, addr, command, limit, (*pooled)[:0])
	ex.Duration = time.Since(start)
	ex.Bytes = len(raw)
	if err != nil {
		ex.Err = err
		putReplyBuffer(pooled, raw)
		return Value{}, 0, ex
	}
	v, rep, err := Decode(raw)
	if err != nil {
		ex.Err = err
	}
	ex.API = isAPI(v, raw, err)
	if o.KeepRaw && ex.API {
		ex.Raw = bytes.Clone(raw)
	}
	putReplyBuffer(pooled, raw)
	return v, rep, ex
}

// Reply buffers are reused up to maxPooledReply bytes (a larger reply's buffer is left to the
// garbage collector).
const maxPooledReply = 64 << 10

var replyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// putReplyBuffer returns the pooled buffer, or the larger one a reply grew into, to the pool.
func putReplyBuffer(pooled *[]byte, grown []byte) {
	if cap(grown) > cap(*pooled) {
		*pooled = grown
	}
	if cap(*pooled) <= maxPooledReply {
		*pooled = (*pooled)[:0]
		replyBuffers.Put(pooled)
	}
}

// isAPI tells whether a decoded reply is cgminer API: it carries a STATUS envelope, at the top or
// (a joined reply) in each command's part. JSON that ends early or breaks the grammar counts when
// its opening bytes name STATUS, so a broken firmware's reply can still be looked at.
func isAPI(v Value, raw []byte, err error) bool {
	switch ReasonOf(err) {
	case "":
	case ReasonTruncated, ReasonMalformed:
		head := raw[:min(len(raw), 256)]
		return bytes.Contains(head, []byte(`"STATUS"`)) || bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("STATUS="))
	default:
		return false
	}
	if StatusOf(v) != nil {
		return true
	}
	parts := 0
	for _, m := range v.obj() {
		if m.Value.kind != Array || len(m.Value.arr()) == 0 {
			continue
		}
		if StatusOf(m.Value.arr()[0]) == nil {
			return false
		}
		parts++
	}
	return parts > 0
}

// Decode reads a reply as received (without its NUL): JSON, repaired where needed, or the text
// form. A reply that is neither, or that cgminer marks as truncated ("id":0), is an *Error.
func Decode(raw []byte) (Value, Repair, error) {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	if len(trimmed) == 0 {
		return Value{}, 0, &Error{Reason: ReasonEmpty, Err: errors.New("connection closed without a reply")}
	}
	switch trimmed[0] {
	case '{', '[', ',':
		v, rep, err := ParseJSON(trimmed)
		if err != nil {
			if errors.Is(err, ErrTruncated) {
				return Value{}, rep, &Error{Reason: ReasonTruncated, Err: err}
			}
			return Value{}, rep, &Error{Reason: ReasonMalformed, Err: err}
		}
		if v.Kind() != Object {
			return Value{}, rep, &Error{Reason: ReasonMalformed, Err: fmt.Errorf("reply is a JSON %s, not an object", v.Kind())}
		}
		if id, ok := v.Lookup("id"); ok && id.Kind() == Number && id.num == 0 {
			return v, rep, &Error{Reason: ReasonTruncated, Err: errors.New(`cgminer marked the reply truncated ("id":0)`)}
		}
		return v, rep, nil
	}
	if bytes.HasPrefix(trimmed, []byte("STATUS=")) || bytes.HasPrefix(trimmed, []byte("CMD=")) {
		v, err := ParseText(trimmed)
		if err != nil {
			return Value{}, 0, &Error{Reason: ReasonMalformed, Err: err}
		}
		return v, 0, nil
	}
	// The bytes are not quoted: they may be another service's banner, and errors reach logs and
	// debug output.
	return Value{}, 0, &Error{Reason: ReasonNotAPI, Err: fmt.Errorf("a reply of %d bytes that is neither cgminer JSON nor its text form", len(raw))}
}

// roundTrip sends one request in one write (cgminer reads it with a single recv) and reads the
// reply until the first NUL, the end of the stream, or a complete JSON value, whichever comes
// first, never past ctx's deadline or the size cap.
func (c *Client) roundTrip(ctx context.Context, addr, command string, limit int, buf []byte) ([]byte, error) {
	dial := c.Dial
	if dial == nil {
		// No TCP keep-alive: the connection carries one request and its reply under the
		// deadline, and keep-alive would only cost four setsockopt calls per probe.
		d := net.Dialer{KeepAlive: -1}
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, &Error{Reason: classify(err), Err: fmt.Errorf("connect %s: %w", addr, err)}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return nil, &Error{Reason: ReasonDial, Err: err}
		}
	}
	// A cancelled context (the scrape gave up) ends the exchange at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	req := make([]byte, 0, len(command)+16)
	req = append(req, `{"command":"`...)
	req = append(req, command...)
	req = append(req, `"}`...)
	if _, err := conn.Write(req); err != nil {
		return nil, &Error{Reason: classify(err), Err: fmt.Errorf("send %s: %w", command, err)}
	}
	return readReply(conn, limit, buf)
}

func (c *Client) maxReply() int {
	if c.MaxReplyBytes > 0 {
		return c.MaxReplyBytes
	}
	return DefaultMaxReplyBytes
}

// readReply reads one reply from r (see roundTrip) into buf's capacity, at most limit+1 bytes of
// it, growing from there.
func readReply(r io.Reader, limit int, buf []byte) ([]byte, error) {
	buf = buf[:0:min(cap(buf), limit+1)]
	if cap(buf) == 0 {
		buf = make([]byte, 0, min(4096, limit+1))
	}
	var sc frameScanner
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= limit+1 {
				return nil, &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("reply larger than %d bytes", limit)}
			}
			nb := make([]byte, len(buf), min(2*cap(buf), limit+1))
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		if n > 0 {
			chunk := buf[len(buf) : len(buf)+n]
			if i := bytes.IndexByte(chunk, 0); i >= 0 {
				// The NUL ends the reply; anything after it (a second chunk) is not ours.
				if len(buf)+i > limit {
					return nil, &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("reply larger than %d bytes", limit)}
				}
				return buf[:len(buf)+i], nil
			}
			done := sc.feed(chunk)
			buf = buf[:len(buf)+n]
			if len(buf) > limit {
				return nil, &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("reply larger than %d bytes", limit)}
			}
			if done {
				return buf, nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if len(buf) == 0 {
					return nil, &Error{Reason: ReasonEmpty, Err: errors.New("connection closed without a reply")}
				}
				return buf, nil
			}
			if len(buf) > 0 && classify(err) == ReasonTimeout {
				return nil, &Error{Reason: ReasonTimeout, Err: fmt.Errorf("reply incomplete after %d bytes: %w", len(buf), err)}
			}
			return nil, &Error{Reason: classify(err), Err: fmt.Errorf("read reply: %w", err)}
		}
	}
}

// frameScanner tells when a JSON reply is complete for firmware that keeps the connection open
// after replying: it tracks nesting outside strings. A text reply ends at a newline.
type frameScanner struct {
	started bool
	text    bool
	depth   int
	inStr   bool
	esc     bool
}

func (s *frameScanner) feed(b []byte) bool {
	for _, c := range b {
		if !s.started {
			switch c {
			case ' ', '\t', '\r', '\n':
				continue
			case '{', '[':
				s.started, s.depth = true, 1
			case ',': // Avalon's lost `{`
				s.started, s.depth = true, 1
			default:
				s.started, s.text = true, true
			}
			continue
		}
		if s.text {
			if c == '\n' {
				return true
			}
			continue
		}
		if s.inStr {
			switch {
			case s.esc:
				s.esc = false
			case c == '\\':
				s.esc = true
			case c == '"':
				s.inStr = false
			}
			continue
		}
		switch c {
		case '"':
			s.inStr = true
		case '{', '[':
			s.depth++
		case '}', ']':
			s.depth--
			if s.depth == 0 {
				return true
			}
		}
	}
	return false
}
