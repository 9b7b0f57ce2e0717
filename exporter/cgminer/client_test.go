package cgminer

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
)

// fakeMiner is a TCP server on loopback that answers each connection with serve.
type fakeMiner struct {
	ln       net.Listener
	mu       sync.Mutex
	requests []string
}

func newFakeMiner(t *testing.T, serve func(c net.Conn, req string)) *fakeMiner {
	t.Helper()
	m := &fakeMiner{}
	m.ln = fakeminer.Listen(t, "127.0.0.1:0", func(c net.Conn, req []byte) {
		m.mu.Lock()
		m.requests = append(m.requests, string(req))
		m.mu.Unlock()
		serve(c, string(req))
	})
	return m
}

func (m *fakeMiner) addr() string { return m.ln.Addr().String() }

func (m *fakeMiner) seen() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.requests...)
}

// command extracts the command of a JSON request, failing loudly on anything else.
func command(t *testing.T, req string) string {
	var r struct {
		Command string `json:"command"`
	}
	if err := json.Unmarshal([]byte(req), &r); err != nil {
		t.Errorf("request %q is not one complete JSON object in one write: %v", req, err)
	}
	return r.Command
}

const summaryReply = `{"STATUS":[{"STATUS":"S","When":1,"Code":11,"Msg":"Summary","Description":"cgminer 4.11.1"}],"SUMMARY":[{"Elapsed":14,"MHS av":1.00}],"id":1}`
const poolsReply = `{"STATUS":[{"STATUS":"S","When":1,"Code":7,"Msg":"1 Pool(s)","Description":"cgminer 4.11.1"}],"POOLS":[{"POOL":0,"URL":"stratum+tcp://p:3333","Status":"Alive"}],"id":1}`
const invalidReply = `{"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command"}],"id":1}`

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/cgminer-api/cgminer-upstream/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClientFraming(t *testing.T) {
	const deadline = 400 * time.Millisecond
	tests := []struct {
		name   string
		serve  func(t *testing.T, c net.Conn, req string)
		reason Reason // "" means success
		check  func(t *testing.T, r *Reply)
	}{
		{
			name: "NUL terminated, as upstream cgminer",
			serve: func(t *testing.T, c net.Conn, req string) {
				c.Write(readFixture(t, "cgminer-4.11.1-nodevices_summary.raw"))
			},
			check: func(t *testing.T, r *Reply) {
				if f, ok := r.First("SUMMARY").FloatKey("Elapsed"); !ok || f <= 0 {
					t.Errorf("Elapsed = %v", f)
				}
			},
		},
		{
			name: "split across writes",
			serve: func(t *testing.T, c net.Conn, req string) {
				b := []byte(summaryReply + "\x00")
				for i := 0; i < len(b); i += 7 {
					c.Write(b[i:min(i+7, len(b))])
					time.Sleep(time.Millisecond)
				}
			},
			check: func(t *testing.T, r *Reply) {
				if f, _ := r.First("SUMMARY").FloatKey("MHS av"); f != 1 {
					t.Errorf("MHS av = %v", f)
				}
			},
		},
		{
			name: "ends at EOF without NUL",
			serve: func(t *testing.T, c net.Conn, req string) {
				c.Write([]byte(summaryReply))
			},
		},
		{
			name: "keeps the connection open after a complete reply",
			serve: func(t *testing.T, c net.Conn, req string) {
				c.Write([]byte(summaryReply))
				time.Sleep(2 * deadline)
			},
		},
		{
			name: "text form reply",
			serve: func(t *testing.T, c net.Conn, req string) {
				c.Write([]byte("STATUS=S,When=1,Code=11,Msg=Summary,Description=cgminer 4.11.1|SUMMARY,Elapsed=14,MHS av=2.50|\x00"))
			},
			check: func(t *testing.T, r *Reply) {
				if f, _ := r.First("SUMMARY").FloatKey("MHS av"); f != 2.5 {
					t.Errorf("MHS av = %v", f)
				}
			},
		},
		{
			name: "two chunks after a join: stop at the first NUL",
			serve: func(t *testing.T, c net.Conn, req string) {
				c.Write(readFixture(t, "cgminer-4.11.1-nodevices_invalid_after_join.raw"))
			},
			reason: ReasonAPIError,
		},
		{
			name: "slow: trickles past the deadline",
			serve: func(t *testing.T, c net.Conn, req string) {
				for _, b := range []byte(summaryReply) {
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			},
			reason: ReasonTimeout,
		},
		{
			name: "hangs: accepts and never answers",
			serve: func(t *testing.T, c net.Conn, req string) {
				time.Sleep(3 * deadline)
			},
			reason: ReasonTimeout,
		},
		{
			name: "oversized",
			serve: func(t *testing.T, c net.Conn, req string) {
				chunk := bytes.Repeat([]byte(`{"a":`), 1024)
				for i := 0; i < 100; i++ {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			},
			reason: ReasonTooLarge,
		},
		{
			name:   "closed without a reply",
			serve:  func(t *testing.T, c net.Conn, req string) {},
			reason: ReasonEmpty,
		},
		{
			name: "closed in the middle of the reply",
			serve: func(t *testing.T, c net.Conn, req string) {
				c.Write([]byte(summaryReply[:60]))
			},
			reason: ReasonTruncated,
		},
		{
			name: "not the cgminer API",
			serve: func(t *testing.T, c net.Conn, req string) {
				c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
			},
			reason: ReasonNotAPI,
		},
		{
			name: "cgminer truncation marker id 0",
			serve: func(t *testing.T, c net.Conn, req string) {
				c.Write([]byte(`{"STATUS":[{"STATUS":"S","Code":11}],"SUMMARY":[{"Elapsed":1}],"id":0}` + "\x00"))
			},
			reason: ReasonTruncated,
		},
	}
	client := &Client{MaxReplyBytes: 64 << 10}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newFakeMiner(t, func(c net.Conn, req string) {
				if got := command(t, req); got != "summary" {
					t.Errorf("command = %q", got)
				}
				tt.serve(t, c, req)
			})
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			res := client.QueryAll(ctx, m.addr(), []Command{Summary}, Options{Join: true, KeepRaw: true})
			elapsed := time.Since(start)
			// Every exchange ends within its deadline (plus scheduling slack under -race).
			if elapsed > deadline+300*time.Millisecond {
				t.Errorf("took %v with a %v deadline", elapsed, deadline)
			}
			err := res.Err()
			if got := ReasonOf(err); got != tt.reason {
				t.Fatalf("reason = %q (%v), want %q", got, err, tt.reason)
			}
			if tt.reason == "" {
				r := res.Reply(Summary)
				if r == nil {
					t.Fatal("no summary reply")
				}
				if len(res.Exchanges) != 1 || len(res.Exchanges[0].Raw) == 0 {
					t.Errorf("raw reply not kept: %+v", res.Exchanges)
				}
				if tt.check != nil {
					tt.check(t, r)
				}
			}
		})
	}
}

func TestClientConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	res := (&Client{}).QueryAll(ctx, addr, []Command{Summary, Pools, Stats}, Options{Join: true})
	if got := ReasonOf(res.Err()); got != ReasonRefused {
		t.Fatalf("reason = %q (%v)", got, res.Err())
	}
	if len(res.Exchanges) != 1 {
		t.Errorf("%d exchanges after a refused connection, want 1 (no retry per command)", len(res.Exchanges))
	}
	if len(res.Errors) != 3 {
		t.Errorf("errors for %d commands, want 3", len(res.Errors))
	}
}

func TestClientJoined(t *testing.T) {
	t.Run("joined reply split per command", func(t *testing.T) {
		m := newFakeMiner(t, func(c net.Conn, req string) {
			if command(t, req) != "summary+pools" {
				t.Errorf("request %q, want the joined command", req)
			}
			c.Write(readFixture(t, "cgminer-4.11.1-nodevices_summary_pools.raw"))
		})
		res := (&Client{}).QueryAll(context.Background(), m.addr(), []Command{Summary, Pools}, Options{Join: true})
		if res.Err() != nil || !res.Joined {
			t.Fatalf("err %v joined %v", res.Err(), res.Joined)
		}
		if n := len(res.Reply(Pools).Section("POOLS")); n != 2 {
			t.Errorf("%d pools, want 2", n)
		}
		if res.Reply(Summary) == nil {
			t.Error("no summary")
		}
	})

	t.Run("a refused command inside a join fails alone", func(t *testing.T) {
		m := newFakeMiner(t, func(c net.Conn, req string) {
			c.Write(readFixture(t, "cgminer-4.11.1-nodevices_summary_bogus.raw"))
		})
		// devs stands in for the unknown command: the miner answers it with Code 14 under "bogus",
		// so devs is missing from the joined reply and is asked again on its own.
		res := (&Client{}).QueryAll(context.Background(), m.addr(), []Command{Summary, Devs}, Options{Join: true})
		if res.Reply(Summary) == nil {
			t.Fatal("summary lost")
		}
		if len(res.Exchanges) != 2 || command(t, m.seen()[1]) != "devs" {
			t.Errorf("requests %q: want the join, then devs alone", m.seen())
		}
	})

	t.Run("firmware that refuses joins: separate requests, said in the result", func(t *testing.T) {
		m := newFakeMiner(t, func(c net.Conn, req string) {
			switch command(t, req) {
			case "summary":
				c.Write([]byte(summaryReply + "\x00"))
			case "pools":
				c.Write([]byte(poolsReply + "\x00"))
			default:
				c.Write([]byte(invalidReply + "\x00"))
			}
		})
		client := &Client{}
		res := client.QueryAll(context.Background(), m.addr(), []Command{Summary, Pools}, Options{Join: true})
		if res.Err() != nil || res.Joined || !res.JoinRefused || res.Reply(Summary) == nil || res.Reply(Pools) == nil {
			t.Fatalf("err %v joined %v join refused %v replies %v", res.Err(), res.Joined, res.JoinRefused, res.Replies)
		}
		// The client remembers nothing: the caller that knows the refusal asks without joining,
		// and one that does not joins again.
		if res := client.QueryAll(context.Background(), m.addr(), []Command{Summary, Pools}, Options{}); res.JoinRefused || res.Err() != nil {
			t.Errorf("without Join: join refused %v, err %v", res.JoinRefused, res.Err())
		}
		client.QueryAll(context.Background(), m.addr(), []Command{Summary, Pools}, Options{Join: true})
		want := []string{"summary+pools", "summary", "pools", "summary", "pools", "summary+pools", "summary", "pools"}
		var got []string
		for _, r := range m.seen() {
			got = append(got, command(t, r))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("requests %v, want %v", got, want)
		}
	})

	// A peer that is not the cgminer API (a stripped legacy port that accepts and closes, another
	// service's banner) is asked once more, alone, not once per command: a cgminer API answers
	// any single command with at least a STATUS.
	for name, serve := range map[string]func(c net.Conn){
		"silent peer": func(c net.Conn) {},
		"banner":      func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n")) },
	} {
		t.Run(name+": not asked each command", func(t *testing.T) {
			m := newFakeMiner(t, func(c net.Conn, req string) { serve(c) })
			res := (&Client{}).QueryAll(context.Background(), m.addr(), []Command{Summary, Pools, Stats, Devs}, Options{Join: true})
			if n := len(m.seen()); n != 2 {
				t.Errorf("%d requests, want 2 (the join, then one command alone)", n)
			}
			if len(res.Errors) != 4 || res.Err() == nil {
				t.Errorf("errors for %d commands (want 4), err %v", len(res.Errors), res.Err())
			}
		})
	}

	t.Run("firmware that closes on a joined request but answers alone", func(t *testing.T) {
		m := newFakeMiner(t, func(c net.Conn, req string) {
			if cmd := command(t, req); !strings.Contains(cmd, "+") {
				c.Write([]byte(map[string]string{"summary": summaryReply, "pools": poolsReply}[cmd] + "\x00"))
			}
		})
		res := (&Client{}).QueryAll(context.Background(), m.addr(), []Command{Summary, Pools}, Options{Join: true})
		if res.Reply(Summary) == nil || res.Reply(Pools) == nil || !res.JoinRefused {
			t.Errorf("replies %v, join refused %v", res.Replies, res.JoinRefused)
		}
	})

	t.Run("whatsminer get_ commands are never joined", func(t *testing.T) {
		m := newFakeMiner(t, func(c net.Conn, req string) {
			c.Write([]byte(`{"STATUS":"S","When":1,"Code":131,"Msg":{"fw_ver":"20210322.22.REL"},"Description":"whatsminer v1.4.0"}`))
		})
		res := (&Client{}).QueryAll(context.Background(), m.addr(), []Command{GetVersion, Summary}, Options{Join: true})
		if r := res.Reply(GetVersion); r == nil || r.Status[0].MsgValue.StrKey("fw_ver") != "20210322.22.REL" {
			t.Fatalf("get_version: %+v", res.Replies["get_version"])
		}
		for _, r := range m.seen() {
			if strings.Contains(r, "+") {
				t.Errorf("joined request %q", r)
			}
		}
	})
}

func TestClientCancel(t *testing.T) {
	m := newFakeMiner(t, func(c net.Conn, req string) { time.Sleep(2 * time.Second) })
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	start := time.Now()
	res := (&Client{}).QueryAll(ctx, m.addr(), []Command{Summary}, Options{})
	if time.Since(start) > time.Second {
		t.Errorf("cancel took %v", time.Since(start))
	}
	if ReasonOf(res.Err()) != ReasonTimeout {
		t.Errorf("reason %q", ReasonOf(res.Err()))
	}
}

// Options.MaxReplyBytes caps one query's replies (a module's max_reply_bytes), over the client's
// own cap; KeepRaw keeps only replies that are cgminer API, so debug output never echoes another
// service's banner, and an error never quotes one.
func TestClientPerQueryLimits(t *testing.T) {
	big := `{"STATUS":[{"STATUS":"S","When":1,"Code":11,"Msg":"Summary"}],"SUMMARY":[{"Elapsed":1,"Pad":"` + strings.Repeat("x", 5000) + `"}],"id":1}`
	const banner = "SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n"
	tests := []struct {
		name   string
		reply  string
		opts   Options
		cap    int    // the client's own MaxReplyBytes
		reason Reason // "" means success
		api    bool   // Exchange.API; Raw is kept when KeepRaw and API
	}{
		{name: "under the per-query cap", reply: big, opts: Options{MaxReplyBytes: 8000, KeepRaw: true}, api: true},
		{name: "over the per-query cap", reply: big, opts: Options{MaxReplyBytes: 4000}, reason: ReasonTooLarge},
		{name: "a small reply over a small cap", reply: summaryReply, opts: Options{MaxReplyBytes: 100}, reason: ReasonTooLarge},
		{name: "a small reply at a small cap", reply: summaryReply, opts: Options{MaxReplyBytes: len(summaryReply)}, api: true},
		{name: "per-query cap over the client's", reply: big, opts: Options{MaxReplyBytes: 8000}, cap: 1000, api: true},
		{name: "client cap when the query sets none", reply: big, cap: 1000, reason: ReasonTooLarge},
		{name: "an SSH banner is not kept", reply: banner, opts: Options{KeepRaw: true}, reason: ReasonNotAPI},
		{name: "an HTTP reply is not kept", reply: "HTTP/1.1 400 Bad Request\r\nServer: secret-admin/1.2\r\n\r\n", opts: Options{KeepRaw: true}, reason: ReasonNotAPI},
		{name: "JSON of another service is not kept", reply: `{"id":null,"result":null,"error":[20,"stratum says hi"]}`, opts: Options{KeepRaw: true}, api: false},
		{name: "a truncated cgminer reply is kept", reply: `{"STATUS":[{"STATUS":"S","When":1,"Code":11,"Msg":"Summary"}],"SUMMARY":[{"Elapsed":1`, opts: Options{KeepRaw: true}, reason: ReasonTruncated, api: true},
		{name: "a text-form reply is kept", reply: "STATUS=S,When=1,Code=11,Msg=Summary,Description=cgminer 4.9.0|SUMMARY,Elapsed=1|\n", opts: Options{KeepRaw: true}, api: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMiner(t, func(c net.Conn, req string) { c.Write([]byte(tc.reply + "\x00")) })
			c := &Client{MaxReplyBytes: tc.cap}
			res := c.QueryAll(context.Background(), m.addr(), []Command{Summary}, tc.opts)
			if got := ReasonOf(res.Err()); got != tc.reason {
				t.Fatalf("reason %q (%v), want %q", got, res.Err(), tc.reason)
			}
			if len(res.Exchanges) != 1 {
				t.Fatalf("%d exchanges", len(res.Exchanges))
			}
			ex := res.Exchanges[0]
			if kept, want := ex.Raw != nil, tc.opts.KeepRaw && tc.api; kept != want || ex.API != tc.api {
				t.Errorf("Raw kept %v, API %v; want %v, %v", kept, ex.API, want, tc.api)
			}
			if ex.Bytes == 0 && tc.reason != ReasonTooLarge {
				t.Errorf("Bytes = 0")
			}
			if err := res.Err(); err != nil && (strings.Contains(err.Error(), "OpenSSH") || strings.Contains(err.Error(), "secret-admin")) {
				t.Errorf("the error quotes the service's reply: %v", err)
			}
		})
	}
}
