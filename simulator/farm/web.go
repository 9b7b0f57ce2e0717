package farm

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The stock Antminer HTTP API (s19jpro, s9): the controller's web server answers /cgi-bin/*.cgi
// with JSON behind HTTP Digest authentication (RFC 7616 with MD5 and qop=auth, as Bitmain's
// lighttpd asks it, realm "antMiner Configuration"). Read-only: the four CGIs the exporter reads
// answer GET; everything else is 404, another method 405. The web server is not the mining
// software: a restart of bmminer leaves it answering; the offline fault and the connection-level
// faults (hang, slow, garbage, truncated) hit it as they hit the cgminer API.

const (
	webRealm = "antMiner Configuration"
	// nonceLife is how long a Digest nonce is good for; an older one gets a fresh challenge
	// marked stale, so a client that knows the password retries without asking the user.
	nonceLife = 5 * time.Minute
	// maxAuthHeader bounds the Authorization header read (the server caps all headers at 8 KiB).
	maxAuthHeader = 2048
	// maxAuthParams bounds the Digest parameters read from it.
	maxAuthParams = 16
	maxWebHeader  = 8 << 10
)

// digestAuth checks HTTP Digest credentials. Nonces are the time they were made and an HMAC of
// it under a key made at start: nothing is stored per client.
type digestAuth struct {
	user string
	ha1  string // MD5(user:realm:password)
	key  []byte
}

func newDigestAuth(user string, pw Secret) (*digestAuth, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("digest nonce key: %w", err)
	}
	return &digestAuth{user: user, ha1: md5hex(user + ":" + webRealm + ":" + pw.Reveal()), key: key}, nil
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// nonce makes a nonce at now: hex seconds, '-', hex HMAC.
func (d *digestAuth) nonce(now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 16)
	return ts + "-" + d.sign(ts)
}

func (d *digestAuth) sign(ts string) string {
	mac := hmac.New(sha256.New, d.key)
	mac.Write([]byte(ts))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// nonceState says whether a nonce is one of ours (ok) and whether it has expired (stale).
func (d *digestAuth) nonceState(nonce string, now time.Time) (ok, stale bool) {
	ts, sig, found := strings.Cut(nonce, "-")
	if !found || len(ts) == 0 || len(ts) > 16 || !hmac.Equal([]byte(sig), []byte(d.sign(ts))) {
		return false, false
	}
	sec, err := strconv.ParseInt(ts, 16, 64)
	if err != nil {
		return false, false
	}
	age := now.Sub(time.Unix(sec, 0))
	return true, age < -time.Minute || age > nonceLife
}

// challenge is the WWW-Authenticate header of a 401.
func (d *digestAuth) challenge(now time.Time, stale bool) string {
	c := `Digest realm="` + webRealm + `", charset="UTF-8", algorithm=MD5, qop="auth", nonce="` + d.nonce(now) + `"`
	if stale {
		c += ", stale=true"
	}
	return c
}

// check verifies a request's Authorization header. ok is false without valid credentials;
// stale is true when they were right but for an expired nonce.
func (d *digestAuth) check(r *http.Request, now time.Time) (ok, stale bool) {
	h := r.Header.Get("Authorization")
	if len(h) > maxAuthHeader || len(r.Header.Values("Authorization")) != 1 {
		return false, false
	}
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Digest") {
		return false, false
	}
	p, good := parseDigest(rest)
	if !good {
		return false, false
	}
	if p["algorithm"] != "" && !strings.EqualFold(p["algorithm"], "MD5") {
		return false, false
	}
	if p["qop"] != "auth" || p["realm"] != webRealm || p["uri"] != r.RequestURI || p["cnonce"] == "" || !ncValid(p["nc"]) {
		return false, false
	}
	if subtle.ConstantTimeCompare([]byte(p["username"]), []byte(d.user)) != 1 {
		return false, false
	}
	mine, expired := d.nonceState(p["nonce"], now)
	if !mine {
		return false, false
	}
	ha2 := md5hex(r.Method + ":" + p["uri"])
	want := md5hex(d.ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(p["response"])), []byte(want)) != 1 {
		return false, false
	}
	if expired {
		return false, true
	}
	return true, false
}

// ncValid: the nonce count is 8 hex digits.
func ncValid(nc string) bool {
	if len(nc) != 8 {
		return false
	}
	_, err := strconv.ParseUint(nc, 16, 32)
	return err == nil
}

// parseDigest reads the comma-separated name=value pairs of a Digest Authorization header,
// values plain or quoted (with backslash escapes). It refuses a duplicate name, more than
// maxAuthParams pairs and anything malformed.
func parseDigest(s string) (map[string]string, bool) {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return out, len(out) > 0
		}
		if len(out) == maxAuthParams {
			return nil, false
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, false
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i, closed := 1, false
			for ; i < len(s); i++ {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					i++
					b.WriteByte(s[i])
					continue
				}
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, false
			}
			val, s = b.String(), s[i+1:]
		} else {
			end := strings.IndexAny(s, ", \t")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		if _, dup := out[name]; dup {
			return nil, false
		}
		out[name] = val
	}
}

// webPaths are the CGIs the simulator answers, and their renderers (render_antminer_web.go).
var webPaths = map[string]func(*state) []kv{
	"/cgi-bin/get_system_info.cgi": webSystemInfo,
	"/cgi-bin/summary.cgi":         webSummary,
	"/cgi-bin/stats.cgi":           webStats,
	"/cgi-bin/get_miner_conf.cgi":  webMinerConf,
}

// serveWeb serves the HTTP API on ln until ln closes.
func (m *Miner) serveWeb(ln net.Listener) {
	defer m.farm.wg.Done()
	m.mu.Lock()
	if m.web == nil {
		m.web = &http.Server{
			Handler:           http.HandlerFunc(m.serveHTTP),
			ReadHeaderTimeout: m.farm.cfg.ReadTimeout,
			IdleTimeout:       m.farm.cfg.ReadTimeout,
			MaxHeaderBytes:    maxWebHeader,
			ErrorLog:          slog.NewLogLogger(m.farm.log.Handler(), slog.LevelDebug),
			BaseContext:       func(net.Listener) context.Context { return m.farm.ctx },
			ConnState:         m.trackWebConn,
		}
	}
	srv := m.web
	m.mu.Unlock()
	_ = srv.Serve(ln)
}

// trackWebConn keeps the HTTP API's open connections, so that closing the listener (offline,
// the farm stopping) also drops the kept-alive ones: a miner that is off answers nothing.
func (m *Miner) trackWebConn(c net.Conn, st http.ConnState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch st {
	case http.StateNew:
		if m.webConns == nil {
			m.webConns = map[net.Conn]struct{}{}
		}
		m.webConns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(m.webConns, c)
	}
}

// serveHTTP answers one request: the connection-level faults first (the daemon is broken
// whatever is asked), then Digest authentication, then the CGI.
func (m *Miner) serveHTTP(w http.ResponseWriter, r *http.Request) {
	m.farm.wg.Add(1)
	defer m.farm.wg.Done()
	m.mu.Lock()
	f := m.faults
	m.mu.Unlock()
	switch {
	case f.has(Hang):
		<-r.Context().Done() // never answers: until the client gives up or the farm stops
		return
	case f.has(Slow):
		t := time.NewTimer(m.farm.cfg.SlowDelay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if f.has(Garbage) {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_, _ = conn.Write(garbage(m.seed, m.farm.cfg.Clock.Now()))
			_ = conn.Close()
		}
		return
	}
	now := m.farm.cfg.Clock.Now()
	render, known := webPaths[r.URL.Path]
	if ok, stale := m.farm.digest.check(r, now); !ok {
		w.Header().Set("WWW-Authenticate", m.farm.digest.challenge(now, stale))
		http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
		return
	}
	switch {
	case !known:
		http.Error(w, "404 Not Found", http.StatusNotFound)
		return
	case r.Method != http.MethodGet:
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	body := appendDoc(nil, render(m.snapshot(now)), false)
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if f.has(Truncated) {
		body = truncate(body) // Content-Length announces the whole body; half of it arrives
	}
	_, _ = w.Write(body)
}
