package remedy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

// The restart client: the one privileged command of the cgminer API, written here on its own
// and not taken from exporter/cgminer, whose command table is read-only by construction.
//
// Stock cgminer/bmminer carry out `restart` only for a client in the W: group of the miner's
// api-allow (e.g. `--api-allow W:10.0.0.9` for the receiver's host); every other client gets
// `{"STATUS":[{"STATUS":"E","Code":45,"Msg":"Access denied to 'restart' command"}]}`. An accepted
// restart is answered with a bare status, `{"STATUS":"RESTART","id":1}` (api.c dorestart), and
// the software restarts. Whatsminer's btminer wants its token-encrypted privileged API
// (restart_btminer) and LuxOS a logon session: neither is supported, and their refusal is
// reported as it comes.

// restartRequest is the JSON request; cgminer reads it with one recv().
const restartRequest = `{"command":"restart"}`

// Reply is what came back from one restart attempt.
type Reply struct {
	// Accepted is true when the miner said it restarts: `{"STATUS":"RESTART"}` or a STATUS "S".
	Accepted bool
	// Text is the reply as read (up to the NUL, bounded), or why there is none.
	Text string
}

// sendRestart sends the restart command to target and reads the reply: at most maxReply bytes,
// up to the first NUL or the connection's end, everything within timeout. target is an IP
// literal and a port, so nothing is resolved.
func sendRestart(ctx context.Context, d *net.Dialer, target netip.AddrPort, timeout time.Duration, maxReply int) (Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", target.String())
	if err != nil {
		return Reply{}, fmt.Errorf("connect: %w", cause(err))
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := io.WriteString(conn, restartRequest); err != nil {
		return Reply{}, fmt.Errorf("send: %w", cause(err))
	}
	buf := make([]byte, 0, min(maxReply, 4096))
	chunk := make([]byte, 4096)
	for {
		n, rerr := conn.Read(chunk)
		if n > 0 {
			if i := bytes.IndexByte(chunk[:n], 0); i >= 0 {
				if len(buf)+i > maxReply {
					return Reply{}, fmt.Errorf("reply larger than %d bytes", maxReply)
				}
				buf = append(buf, chunk[:i]...)
				return parseReply(buf)
			}
			if len(buf)+n > maxReply {
				return Reply{}, fmt.Errorf("reply larger than %d bytes", maxReply)
			}
			buf = append(buf, chunk[:n]...)
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF):
			if len(buf) == 0 {
				return Reply{}, errors.New("the miner closed the connection without a reply")
			}
			return parseReply(buf)
		default:
			if len(buf) > 0 {
				return Reply{}, fmt.Errorf("reply cut off after %d bytes: %w", len(buf), cause(rerr))
			}
			return Reply{}, fmt.Errorf("no reply: %w", cause(rerr))
		}
	}
}

// statusObj is one entry of a STATUS array (or Whatsminer's flat envelope).
type statusObj struct {
	Status string          `json:"STATUS"`
	Code   json.RawMessage `json:"Code"`
	Msg    string          `json:"Msg"`
}

// parseReply reads a restart reply. An accepted restart is `{"STATUS":"RESTART",…}` (cgminer,
// bmminer) or a STATUS array whose first entry is S/I; a refusal is E (with its Msg), in the
// array form or btminer's flat one. Anything else is not an answer to the command.
func parseReply(b []byte) (Reply, error) {
	text := string(bytes.TrimSpace(b))
	if text == "RESTART" {
		return Reply{Accepted: true, Text: text}, nil
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(b, &env); err != nil {
		return Reply{Text: text}, errors.New("not a cgminer API reply")
	}
	raw, ok := env["STATUS"]
	if !ok {
		return Reply{Text: text}, errors.New("reply without STATUS")
	}
	var flat string
	if json.Unmarshal(raw, &flat) == nil {
		switch flat {
		case "RESTART", "S", "I":
			return Reply{Accepted: true, Text: text}, nil
		case "E", "F", "W":
			var so statusObj
			_ = json.Unmarshal(b, &so)
			return Reply{Text: text}, refusal(so)
		}
		return Reply{Text: text}, fmt.Errorf("unexpected STATUS %q", clip(flat, 32))
	}
	var arr []statusObj
	if err := json.Unmarshal(raw, &arr); err != nil || len(arr) == 0 {
		return Reply{Text: text}, errors.New("STATUS neither a string nor a list of statuses")
	}
	switch arr[0].Status {
	case "S", "I":
		return Reply{Accepted: true, Text: text}, nil
	case "E", "F", "W":
		return Reply{Text: text}, refusal(arr[0])
	}
	return Reply{Text: text}, fmt.Errorf("unexpected STATUS %q", clip(arr[0].Status, 32))
}

// refusal explains an E reply, with the hint an operator needs for the usual one.
func refusal(so statusObj) error {
	msg := clip(so.Msg, 200)
	code := clip(string(so.Code), 16)
	if strings.Contains(strings.ToLower(msg), "denied") {
		return fmt.Errorf("refused by the miner (Code %s %q): give this host W: access in the miner's api-allow "+
			"(Whatsminer and LuxOS need their own privileged APIs, not supported)", code, msg)
	}
	return fmt.Errorf("refused by the miner (Code %s %q)", code, msg)
}

// cause shortens a network error to what an operator reads: refused, timeout, reset.
func cause(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errors.New("timeout")
	}
	var se *os.SyscallError
	if errors.As(err, &se) && se.Err != nil {
		return se.Err // "connection refused", "connection reset by peer"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func clip(s string, max int) string {
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
