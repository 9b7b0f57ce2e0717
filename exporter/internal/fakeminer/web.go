package fakeminer

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Web is a miner's web server for tests: the stock Antminer firmware's /cgi-bin/*.cgi behind
// HTTP Digest authentication as lighttpd's mod_auth checks it (the server side of RFC 7616,
// written here from the RFC, not from the exporter's client), and the token logins of Braiins
// OS (POST /api/v1/auth/login) and VNish (POST /api/v1/unlock). It answers each path from
// Replies.
type Web struct {
	// Replies are the bodies by path ("/cgi-bin/summary.cgi", "/api/v1/miner/details").
	Replies map[string][]byte
	// User and Password are what it accepts.
	User, Password string
	// Algorithm is "MD5" (lighttpd's) or "SHA-256"; "" is MD5.
	Algorithm string
	// Realm names the protected space ("antMiner Configuration", as Bitmain's).
	Realm string
	// NonceUses is how many requests a nonce serves before it is stale (0: unlimited).
	NonceUses int
	// Token is the login token it hands out ("" makes one); TokenTTL its timeout_s (0: none said).
	Token    string
	TokenTTL int
	// LoginDelay holds each login this long (to see logins overlap).
	LoginDelay time.Duration

	mu        sync.Mutex
	nonces    map[string]*nonceState
	Requests  atomic.Int64 // every request
	Logins    atomic.Int64 // login requests
	inLogin   atomic.Int64
	MaxLogins atomic.Int64 // the most logins in progress at once
	// Authorizations are the Authorization headers received, in order.
	Authorizations []string
}

type nonceState struct {
	uses   int
	lastNC uint64
}

// Start serves w on a free loopback port until the test ends and returns its host:port.
func (w *Web) Start(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func (w *Web) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.Requests.Add(1)
	w.mu.Lock()
	w.Authorizations = append(w.Authorizations, r.Header.Get("Authorization"))
	w.mu.Unlock()
	switch {
	case r.URL.Path == "/api/v1/auth/login" || r.URL.Path == "/api/v1/unlock":
		w.login(rw, r)
		return
	case strings.HasPrefix(r.URL.Path, "/cgi-bin/"):
		if !w.digestOK(rw, r) {
			return
		}
	case strings.HasPrefix(r.URL.Path, "/api/v1/"):
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if tok == "" || tok != w.token() {
			http.Error(rw, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
	}
	body, ok := w.Replies[r.URL.Path]
	if !ok || r.Method != http.MethodGet {
		http.NotFound(rw, r)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	_, _ = rw.Write(body)
}

func (w *Web) token() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.Token == "" {
		w.Token = randomHex(16)
	}
	return w.Token
}

func (w *Web) login(rw http.ResponseWriter, r *http.Request) {
	w.Logins.Add(1)
	n := w.inLogin.Add(1)
	defer w.inLogin.Add(-1)
	for {
		m := w.MaxLogins.Load()
		if n <= m || w.MaxLogins.CompareAndSwap(m, n) {
			break
		}
	}
	if w.LoginDelay > 0 {
		time.Sleep(w.LoginDelay)
	}
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		PW       string `json:"pw"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(http.MaxBytesReader(rw, r.Body, 4096)).Decode(&req) != nil {
		http.Error(rw, `{"error":"bad request"}`, http.StatusBadRequest)
		return
	}
	ok := req.Username == w.User && req.Password == w.Password
	if r.URL.Path == "/api/v1/unlock" {
		ok = req.PW == w.Password
	}
	if !ok {
		http.Error(rw, `{"error":"invalid credentials"}`, http.StatusUnauthorized)
		return
	}
	out := map[string]any{"token": w.token()}
	if w.TokenTTL > 0 {
		out["timeout_s"] = w.TokenTTL
	}
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(out)
}

// digestOK checks the request's Digest answer; when there is none, or it is wrong, or its nonce
// is spent, it writes the 401 with a fresh challenge and returns false.
func (w *Web) digestOK(rw http.ResponseWriter, r *http.Request) bool {
	p := parseAuthorization(r.Header.Get("Authorization"))
	stale := false
	if p != nil {
		w.mu.Lock()
		st, known := w.nonces[p["nonce"]]
		w.mu.Unlock()
		if !known {
			stale = true
		} else if w.checkDigest(p, r) {
			var nc uint64
			fmt.Sscanf(p["nc"], "%x", &nc)
			w.mu.Lock()
			fresh := nc > st.lastNC && (w.NonceUses == 0 || st.uses < w.NonceUses)
			if fresh {
				st.lastNC = nc
				st.uses++
			}
			w.mu.Unlock()
			if fresh {
				return true
			}
			stale = true
		}
	}
	nonce := randomHex(16)
	w.mu.Lock()
	if w.nonces == nil {
		w.nonces = map[string]*nonceState{}
	}
	w.nonces[nonce] = &nonceState{}
	w.mu.Unlock()
	alg := w.Algorithm
	if alg == "" {
		alg = "MD5"
	}
	ch := fmt.Sprintf(`Digest realm="%s", charset="UTF-8", nonce="%s", qop="auth", algorithm="%s"`, w.Realm, nonce, alg)
	if stale {
		ch += ", stale=true"
	}
	rw.Header().Add("WWW-Authenticate", `Basic realm="`+w.Realm+`"`)
	rw.Header().Add("WWW-Authenticate", ch)
	http.Error(rw, "401 Unauthorized", http.StatusUnauthorized)
	return false
}

// checkDigest verifies RFC 7616 §3.4.1's request-digest for qop auth.
func (w *Web) checkDigest(p map[string]string, r *http.Request) bool {
	var newHash func() hash.Hash
	switch strings.ToUpper(p["algorithm"]) {
	case "MD5", "":
		newHash = md5.New
	case "SHA-256":
		newHash = sha256.New
	default:
		return false
	}
	want := strings.ToUpper(w.Algorithm)
	if want == "" {
		want = "MD5"
	}
	if strings.ToUpper(p["algorithm"]) != want && !(want == "MD5" && p["algorithm"] == "") {
		return false
	}
	h := func(s string) string {
		x := newHash()
		x.Write([]byte(s))
		return hex.EncodeToString(x.Sum(nil))
	}
	if p["username"] != w.User || p["realm"] != w.Realm || p["uri"] != r.URL.RequestURI() || p["qop"] != "auth" {
		return false
	}
	ha1 := h(w.User + ":" + w.Realm + ":" + w.Password)
	ha2 := h(r.Method + ":" + p["uri"])
	return p["response"] == h(ha1+":"+p["nonce"]+":"+p["nc"]+":"+p["cnonce"]+":auth:"+ha2)
}

// parseAuthorization reads `Digest k="v", k=v, …` (nil when it is not Digest).
func parseAuthorization(h string) map[string]string {
	rest, ok := strings.CutPrefix(h, "Digest ")
	if !ok {
		return nil
	}
	out := map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		k = strings.TrimSpace(k)
		if strings.HasPrefix(v, `"`) {
			end := strings.Index(v[1:], `"`)
			if end < 0 {
				break
			}
			out[k], rest = v[1:1+end], v[2+end:]
			continue
		}
		val, after, _ := strings.Cut(v, ",")
		out[k], rest = strings.TrimSpace(val), after
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
