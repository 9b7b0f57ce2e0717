package webapi

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// HTTP Digest access authentication (RFC 7616, and RFC 2617/2069 for older servers), client
// side, for the stock Antminer firmware's lighttpd: algorithms MD5 and SHA-256 and their -sess
// variants, qop "auth" (or none), userhash. Every challenge is bounded before it is read.

// Bounds on what a server's challenge may make the client read.
const (
	maxChallengeHeaders = 8    // WWW-Authenticate header lines looked at
	maxChallengeBytes   = 4096 // one header line
	maxChallengeParams  = 32   // auth-params of one header line
	maxParamBytes       = 1024 // one auth-param's value
)

// challenge is the Digest challenge chosen from a 401 answer.
type challenge struct {
	realm, nonce, opaque string
	algorithm            string // as the server named it, for the answer: "MD5", "SHA-256", "MD5-sess", …
	qop                  string // "auth", or "" for a server that offers none (RFC 2069)
	sess, userhash       bool
	stale                bool
	newHash              func() hash.Hash
}

var errNoDigest = errors.New("no Digest challenge this client can answer (MD5 or SHA-256, qop auth)")

// parseChallenges picks the strongest Digest challenge of a 401's WWW-Authenticate headers:
// SHA-256 before MD5, each with qop auth or none. Other schemes (Basic) and algorithms are
// passed over.
func parseChallenges(headers []string) (challenge, error) {
	var best challenge
	found := false
	for i, h := range headers {
		if i == maxChallengeHeaders {
			break
		}
		if len(h) > maxChallengeBytes {
			continue
		}
		for _, c := range splitChallenges(h) {
			ch, ok := digestChallenge(c)
			if !ok {
				continue
			}
			if !found || strength(ch) > strength(best) {
				best, found = ch, true
			}
		}
	}
	if !found {
		return challenge{}, errNoDigest
	}
	return best, nil
}

func strength(c challenge) int {
	n := 0
	if strings.HasPrefix(strings.ToUpper(c.algorithm), "SHA-256") {
		n += 2
	}
	if c.qop != "" {
		n++
	}
	return n
}

// rawChallenge is one challenge of a header: its scheme and auth-params (names lower-cased).
type rawChallenge struct {
	scheme string
	params map[string]string
}

// splitChallenges reads a WWW-Authenticate value: challenges separated by commas, each a
// scheme token and auth-params name=token or name="quoted string" (RFC 9110 §11.6.1). It reads
// what it can and stops at the first thing it cannot: a broken header yields fewer challenges,
// never an error or a long loop (every step consumes input).
func splitChallenges(h string) []rawChallenge {
	var out []rawChallenge
	var cur *rawChallenge
	p := 0
	params := 0
	for p < len(h) {
		p = skip(h, p, " \t,")
		if p >= len(h) {
			break
		}
		name, q := token(h, p)
		if name == "" {
			break
		}
		r := skip(h, q, " \t")
		if r < len(h) && h[r] == '=' {
			if e := skip(h, skip(h, r, "="), " \t"); cur != nil && len(cur.params) == 0 && (e >= len(h) || h[e] == ',' || h[r+1] == '=') {
				// A token68 with its padding (Basic's, Negotiate's credentials): not read.
				p = e
				continue
			}
			// An auth-param of the current challenge.
			if cur == nil {
				break
			}
			v, next, ok := paramValue(h, skip(h, r+1, " \t"))
			if !ok {
				break
			}
			if params++; params > maxChallengeParams {
				break
			}
			key := strings.ToLower(name)
			if _, dup := cur.params[key]; !dup {
				cur.params[key] = v
			}
			p = next
			continue
		}
		// A new challenge: its scheme (a token68 after it, as Basic's, is not read).
		out = append(out, rawChallenge{scheme: strings.ToLower(name), params: map[string]string{}})
		cur = &out[len(out)-1]
		p = q
	}
	return out
}

func skip(s string, p int, set string) int {
	for p < len(s) && strings.IndexByte(set, s[p]) >= 0 {
		p++
	}
	return p
}

// token reads an RFC 9110 token at p.
func token(s string, p int) (string, int) {
	start := p
	for p < len(s) && tchar(s[p]) {
		p++
	}
	return s[start:p], p
}

func tchar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~/", c) >= 0
}

// paramValue reads a token or a quoted string (backslash escapes) at p, at most maxParamBytes.
func paramValue(s string, p int) (string, int, bool) {
	if p < len(s) && s[p] == '"' {
		var b strings.Builder
		for i := p + 1; i < len(s); i++ {
			switch c := s[i]; c {
			case '"':
				return b.String(), i + 1, true
			case '\\':
				if i+1 >= len(s) {
					return "", 0, false
				}
				i++
				b.WriteByte(s[i])
			default:
				b.WriteByte(c)
			}
			if b.Len() > maxParamBytes {
				return "", 0, false
			}
		}
		return "", 0, false // unterminated
	}
	v, q := token(s, p)
	if len(v) > maxParamBytes {
		return "", 0, false
	}
	return v, q, true
}

// digestChallenge reads a Digest challenge this client can answer.
func digestChallenge(c rawChallenge) (challenge, bool) {
	if c.scheme != "digest" {
		return challenge{}, false
	}
	ch := challenge{realm: c.params["realm"], nonce: c.params["nonce"], opaque: c.params["opaque"]}
	if ch.nonce == "" || !printableHeader(ch.nonce) || !printableHeader(ch.realm) || !printableHeader(ch.opaque) {
		return challenge{}, false
	}
	alg := c.params["algorithm"]
	if alg == "" {
		alg = "MD5"
	}
	switch strings.ToUpper(alg) {
	case "MD5":
		ch.newHash = md5.New
	case "MD5-SESS":
		ch.newHash, ch.sess = md5.New, true
	case "SHA-256":
		ch.newHash = sha256.New
	case "SHA-256-SESS":
		ch.newHash, ch.sess = sha256.New, true
	default:
		return challenge{}, false
	}
	ch.algorithm = alg
	if qops, ok := c.params["qop"]; ok {
		for _, q := range strings.Split(qops, ",") {
			if strings.EqualFold(strings.TrimSpace(q), "auth") {
				ch.qop = "auth"
			}
		}
		if ch.qop == "" {
			return challenge{}, false // auth-int only
		}
	} else if ch.sess {
		return challenge{}, false // -sess needs a cnonce, which only qop carries
	}
	ch.stale = strings.EqualFold(c.params["stale"], "true")
	ch.userhash = strings.EqualFold(c.params["userhash"], "true")
	return ch, true
}

// printableHeader: a value written back into the Authorization header must hold no control
// character (a CR or LF would split the header).
func printableHeader(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func (c *challenge) h(parts ...string) string {
	hh := c.newHash()
	for i, p := range parts {
		if i > 0 {
			hh.Write([]byte{':'})
		}
		hh.Write([]byte(p))
	}
	return hex.EncodeToString(hh.Sum(nil))
}

// response computes the request-digest for method and uri with nonce count nc and cnonce.
func (c *challenge) response(user, password, method, uri string, nc uint32, cnonce string) string {
	ha1 := c.h(user, c.realm, password)
	if c.sess {
		ha1 = c.h(ha1, c.nonce, cnonce)
	}
	ha2 := c.h(method, uri)
	if c.qop == "" {
		return c.h(ha1, c.nonce, ha2)
	}
	return c.h(ha1, c.nonce, ncText(nc), cnonce, c.qop, ha2)
}

func ncText(nc uint32) string {
	s := strconv.FormatUint(uint64(nc), 16)
	return strings.Repeat("0", 8-len(s)) + s
}

// authorization is the Authorization header answering the challenge.
func (c *challenge) authorization(user, password, method, uri string, nc uint32, cnonce string) string {
	name := user
	if c.userhash {
		name = c.h(user, c.realm)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username=%s, realm=%s, nonce=%s, uri=%s, algorithm=%s, response="%s"`,
		quote(name), quote(c.realm), quote(c.nonce), quote(uri), c.algorithm, c.response(user, password, method, uri, nc, cnonce))
	if c.qop != "" {
		fmt.Fprintf(&b, `, qop=%s, nc=%s, cnonce="%s"`, c.qop, ncText(nc), cnonce)
	}
	if c.opaque != "" {
		fmt.Fprintf(&b, `, opaque=%s`, quote(c.opaque))
	}
	if c.userhash {
		b.WriteString(", userhash=true")
	}
	return b.String()
}

var quoter = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func quote(s string) string { return `"` + quoter.Replace(s) + `"` }

// newCnonce is a fresh client nonce: 16 random bytes in hex.
func newCnonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// digestSession answers one server's challenges for the requests of one read: the nonce the
// server gave is reused with a counting nc, so a read of four endpoints costs five requests, not
// eight; a new challenge (a stale nonce) replaces it.
type digestSession struct {
	user, password string
	ch             *challenge
	nc             uint32
	cnonce         string
}

// header is the Authorization header for the next request, or "" before any challenge.
func (d *digestSession) header(method, uri string) string {
	if d.ch == nil {
		return ""
	}
	d.nc++
	return d.ch.authorization(d.user, d.password, method, uri, d.nc, d.cnonce)
}

// challenged takes a 401's challenge.
func (d *digestSession) challenged(headers []string) error {
	ch, err := parseChallenges(headers)
	if err != nil {
		return err
	}
	d.ch, d.nc, d.cnonce = &ch, 0, newCnonce()
	return nil
}
