package remedy

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// peer is a hostile or honest miner on loopback: it reads the request and then behaves.
type peer struct {
	ln  net.Listener
	mu  sync.Mutex
	got []string
	wg  sync.WaitGroup
}

func startPeer(t *testing.T, behave func(c net.Conn)) *peer {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer c.Close()
				buf := make([]byte, 8192)
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, _ := c.Read(buf)
				p.mu.Lock()
				p.got = append(p.got, string(buf[:n]))
				p.mu.Unlock()
				_ = c.SetDeadline(time.Time{})
				behave(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *peer) addr() netip.AddrPort { return netip.MustParseAddrPort(p.ln.Addr().String()) }

func write(s string) func(net.Conn) { return func(c net.Conn) { _, _ = io.WriteString(c, s) } }

// TestSendRestart: the client sends exactly the restart command and reads a bounded reply within
// its deadline, whatever the miner does.
func TestSendRestart(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name     string
		behave   func(net.Conn)
		accepted bool
		err      string
	}{
		{"cgminer accepts", write(`{"STATUS":"RESTART","id":1}` + "\x00"), true, ""},
		{"without NUL, then closed", write(`{"STATUS":"RESTART","id":1}`), true, ""},
		{"a STATUS list with S", write(`{"STATUS":[{"STATUS":"S","When":1,"Code":0,"Msg":"Restarting"}],"id":1}` + "\x00"), true, ""},
		{"text form", write("RESTART\x00"), true, ""},
		{"stock firmware without W: access", write(`{"STATUS":[{"STATUS":"E","When":1795334551,"Code":45,"Msg":"Access denied to 'restart' command","Description":"cgminer 4.11.1"}],"id":1}` + "\x00"), false, "give this host W: access"},
		{"btminer's flat refusal", write(`{"STATUS":"E","When":1,"Code":45,"Msg":"Permission denied","Description":""}` + "\x00"), false, `Code 45 "Permission denied"`},
		{"another error", write(`{"STATUS":[{"STATUS":"E","Code":14,"Msg":"Invalid command"}],"id":1}` + "\x00"), false, `Code 14 "Invalid command"`},
		{"odd STATUS", write(`{"STATUS":"MAYBE"}` + "\x00"), false, `unexpected STATUS "MAYBE"`},
		{"no STATUS", write(`{"RESTART":true}` + "\x00"), false, "without STATUS"},
		{"garbage", write("\x8f\xfe\xfe\xfeHELLO\x00"), false, "not a cgminer API reply"},
		{"closes without a word", func(net.Conn) {}, false, "without a reply"},
		{"huge reply", func(c net.Conn) {
			chunk := bytes.Repeat([]byte("a"), 64<<10)
			for range 160 { // 10 MiB, no NUL
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}, false, "reply larger than 65536 bytes"},
		{"huge reply with a late NUL", func(c net.Conn) {
			_, _ = c.Write(append(bytes.Repeat([]byte(" "), 70<<10), 0))
		}, false, "reply larger than 65536 bytes"},
		{"trickles forever", func(c net.Conn) {
			for {
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}, false, "reply cut off after"},
		{"never answers", func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }, false, "no reply: timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startPeer(t, tc.behave)
			rep, err := sendRestart(context.Background(), &net.Dialer{}, p.addr(), timeout, DefaultMaxReply)
			if tc.err == "" && err != nil {
				t.Fatalf("err %v (reply %q)", err, rep.Text)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
			if rep.Accepted != tc.accepted {
				t.Errorf("accepted %v, want %v", rep.Accepted, tc.accepted)
			}
			if len(rep.Text) > DefaultMaxReply {
				t.Errorf("reply text of %d bytes kept", len(rep.Text))
			}
			p.ln.Close()
			p.mu.Lock()
			defer p.mu.Unlock()
			if len(p.got) != 1 || p.got[0] != `{"command":"restart"}` {
				t.Errorf("the miner got %q, want one {\"command\":\"restart\"}", p.got)
			}
		})
	}
}

// TestSendRestartNothingListening: a closed port is reported as refused.
func TestSendRestartNothingListening(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	_, err = sendRestart(context.Background(), &net.Dialer{}, addr, time.Second, DefaultMaxReply)
	if err == nil || !strings.Contains(err.Error(), "connect: connection refused") {
		t.Fatalf("err %v", err)
	}
}

// FuzzParseReply: whatever a miner sends, reading it never panics, and only a reply that says
// RESTART or S/I counts as accepted.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{`{"STATUS":"RESTART","id":1}`, `{"STATUS":[{"STATUS":"E","Code":45,"Msg":"Access denied to 'restart' command"}],"id":1}`,
		`{"STATUS":"E","Code":45,"Msg":"Permission denied"}`, "RESTART", `{"STATUS":[]}`, `{"STATUS":null}`, `[1,2]`, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := parseReply(b)
		if rep.Accepted && err != nil {
			t.Fatalf("accepted with an error: %v", err)
		}
		if rep.Accepted && !bytes.Contains(b, []byte("RESTART")) && !bytes.Contains(b, []byte(`"S"`)) && !bytes.Contains(b, []byte(`"I"`)) &&
			!bytes.Contains(b, []byte(`\u`)) {
			t.Fatalf("accepted %q", b)
		}
	})
}
