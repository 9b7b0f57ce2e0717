// Package wm3 is a client for the Whatsminer API v3 that MicroBT firmware from late 2024 on
// serves on TCP 4433: each request and each reply is one frame, a 4-byte little-endian length and
// that many bytes of JSON, at most 1 MiB; the reply's envelope is
// {"code":0,"desc":"<cmd>","msg":{…},"when":<unix time>}, code 0 on success and negative on an
// error (-1 fail, -2 invalid command, -3 invalid JSON, -4 no permission, -5 out of memory).
//
// It can only send the get.* commands this package defines, which need no token: like
// exporter/cgminer it is read-only by construction, and no caller can make it send a set.*
// command. Deadlines, the size cap and the failure reasons are exporter/cgminer's (a reply that
// is not API v3 at all is ReasonNotV3). The JSON is read with cgminer.ParseJSON, whose bounds on
// nesting, counts and string sizes hold here too.
package wm3

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
)

// DefaultPort is the API v3 port.
const DefaultPort = "4433"

// MaxFrameBytes is the largest reply frame read, whatever a module's max_reply_bytes says: MicroBT
// caps its frames at 1 MiB, and the largest real reply (get.device.info with error codes) has
// under 2 KiB.
const MaxFrameBytes = 1 << 20

// ReasonNotV3 is a peer that answered, but not in API v3: no length-prefixed frame (another
// service's text where the length belongs), or JSON without the code envelope.
const ReasonNotV3 cgminer.Reason = "not_whatsminer_api"

// Command is a read-only API v3 command: a get.* command and its parameter. Its fields are
// unexported and the only values are the ones below.
type Command struct {
	cmd, param string
}

// The read-only commands the client can send.
var (
	// DeviceInfo is everything get.device.info gives without a parameter: miner (type, serials,
	// working), system (firmware, API version), power (PSU, mode), network (MAC) and error-code.
	DeviceInfo = Command{"get.device.info", ""}
	// MinerStatus is summary, pools and edevs in one exchange.
	MinerStatus = Command{"get.miner.status", "summary+pools+edevs"}
	// MinerStatusSummary, MinerStatusPools and MinerStatusEDevs ask one part each, for firmware
	// that refuses the joined parameter (QueryAll falls back to them by itself).
	MinerStatusSummary = Command{"get.miner.status", "summary"}
	MinerStatusPools   = Command{"get.miner.status", "pools"}
	MinerStatusEDevs   = Command{"get.miner.status", "edevs"}
	// MinerSetting holds power-mode (low, normal, high), power-limit and the like.
	MinerSetting = Command{"get.miner.setting", ""}
)

// Default is what Query asks: the device, its status and its settings, three exchanges.
var Default = []Command{DeviceInfo, MinerStatus, MinerSetting}

var commands = map[string]Command{}

func init() {
	for _, c := range []Command{DeviceInfo, MinerStatus, MinerStatusSummary, MinerStatusPools, MinerStatusEDevs, MinerSetting} {
		commands[c.String()] = c
	}
}

// String is the command as debug output, logs and cgminer_command_success name it:
// "get.device.info", "get.miner.status:summary+pools+edevs".
func (c Command) String() string {
	if c.param == "" {
		return c.cmd
	}
	return c.cmd + ":" + c.param
}

// ParseCommand returns the read-only command its String names; anything else is an error.
func ParseCommand(name string) (Command, error) {
	if c, ok := commands[strings.TrimSpace(name)]; ok {
		return c, nil
	}
	return Command{}, fmt.Errorf("command %q is not a read-only Whatsminer API v3 command this exporter may send", name)
}

// request is the frame body of the command.
func (c Command) request() []byte {
	b, _ := json.Marshal(struct {
		Cmd   string `json:"cmd"`
		Param string `json:"param,omitempty"`
	}{c.cmd, c.param})
	return b
}

// Reply is one command's reply envelope.
type Reply struct {
	Command Command
	// Code is 0 on success, negative on an error.
	Code int
	Desc string
	// Msg is the reply's msg object on success (null otherwise); Text is msg when the firmware
	// sent a string (the error replies), cut to 128 bytes.
	Msg  cgminer.Value
	Text string
	When int64
	// Repairs are the JSON defects the parser mended.
	Repairs cgminer.Repair
}

// OK reports a successful reply with a msg object.
func (r *Reply) OK() bool { return r != nil && r.Code == 0 && r.Msg.Kind() == cgminer.Object }

// APIError is a reply whose code is not 0.
type APIError struct {
	Command string
	Code    int
	Msg     string
}

var codeNames = map[int]string{-1: "fail", -2: "invalid command", -3: "invalid JSON", -4: "no permission", -5: "out of memory"}

func (e *APIError) Error() string {
	name := codeNames[e.Code]
	if name == "" {
		name = "error"
	}
	return fmt.Sprintf("command %s: code %d (%s): %q", e.Command, e.Code, name, e.Msg)
}

// Options shape a QueryAll.
type Options struct {
	// KeepRaw keeps each reply's bytes in its Exchange (debug output), only when the reply is
	// API v3: another service's bytes are never kept.
	KeepRaw bool
	// MaxReplyBytes caps each reply of this query (a module's max_reply_bytes), never above
	// MaxFrameBytes; 0 leaves the client's cap.
	MaxReplyBytes int
}

// Result is the outcome of asking one miner several commands.
type Result struct {
	// Replies holds each command's reply envelope, failed ones included.
	Replies map[Command]*Reply
	// Errors holds, per command, why it gave no usable reply.
	Errors    map[Command]error
	Exchanges []cgminer.Exchange
}

// Reply returns the successful reply to c, or nil.
func (r *Result) Reply(c Command) *Reply {
	if r == nil {
		return nil
	}
	if rep := r.Replies[c]; rep.OK() {
		return rep
	}
	return nil
}

// Commands maps each command asked (by its String) to whether it answered with success, for
// cgminer_command_success.
func (r *Result) Commands() map[string]bool {
	out := make(map[string]bool, len(r.Replies)+len(r.Errors))
	for c := range r.Errors {
		out[c.String()] = false
	}
	for c, rep := range r.Replies {
		out[c.String()] = rep.OK()
	}
	return out
}

// Err is nil when at least one command succeeded; otherwise it is why none did: a
// connection-level or reading error first, then the miner's own refusal.
func (r *Result) Err() error {
	for _, rep := range r.Replies {
		if rep.OK() {
			return nil
		}
	}
	for _, ex := range r.Exchanges {
		if ex.Err != nil {
			return ex.Err
		}
	}
	for _, e := range r.Errors {
		return e
	}
	return &cgminer.Error{Reason: cgminer.ReasonEmpty, Err: errors.New("no command was answered")}
}

// Client talks to miners' API v3. The zero value is ready to use; it keeps no state between
// queries.
type Client struct {
	// MaxReplyBytes caps one reply (MaxFrameBytes when 0 or above it).
	MaxReplyBytes int
	// Dial opens the TCP connection (a net.Dialer when nil).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Query asks the miner at addr (host:port) the Default commands under ctx's deadline. The error
// is the Result's Err: nil when at least one command answered.
func (c *Client) Query(ctx context.Context, addr string, o Options) (*Result, error) {
	res := c.QueryAll(ctx, addr, Default, o)
	return res, res.Err()
}

// QueryAll asks the miner at addr each command in cmds, one connection per command (as MicroBT's
// tools do), under ctx's deadline. After a connection-level failure (refused, timeout,
// unreachable) the remaining commands are not tried. When the firmware refuses MinerStatus's
// joined parameter, its three parts are asked one by one.
func (c *Client) QueryAll(ctx context.Context, addr string, cmds []Command, o Options) *Result {
	res := &Result{Replies: make(map[Command]*Reply, len(cmds)), Errors: map[Command]error{}}
	queue := append([]Command(nil), cmds...)
	for i := 0; i < len(queue); i++ {
		cmd := queue[i]
		rep, ex := c.exchange(ctx, addr, cmd, o)
		res.Exchanges = append(res.Exchanges, ex)
		if rep != nil {
			res.Replies[cmd] = rep
		}
		err := ex.Err
		if err == nil && rep.Code != 0 {
			err = &cgminer.Error{Reason: cgminer.ReasonAPIError, Err: &APIError{Command: cmd.String(), Code: rep.Code, Msg: rep.Text}}
		}
		if err == nil {
			continue
		}
		res.Errors[cmd] = err
		if cgminer.ReasonOf(err).ConnectionLevel() {
			for _, rest := range queue[i+1:] {
				res.Errors[rest] = err
			}
			return res
		}
		if cmd == MinerStatus && rep != nil && rep.Code != 0 {
			queue = append(queue, MinerStatusSummary, MinerStatusPools, MinerStatusEDevs)
		}
	}
	return res
}

func (c *Client) limit(o Options) int {
	l := c.MaxReplyBytes
	if o.MaxReplyBytes > 0 {
		l = o.MaxReplyBytes
	}
	if l <= 0 || l > MaxFrameBytes {
		l = MaxFrameBytes
	}
	return l
}

// exchange sends one command and reads its reply envelope. rep is nil when no envelope was read;
// ex.Err says why.
func (c *Client) exchange(ctx context.Context, addr string, cmd Command, o Options) (*Reply, cgminer.Exchange) {
	start := time.Now()
	req := cmd.request()
	ex := cgminer.Exchange{Request: string(req)}
	raw, err := c.roundTrip(ctx, addr, req, c.limit(o))
	ex.Duration = time.Since(start)
	ex.Bytes = len(raw)
	if err != nil {
		ex.Err = err
		return nil, ex
	}
	rep, err := Decode(cmd, raw)
	ex.Err = err
	ex.API = rep != nil
	if o.KeepRaw && ex.API {
		ex.Raw = raw
	}
	return rep, ex
}

// Decode reads one reply frame's JSON as the reply to cmd. A frame that is not JSON, or JSON
// without a numeric code, is ReasonNotV3; JSON that is cut short or broken beyond repair is
// ReasonTruncated or ReasonMalformed, as is a success whose msg is not an object or whose desc
// names another command. A refusal (code ≠ 0) is a Reply and no error: QueryAll makes it an
// *APIError.
func Decode(cmd Command, raw []byte) (*Reply, error) {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, &cgminer.Error{Reason: ReasonNotV3, Err: fmt.Errorf("a frame of %d bytes that is not a JSON object", len(raw))}
	}
	v, repairs, err := cgminer.ParseJSON(trimmed)
	if err != nil {
		if errors.Is(err, cgminer.ErrTruncated) {
			return nil, &cgminer.Error{Reason: cgminer.ReasonTruncated, Err: err}
		}
		return nil, &cgminer.Error{Reason: cgminer.ReasonMalformed, Err: err}
	}
	code, ok := v.FloatKey("code")
	if !ok || code != float64(int(code)) || code < -1e6 || code > 1e6 {
		return nil, &cgminer.Error{Reason: ReasonNotV3, Err: errors.New("JSON reply without the API v3 code envelope")}
	}
	rep := &Reply{Command: cmd, Code: int(code), Desc: cut(v.StrKey("desc"), 64), Repairs: repairs}
	if w, ok := v.FloatKey("when"); ok && w >= 0 && w < 1e12 {
		rep.When = int64(w)
	}
	msg := v.Get("msg")
	if msg.Kind() == cgminer.Object {
		rep.Msg = msg
	} else {
		rep.Text = cut(msg.Str(), 128)
	}
	if rep.Code != 0 {
		return rep, nil
	}
	if rep.Msg.Kind() != cgminer.Object {
		return rep, &cgminer.Error{Reason: cgminer.ReasonMalformed, Err: fmt.Errorf("%s: success without a msg object", cmd)}
	}
	if rep.Desc != "" && rep.Desc != cmd.cmd {
		rep.Msg = cgminer.Value{}
		return rep, &cgminer.Error{Reason: cgminer.ReasonMalformed, Err: fmt.Errorf("sent %s, the reply is to %q", cmd.cmd, rep.Desc)}
	}
	return rep, nil
}

// cut shortens a string from the miner for an error message or a field, on a rune boundary.
func cut(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// roundTrip sends one request frame in one write and reads one reply frame, never past ctx's
// deadline or limit.
func (c *Client) roundTrip(ctx context.Context, addr string, req []byte, limit int) ([]byte, error) {
	dial := c.Dial
	if dial == nil {
		// No TCP keep-alive: the connection carries one request and its reply under the
		// deadline, and keep-alive would only cost four setsockopt calls per probe.
		d := net.Dialer{KeepAlive: -1}
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, &cgminer.Error{Reason: cgminer.ReasonOf(err), Err: fmt.Errorf("connect %s: %w", addr, err)}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return nil, &cgminer.Error{Reason: cgminer.ReasonDial, Err: err}
		}
	}
	// A cancelled context (the scrape gave up) ends the exchange at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(AppendFrame(nil, req)); err != nil {
		return nil, &cgminer.Error{Reason: cgminer.ReasonOf(err), Err: fmt.Errorf("send: %w", err)}
	}
	return ReadFrame(conn, limit)
}

// AppendFrame appends body as one frame: its length, 4 bytes little-endian, then body.
func AppendFrame(dst, body []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}

// ReadFrame reads one frame from r and returns its body: the 4-byte little-endian length, then
// that many bytes. A length above limit is refused before anything is allocated for it
// (ReasonNotV3 when the four bytes are text, such as another service's banner or a cgminer
// reply, ReasonTooLarge otherwise); a length of 0 is ReasonEmpty; a stream that ends inside the
// header or the body is ReasonTruncated; one that stalls runs into the reader's deadline
// (ReasonTimeout). Memory grows with the bytes that arrive, not with the length announced. Bytes
// after the frame (a second frame, garbage) are not read.
func ReadFrame(r io.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	n, err := io.ReadFull(r, hdr[:])
	if err != nil {
		switch {
		case n == 0 && errors.Is(err, io.EOF):
			return nil, &cgminer.Error{Reason: cgminer.ReasonEmpty, Err: errors.New("connection closed without a reply")}
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, &cgminer.Error{Reason: cgminer.ReasonTruncated, Err: fmt.Errorf("connection closed after %d bytes of the frame length", n)}
		}
		return nil, &cgminer.Error{Reason: cgminer.ReasonOf(err), Err: fmt.Errorf("read frame length: %w", err)}
	}
	size := binary.LittleEndian.Uint32(hdr[:])
	switch {
	case size == 0:
		return nil, &cgminer.Error{Reason: cgminer.ReasonEmpty, Err: errors.New("a frame of length 0")}
	case uint64(size) > uint64(max(limit, 0)):
		if text(hdr[:]) {
			return nil, &cgminer.Error{Reason: ReasonNotV3, Err: errors.New("the reply starts with text where the frame length belongs")}
		}
		return nil, &cgminer.Error{Reason: cgminer.ReasonTooLarge, Err: fmt.Errorf("frame of %d bytes announced, limit %d", size, limit)}
	}
	var body bytes.Buffer
	body.Grow(int(min(size, 16<<10)))
	got, err := io.CopyN(&body, r, int64(size))
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &cgminer.Error{Reason: cgminer.ReasonTruncated, Err: fmt.Errorf("frame of %d bytes ended after %d", size, got)}
		}
		return nil, &cgminer.Error{Reason: cgminer.ReasonOf(err), Err: fmt.Errorf("frame of %d bytes incomplete after %d: %w", size, got, err)}
	}
	return body.Bytes(), nil
}

// text reports whether b are printable ASCII: text, where a frame length (whose top byte is 0
// for any frame under 16 MiB) belongs.
func text(b []byte) bool {
	for _, c := range b {
		if c < 0x09 || c > 0x7e || (c > 0x0d && c < 0x20) {
			return false
		}
	}
	return true
}
