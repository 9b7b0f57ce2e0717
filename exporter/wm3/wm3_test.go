package wm3_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
	"github.com/minefarm/cgminer-stack/exporter/wm3"
)

const fixtures = "../testdata/modern/whatsminer-v3"

func capture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// request is a request frame as a miner reads it.
type request struct {
	Cmd   string `json:"cmd"`
	Param string `json:"param"`
}

// parseRequest reads the request frame the client sent, failing the test when it is not exactly
// one frame holding {"cmd":…[,"param":…]}.
func parseRequest(t testing.TB, req []byte) request {
	t.Helper()
	if len(req) < 4 || int(binary.LittleEndian.Uint32(req)) != len(req)-4 {
		t.Errorf("request %q is not one length-prefixed frame", req)
		return request{}
	}
	var r request
	dec := json.NewDecoder(bytes.NewReader(req[4:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Errorf("request body %q: %v", req[4:], err)
	}
	return r
}

// parseRequestQuiet reads a request body without a test to report to (benchmarks' servers).
func parseRequestQuiet(body []byte) request {
	var r request
	_ = json.Unmarshal(body, &r)
	return r
}

func (r request) String() string {
	if r.Param == "" {
		return r.Cmd
	}
	return r.Cmd + ":" + r.Param
}

// miner serves API v3 frames on loopback: reply gets each request (as "cmd" or "cmd:param") and
// writes what the test wants on the connection. It records the requests.
type miner struct {
	addr string
	mu   sync.Mutex
	seen []string
}

func (m *miner) requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.seen...)
}

func serve(t *testing.T, reply func(c net.Conn, req request)) *miner {
	t.Helper()
	m := &miner{}
	ln := fakeminer.Listen(t, "127.0.0.1:0", func(c net.Conn, raw []byte) {
		req := parseRequest(t, raw)
		m.mu.Lock()
		m.seen = append(m.seen, req.String())
		m.mu.Unlock()
		reply(c, req)
	})
	m.addr = ln.Addr().String()
	return m
}

func frame(body []byte) []byte { return wm3.AppendFrame(nil, body) }

// byRequest answers from a table of request → reply body, framed; an unknown request gets
// MicroBT's invalid-command reply.
func byRequest(replies map[string][]byte) func(net.Conn, request) {
	return func(c net.Conn, req request) {
		body, ok := replies[req.String()]
		if !ok {
			body = []byte(`{"code":-2,"when":1773869570,"msg":"invalid command","desc":"` + req.Cmd + `"}`)
		}
		_, _ = c.Write(frame(body))
	}
}

func ctx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

// The real captures served as frames: device info with its error codes, then status. The
// M60S's firmware answered summary and pools separately in the captures; a miner that refuses the
// joined parameter gets them asked one by one.
func TestQueryCaptures(t *testing.T) {
	info := capture(t, "m60s-vk40-20251209.16.rel2_get.device.info+error-code_sorted.json")
	summary := capture(t, "m60s-vk40-20251209.16.rel2_get.miner.status-summary_sorted_edited.json")
	pools := capture(t, "m60s-vk40-20251209.16.rel2_get.miner.status-pools_sorted_anonymized.json")
	m := serve(t, byRequest(map[string][]byte{
		"get.device.info":          info,
		"get.miner.status:summary": summary,
		"get.miner.status:pools":   pools,
	}))
	var c wm3.Client
	res, err := c.Query(ctx(t, 10*time.Second), m.addr, wm3.Options{KeepRaw: true})
	if err != nil {
		t.Fatal(err)
	}
	wantAsked := []string{"get.device.info", "get.miner.status:summary+pools+edevs", "get.miner.setting",
		"get.miner.status:summary", "get.miner.status:pools", "get.miner.status:edevs"}
	if got := m.requests(); strings.Join(got, " ") != strings.Join(wantAsked, " ") {
		t.Errorf("asked %v, want %v", got, wantAsked)
	}
	d := res.Reply(wm3.DeviceInfo)
	if d == nil || d.Msg.Get("miner").StrKey("type") != "M60S_VK40" || d.When != 1773869570 || d.Desc != "get.device.info" {
		t.Fatalf("device info %+v", d)
	}
	if n := len(d.Msg.Get("error-code").Elems()); n != 5 {
		t.Errorf("%d error codes, want 5", n)
	}
	if s := res.Reply(wm3.MinerStatusSummary); s == nil || s.Msg.Get("summary").StrKey("hash-realtime") != "171.259" {
		t.Errorf("summary %+v", s)
	}
	if p := res.Reply(wm3.MinerStatusPools); p == nil || len(p.Msg.Get("pools").Elems()) != 3 {
		t.Errorf("pools %+v", p)
	}
	for _, c := range []wm3.Command{wm3.MinerStatus, wm3.MinerSetting, wm3.MinerStatusEDevs} {
		var ae *wm3.APIError
		if err := res.Errors[c]; cgminer.ReasonOf(err) != cgminer.ReasonAPIError || !errors.As(err, &ae) || ae.Code != -2 {
			t.Errorf("%s: error %v, want the miner's code -2", c, err)
		}
	}
	cmds := res.Commands()
	if !cmds["get.device.info"] || cmds["get.miner.setting"] || !cmds["get.miner.status:pools"] || len(cmds) != 6 {
		t.Errorf("commands %v", cmds)
	}
	for _, ex := range res.Exchanges {
		if !ex.API || !bytes.HasPrefix(bytes.TrimSpace(ex.Raw), []byte("{")) || !strings.HasPrefix(ex.Request, `{"cmd":"get.`) {
			t.Errorf("exchange %q: API %v, raw %.40q", ex.Request, ex.API, ex.Raw)
		}
	}
}

// A miner that answers the joined status gets three exchanges, and no fallback.
func TestQueryJoinedStatus(t *testing.T) {
	status := []byte(`{"code":0,"desc":"get.miner.status","msg":{"summary":{"elapsed":5},"pools":[],"edevs":[{"slot":0}]},"when":1}`)
	setting := []byte(`{"code":0,"desc":"get.miner.setting","msg":{"power-mode":"normal"},"when":1}`)
	m := serve(t, byRequest(map[string][]byte{
		"get.device.info":                      capture(t, "m50-vh84-20250915.16.rel2_get.device.info_pretty_anonymized.json"),
		"get.miner.status:summary+pools+edevs": status,
		"get.miner.setting":                    setting,
	}))
	var c wm3.Client
	res, err := c.Query(ctx(t, 10*time.Second), m.addr, wm3.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.requests(); len(got) != 3 {
		t.Errorf("asked %v", got)
	}
	if len(res.Errors) != 0 || res.Reply(wm3.MinerStatus) == nil || res.Reply(wm3.MinerSetting) == nil {
		t.Errorf("errors %v", res.Errors)
	}
	for _, ex := range res.Exchanges {
		if ex.Raw != nil {
			t.Errorf("raw kept without KeepRaw")
		}
	}
}

// Every way a peer can break the framing or the envelope is one reason, a bounded error and no
// stall past the deadline.
func TestHostileFraming(t *testing.T) {
	ok := []byte(`{"code":0,"desc":"get.device.info","msg":{"miner":{"type":"M60S_VK40"}},"when":1}`)
	tests := []struct {
		name  string
		reply func(c net.Conn)
		want  cgminer.Reason
		check func(t *testing.T, err error)
	}{
		{"closes at once", func(net.Conn) {}, cgminer.ReasonEmpty, nil},
		{"length of 0", func(c net.Conn) { c.Write([]byte{0, 0, 0, 0}) }, cgminer.ReasonEmpty, nil},
		{"two bytes of the length, then closes", func(c net.Conn) { c.Write([]byte{10, 0}) }, cgminer.ReasonTruncated, nil},
		{"length 100, 10 bytes, closes", func(c net.Conn) { c.Write(append([]byte{100, 0, 0, 0}, `{"code":0,`...)) }, cgminer.ReasonTruncated, nil},
		{"length, then stalls", func(c net.Conn) { c.Write([]byte{200, 0, 0, 0}); stall(c) }, cgminer.ReasonTimeout, nil},
		{"nothing, stalls", func(c net.Conn) { stall(c) }, cgminer.ReasonTimeout, nil},
		{"half the body, stalls", func(c net.Conn) { c.Write(frame(ok)[:30]); stall(c) }, cgminer.ReasonTimeout, nil},
		{"trickles a byte at a time", func(c net.Conn) {
			for _, b := range frame(ok) {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}, cgminer.ReasonTimeout, nil},
		{"length 1 MiB + 1, never sent", func(c net.Conn) {
			c.Write(binary.LittleEndian.AppendUint32(nil, wm3.MaxFrameBytes+1))
			stall(c)
		}, cgminer.ReasonTooLarge, nil},
		{"length 4 GiB", func(c net.Conn) { c.Write([]byte{0xff, 0xff, 0xff, 0xff}); stall(c) }, cgminer.ReasonTooLarge, nil},
		{"an HTTP server", func(c net.Conn) { c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) }, wm3.ReasonNotV3, nil},
		{"a cgminer API on the port", func(c net.Conn) {
			c.Write([]byte(`{"STATUS":[{"STATUS":"E","When":1,"Code":23,"Msg":"Invalid JSON"}],"id":1}` + "\x00"))
		}, wm3.ReasonNotV3, nil},
		{"a frame that is not JSON", func(c net.Conn) { c.Write(frame([]byte("hello, miner"))) }, wm3.ReasonNotV3, nil},
		{"JSON without the code envelope", func(c net.Conn) { c.Write(frame([]byte(`{"STATUS":"S","Msg":{}}`))) }, wm3.ReasonNotV3, nil},
		{"code that is not a whole number", func(c net.Conn) { c.Write(frame([]byte(`{"code":0.5,"msg":{}}`))) }, wm3.ReasonNotV3, nil},
		{"JSON cut short", func(c net.Conn) { c.Write(frame([]byte(`{"code":0,"msg":{"miner":{"type":"M6`))) }, cgminer.ReasonTruncated, nil},
		{"JSON broken", func(c net.Conn) { c.Write(frame([]byte(`{"code":0,"msg":{"a":]}`))) }, cgminer.ReasonMalformed, nil},
		{"success without a msg object", func(c net.Conn) { c.Write(frame([]byte(`{"code":0,"desc":"get.device.info","msg":"ok"}`))) }, cgminer.ReasonMalformed, nil},
		{"the reply to another command", func(c net.Conn) {
			c.Write(frame([]byte(`{"code":0,"desc":"get.miner.status","msg":{"summary":{}}}`)))
		}, cgminer.ReasonMalformed, nil},
		{"no permission", func(c net.Conn) {
			c.Write(frame([]byte(`{"code":-4,"desc":"get.device.info","msg":"permission denied","when":1}`)))
		},
			cgminer.ReasonAPIError, func(t *testing.T, err error) {
				var ae *wm3.APIError
				if !errors.As(err, &ae) || ae.Code != -4 || ae.Msg != "permission denied" || !strings.Contains(err.Error(), "no permission") {
					t.Errorf("error %v", err)
				}
			}},
		{"an error with a huge message", func(c net.Conn) {
			c.Write(frame([]byte(`{"code":-1,"msg":"` + strings.Repeat("x", 200000) + `"}`)))
		}, cgminer.ReasonAPIError, func(t *testing.T, err error) {
			if len(err.Error()) > 400 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := serve(t, func(c net.Conn, _ request) { tc.reply(c) })
			var c wm3.Client
			res := c.QueryAll(ctx(t, 500*time.Millisecond), m.addr, []wm3.Command{wm3.DeviceInfo}, wm3.Options{KeepRaw: true})
			err := res.Err()
			if got := cgminer.ReasonOf(err); got != tc.want {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.want)
			}
			if res.Reply(wm3.DeviceInfo) != nil {
				t.Errorf("a usable reply from a broken one")
			}
			if len(err.Error()) > 400 {
				t.Errorf("error of %d bytes: %.100s", len(err.Error()), err)
			}
			for _, ex := range res.Exchanges {
				if ex.Raw != nil && tc.want == wm3.ReasonNotV3 {
					t.Errorf("kept %d raw bytes of a reply that is not API v3", len(ex.Raw))
				}
			}
			if tc.check != nil {
				tc.check(t, err)
			}
		})
	}
}

// stall holds the connection open without writing until the client gives up.
func stall(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Read(make([]byte, 1))
}

// A frame is read whole and alone: a second frame or garbage after it is not ours; a frame of
// exactly the limit is read, one byte more is refused.
func TestFrameBoundaries(t *testing.T) {
	body := []byte(`{"code":0,"desc":"get.device.info","msg":{"n":1},"when":1}`)
	second := []byte(`{"code":0,"desc":"get.device.info","msg":{"n":2},"when":1}`)
	t.Run("second frame and garbage ignored", func(t *testing.T) {
		m := serve(t, func(c net.Conn, _ request) {
			c.Write(append(append(frame(body), frame(second)...), "garbage\x00\xff"...))
		})
		var c wm3.Client
		res := c.QueryAll(ctx(t, 5*time.Second), m.addr, []wm3.Command{wm3.DeviceInfo}, wm3.Options{})
		if r := res.Reply(wm3.DeviceInfo); r == nil || r.Msg.StrKey("n") != "1" {
			t.Fatalf("reply %+v, errors %v", r, res.Errors)
		}
	})
	for _, tc := range []struct {
		name  string
		limit int
		size  int
		want  cgminer.Reason
	}{
		{"exactly the limit", 4096, 4096, ""},
		{"one over the limit", 4096, 4097, cgminer.ReasonTooLarge},
		{"a module's limit above 1 MiB is 1 MiB", 8 << 20, wm3.MaxFrameBytes + 1, cgminer.ReasonTooLarge},
		{"a 1 MiB frame", 0, wm3.MaxFrameBytes, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Strings of 1000 bytes (the parser bounds one string at 256 KiB), padded to the size.
			head, tail := `{"code":0,"desc":"get.device.info","msg":{"p":[`, `"x"]}}`
			var b strings.Builder
			b.WriteString(head)
			for b.Len()+1003+len(tail) < tc.size {
				b.WriteString(`"` + strings.Repeat("p", 1000) + `",`)
			}
			b.WriteString(strings.Repeat(" ", tc.size-b.Len()-len(tail)))
			b.WriteString(tail)
			big := []byte(b.String())
			if len(big) != tc.size {
				t.Fatalf("built %d bytes", len(big))
			}
			m := serve(t, func(c net.Conn, _ request) { c.Write(frame(big)) })
			c := wm3.Client{}
			res := c.QueryAll(ctx(t, 10*time.Second), m.addr, []wm3.Command{wm3.DeviceInfo}, wm3.Options{MaxReplyBytes: tc.limit})
			if got := cgminer.ReasonOf(res.Err()); got != tc.want {
				t.Fatalf("reason %q (%v), want %q", got, res.Err(), tc.want)
			}
		})
	}
}

// ReadFrame allocates for what arrives, not for what the length announces.
func TestReadFrameAllocatesWhatArrives(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream []byte
		want   cgminer.Reason
	}{
		{"announces 1 MiB, sends 10 bytes", append(binary.LittleEndian.AppendUint32(nil, wm3.MaxFrameBytes), "0123456789"...), cgminer.ReasonTruncated},
		{"announces 4 GiB", []byte{0xff, 0xff, 0xff, 0xff, 'x'}, cgminer.ReasonTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := wm3.ReadFrame(bytes.NewReader(tc.stream), wm3.MaxFrameBytes)
			runtime.ReadMemStats(&after)
			if got := cgminer.ReasonOf(err); got != tc.want {
				t.Errorf("reason %q (%v), want %q", got, err, tc.want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
				t.Errorf("allocated %d bytes for a frame that never came", alloc)
			}
		})
	}
}

// The deadline and cancellation end an exchange, and a connection-level failure skips the rest.
func TestDeadlineAndCancel(t *testing.T) {
	m := serve(t, func(c net.Conn, _ request) { stall(c) })
	var c wm3.Client
	cctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	res := c.QueryAll(cctx, m.addr, wm3.Default, wm3.Options{})
	if got := cgminer.ReasonOf(res.Err()); got != cgminer.ReasonTimeout {
		t.Errorf("cancelled: reason %q (%v)", got, res.Err())
	}
	if len(res.Exchanges) != 1 || len(res.Errors) != len(wm3.Default) {
		t.Errorf("after a timeout: %d exchanges, errors %v", len(res.Exchanges), res.Errors)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	res = c.QueryAll(ctx(t, 5*time.Second), closed, wm3.Default, wm3.Options{})
	if got := cgminer.ReasonOf(res.Err()); got != cgminer.ReasonRefused {
		t.Errorf("closed port: reason %q (%v)", got, res.Err())
	}
	if len(res.Exchanges) != 1 {
		t.Errorf("asked %d times a port that refused", len(res.Exchanges))
	}
}

// Only get.* commands exist: nothing parses to a set.* command, every defined command is get.*,
// and that is all that goes on the wire.
func TestReadOnly(t *testing.T) {
	for _, name := range []string{"set.miner.service", "set.system.reboot", "set.miner.pools", "get.device.info:salt",
		"GET.DEVICE.INFO", "get.miner.status:summary+pools+edevs+x", "", "get.miner.history"} {
		if c, err := wm3.ParseCommand(name); err == nil {
			t.Errorf("ParseCommand(%q) = %v", name, c)
		}
	}
	all := []wm3.Command{wm3.DeviceInfo, wm3.MinerStatus, wm3.MinerStatusSummary, wm3.MinerStatusPools, wm3.MinerStatusEDevs, wm3.MinerSetting}
	for _, c := range all {
		if !strings.HasPrefix(c.String(), "get.") {
			t.Errorf("%s is not a get.* command", c)
		}
		if p, err := wm3.ParseCommand(c.String()); err != nil || p != c {
			t.Errorf("ParseCommand(%q) = %v, %v", c.String(), p, err)
		}
	}
	m := serve(t, byRequest(nil))
	var c wm3.Client
	c.QueryAll(ctx(t, 5*time.Second), m.addr, all, wm3.Options{})
	for _, r := range m.requests() {
		if !strings.HasPrefix(r, "get.") {
			t.Errorf("sent %q", r)
		}
	}
	if len(m.requests()) != len(all)+3 { // the refused joined status is asked in parts
		t.Errorf("sent %v", m.requests())
	}
}
