package fakeminer

import (
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"
)

// Listen accepts connections on addr ("127.0.0.1:0" for a free port) until the test ends or the
// returned listener is closed. Each connection's request is read as cgminer reads it, with a single
// recv, handed to serve with the connection, and the connection is closed when serve returns. The
// test's cleanup waits for every connection's serve to return; serve can watch t.Context() to end
// a deliberate hang early.
func Listen(t testing.TB, addr string, serve func(c net.Conn, req []byte)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 4096)
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _ := c.Read(buf)
				_ = c.SetReadDeadline(time.Time{})
				serve(c, buf[:n])
			}()
		}
	}()
	return ln
}

// Command is the command of a JSON request ({"command":"summary+pools"}); "" when there is none.
func Command(req []byte) string {
	var r struct {
		Command string `json:"command"`
	}
	_ = json.Unmarshal(req, &r)
	return r.Command
}

// Serve answers every request from replies as cgminer does (Answer, then a NUL) on a free
// loopback port, and returns its address.
func Serve(t testing.TB, replies map[string][]byte) string {
	t.Helper()
	ln := Listen(t, "127.0.0.1:0", func(c net.Conn, req []byte) {
		_, _ = c.Write(append(Answer(replies, Command(req)), 0))
	})
	return ln.Addr().String()
}
