// Package webapi reads the vendors' HTTP APIs where they hold what the crew needs beyond the
// cgminer API: the stock Antminer firmware's /cgi-bin/*.cgi (HTTP Digest authentication), the
// Braiins OS public REST API (/api/v1, a token from /api/v1/auth/login) and the VNish HTTP API
// (/api/v1, a token from /api/v1/unlock).
//
// Like exporter/cgminer it is read-only by construction: the only requests it can make are the
// GETs of the Endpoints below and the two logins, and no caller can name another path or method.
// Every exchange is bounded: the caller's deadline, response headers (16 KiB), bodies (1 MiB,
// refused beyond), redirects never followed, no proxy, no compression, one 401 challenge round
// per request, and the JSON is read with cgminer.ParseJSON's bounds. Passwords and tokens are
// Secrets: no error, exchange or log line holds one, and a reply that carries secrets (the pool
// passwords of get_miner_conf, a login's token) is never kept for debug output.
//
// The client keeps nothing about miners between reads: a login token comes in with the Target
// and a new one goes back in the Result for the caller (the inventory) to keep. Logins are
// bounded by Client.MaxLogins at once, and concurrent reads of one miner share one login.
package webapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
)

// The APIs.
const (
	Antminer = "antminer"
	Braiins  = "braiins"
	VNish    = "vnish"
)

// Reasons a web read fails, beyond cgminer's connection and reply reasons.
const (
	// ReasonAuth: the credentials were refused (a 401 after the challenge round, a login
	// refused or answered without a token).
	ReasonAuth cgminer.Reason = "auth_failed"
	// ReasonHTTP: an HTTP status other than success (a redirect, 403, 404, 5xx).
	ReasonHTTP cgminer.Reason = "http_error"
	// ReasonNotWeb: a success whose body is not the API's JSON (an HTML page).
	ReasonNotWeb cgminer.Reason = "not_web_api"
)

// Bounds.
const (
	// MaxBodyBytes caps one response body: the largest real one (Braiins's miner/errors with 129
	// entries) has 31 KiB.
	MaxBodyBytes = 1 << 20
	// MaxHeaderBytes caps a response's headers.
	MaxHeaderBytes = 16 << 10
	// MaxTokenBytes caps a login token (real ones are 16 to 64 characters).
	MaxTokenBytes = 1024
	// DefaultMaxLogins bounds the logins in flight at once, all miners together.
	DefaultMaxLogins = 16
	// DefaultTokenTTL is how long a token is kept when the login does not say.
	DefaultTokenTTL = 30 * time.Minute
	// maxTokenTTL bounds what a login may say.
	maxTokenTTL = 24 * time.Hour
	// maxDrain is what is read of a body that is thrown away (a 401's), so the connection can be
	// used again; a longer one closes it.
	maxDrain = 4096
)

// Endpoint is one request the client can make. Its fields are unexported and the only values
// are the ones below.
type Endpoint struct {
	api, method, path, name string
	// secret: the reply carries secrets (pool passwords, a token) and is never kept raw.
	secret bool
}

// The endpoints.
var (
	// AntminerSystemInfo: minertype, macaddr, hostname, serinum (newer firmware), system_filesystem_version.
	AntminerSystemInfo = Endpoint{Antminer, http.MethodGet, "/cgi-bin/get_system_info.cgi", "get_system_info", false}
	// AntminerSummary: SUMMARY[0].status, the firmware's health array [{type, status, code, msg}].
	AntminerSummary = Endpoint{Antminer, http.MethodGet, "/cgi-bin/summary.cgi", "summary", false}
	// AntminerMinerConf: bitmain-work-mode ("1" sleep). Holds the pool passwords: never kept raw.
	AntminerMinerConf = Endpoint{Antminer, http.MethodGet, "/cgi-bin/get_miner_conf.cgi", "get_miner_conf", true}
	// AntminerStats: STATS[0].chain[] with each hashboard's serial (sn).
	AntminerStats = Endpoint{Antminer, http.MethodGet, "/cgi-bin/stats.cgi", "stats", false}

	// BraiinsLogin is POST /api/v1/auth/login {"username","password"} → {"token","timeout_s"}.
	BraiinsLogin = Endpoint{Braiins, http.MethodPost, "/api/v1/auth/login", "auth/login", true}
	// BraiinsDetails: serial_number, mac_address, miner_identity, status (3 paused, 4 suspended), bosminer_uptime_s.
	BraiinsDetails = Endpoint{Braiins, http.MethodGet, "/api/v1/miner/details", "miner/details", false}
	// BraiinsHashboards: hashboards[] with id, serial_number, enabled.
	BraiinsHashboards = Endpoint{Braiins, http.MethodGet, "/api/v1/miner/hw/hashboards", "miner/hw/hashboards", false}
	// BraiinsErrors: errors[] {timestamp, message, error_codes[{code, reason, hint}], components[{name, index}]}.
	BraiinsErrors = Endpoint{Braiins, http.MethodGet, "/api/v1/miner/errors", "miner/errors", false}
	// BraiinsTuner: overall_tuner_state (4 error).
	BraiinsTuner = Endpoint{Braiins, http.MethodGet, "/api/v1/performance/tuner-state", "performance/tuner-state", false}

	// VNishUnlock is POST /api/v1/unlock {"pw"} → {"token"}.
	VNishUnlock = Endpoint{VNish, http.MethodPost, "/api/v1/unlock", "unlock", true}
	// VNishInfo: serial, system.network_status.mac, miner, fw_version.
	VNishInfo = Endpoint{VNish, http.MethodGet, "/api/v1/info", "info", false}
	// VNishSummary: miner.miner_status.miner_state.
	VNishSummary = Endpoint{VNish, http.MethodGet, "/api/v1/summary", "summary", false}
)

// Reads are what a read asks of each API, in order; the login comes first when the API needs a
// token.
var Reads = map[string][]Endpoint{
	Antminer: {AntminerSystemInfo, AntminerSummary, AntminerMinerConf, AntminerStats},
	Braiins:  {BraiinsDetails, BraiinsHashboards, BraiinsErrors, BraiinsTuner},
	VNish:    {VNishInfo, VNishSummary},
}

var logins = map[string]Endpoint{Braiins: BraiinsLogin, VNish: VNishUnlock}

// Name is the endpoint's name in a Result ("get_system_info", "miner/details").
func (e Endpoint) Name() string { return e.name }

// Command is the endpoint as cgminer_command_success names it: "web:summary", "web:miner/errors".
func (e Endpoint) Command() string { return "web:" + e.name }

// Request is the endpoint as debug output shows it: "GET /cgi-bin/summary.cgi".
func (e Endpoint) Request() string { return e.method + " " + e.path }

// Target is one miner's web API and the credentials for it.
type Target struct {
	// API is Antminer, Braiins or VNish.
	API string
	// Scheme is http or https; Addr is host:port, already checked against the allowlist.
	Scheme, Addr string
	Username     string
	Password     Secret
	// InsecureSkipVerify accepts any certificate over https.
	InsecureSkipVerify bool
	// Token is a login token from an earlier read ("" none); a refused one is dropped and the
	// client logs in again, once.
	Token Secret
	// KeepRaw keeps each reply's bytes in its Exchange (debug output), except replies that carry
	// secrets.
	KeepRaw bool
}

// Result is what one read learned.
type Result struct {
	API string
	// Replies are the JSON bodies that answered, by endpoint name.
	Replies map[string]cgminer.Value
	// Errors says, per endpoint asked (and the login), why it gave no usable reply.
	Errors    map[string]error
	Exchanges []cgminer.Exchange
	// Token is a token this read obtained (nil: none), for the caller to keep until it expires;
	// DropToken: the Target's token was refused, forget it.
	Token     *Token
	DropToken bool
	asked     []Endpoint
	commands  map[string]bool
}

// Token is a login token and when to stop using it.
type Token struct {
	Value   Secret
	Expires time.Time
}

// Reply is the body of the endpoint's reply (null when it did not answer).
func (r *Result) Reply(e Endpoint) cgminer.Value {
	if r == nil {
		return cgminer.Value{}
	}
	return r.Replies[e.name]
}

// Commands maps each endpoint asked (the login too), as Endpoint.Command names it, to whether
// it answered.
func (r *Result) Commands() map[string]bool {
	out := make(map[string]bool, len(r.commands))
	for k, v := range r.commands {
		out[k] = v
	}
	return out
}

// Err is nil when at least one endpoint answered; otherwise the first failure.
func (r *Result) Err() error {
	if len(r.Replies) > 0 {
		return nil
	}
	for _, e := range r.asked {
		if err := r.Errors[e.name]; err != nil {
			return err
		}
	}
	return &cgminer.Error{Reason: cgminer.ReasonEmpty, Err: errors.New("nothing was asked")}
}

// Client reads miners' web APIs. Its zero value is ready to use; it keeps no state about miners.
type Client struct {
	// MaxLogins bounds logins in flight at once, all miners together (DefaultMaxLogins when 0).
	MaxLogins int
	// Dial opens connections (a net.Dialer when nil); tests point it at loopback servers.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock for token expiry (time.Now when nil).
	Now func() time.Time

	once    sync.Once
	sem     chan struct{}
	flights singleflight.Group
	logins  *prometheus.CounterVec
	reads   *prometheus.CounterVec
}

// NewClient builds a Client whose counters (cgminer_exporter_web_reads_total{api,result},
// cgminer_exporter_web_logins_total{api,result}) are registered on reg (nil: none).
func NewClient(maxLogins int, reg prometheus.Registerer) *Client {
	c := &Client{MaxLogins: maxLogins}
	c.init()
	if reg != nil {
		reg.MustRegister(c.reads, c.logins)
	}
	return c
}

func (c *Client) init() {
	c.once.Do(func() {
		n := c.MaxLogins
		if n <= 0 {
			n = DefaultMaxLogins
		}
		c.sem = make(chan struct{}, n)
		c.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cgminer_exporter_web_logins_total",
			Help: "Logins to miners' web APIs (Braiins OS, VNish) by API and result (success, refused, error).",
		}, []string{"api", "result"})
		c.reads = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cgminer_exporter_web_reads_total",
			Help: "Reads of miners' web APIs by API and result (success: at least one endpoint answered; else the failure reason).",
		}, []string{"api", "result"})
	})
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Read asks t's API everything Reads lists for it, under ctx's deadline, over one connection
// where the server keeps it open. After a connection-level failure or a refusal of the
// credentials, the rest is not asked. The error is the Result's Err.
func (c *Client) Read(ctx context.Context, t Target) (*Result, error) {
	c.init()
	eps, ok := Reads[t.API]
	res := &Result{API: t.API, Replies: map[string]cgminer.Value{}, Errors: map[string]error{}, commands: map[string]bool{}}
	if !ok {
		return res, &cgminer.Error{Reason: ReasonHTTP, Err: fmt.Errorf("no web API %q", t.API)}
	}
	res.asked = eps
	defer func() {
		result := "success"
		if err := res.Err(); err != nil {
			result = string(cgminer.ReasonOf(err))
		}
		c.reads.WithLabelValues(t.API, result).Inc()
	}()
	s := c.session(t)
	defer s.tr.CloseIdleConnections()

	var stop error
	for _, e := range eps {
		res.commands[e.Command()] = false
		if stop != nil {
			res.Errors[e.name] = stop
			continue
		}
		body, err := s.get(ctx, e, res)
		if err != nil {
			res.Errors[e.name] = err
			if r := cgminer.ReasonOf(err); r.ConnectionLevel() || r == ReasonAuth {
				stop = err
			}
			continue
		}
		res.Replies[e.name] = body
		res.commands[e.Command()] = true
	}
	return res, res.Err()
}

// session is one read's connection and authentication state.
type session struct {
	c      *Client
	t      Target
	tr     *http.Transport
	digest digestSession
	token  Secret
	fresh  bool  // token came from a login of this read
	failed error // the login of this read failed: every endpoint fails with it, unasked
}

func (c *Client) session(t Target) *session {
	dial := c.Dial
	if dial == nil {
		d := &net.Dialer{}
		dial = d.DialContext
	}
	tr := &http.Transport{
		Proxy:                  nil, // never the environment's proxy: miners are reached directly
		DialContext:            dial,
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}, //nolint:gosec // a module's explicit choice for self-signed miners
		TLSNextProto:           map[string]func(string, *tls.Conn) http.RoundTripper{},                              // HTTP/1.1 only
		DisableCompression:     true,
		MaxIdleConns:           1,
		MaxIdleConnsPerHost:    1,
		MaxConnsPerHost:        1,
		MaxResponseHeaderBytes: MaxHeaderBytes,
	}
	return &session{c: c, t: t, tr: tr, digest: digestSession{user: t.Username, password: t.Password.Reveal()}, token: t.Token}
}

// get asks one endpoint, authenticating as its API does, and records the exchange (a login
// that failed records its own, and the endpoint none: it was never asked).
func (s *session) get(ctx context.Context, e Endpoint, res *Result) (cgminer.Value, error) {
	if e.api != Antminer && s.token == "" {
		if s.failed != nil {
			return cgminer.Value{}, s.failed
		}
		if err := s.login(ctx, res); err != nil {
			return cgminer.Value{}, err
		}
	}
	start := time.Now()
	ex := cgminer.Exchange{Request: e.Request()}
	defer func() {
		ex.Duration = time.Since(start)
		res.Exchanges = append(res.Exchanges, ex)
	}()
	var (
		raw []byte
		err error
	)
	switch e.api {
	case Antminer:
		raw, err = s.digestGet(ctx, e)
	default:
		raw, err = s.tokenGet(ctx, e, res)
	}
	ex.Bytes = len(raw)
	if err != nil {
		ex.Err = err
		return cgminer.Value{}, err
	}
	v, err := decode(raw)
	ex.Err, ex.API = err, err == nil
	if err == nil && s.t.KeepRaw && !e.secret {
		ex.Raw = raw
	}
	return v, err
}

// digestGet sends a request with the Digest answer to the last challenge, and when the server
// challenges it (a first request, a stale nonce), once more with the answer to the new one.
func (s *session) digestGet(ctx context.Context, e Endpoint) ([]byte, error) {
	for round := 0; ; round++ {
		auth := s.digest.header(e.method, e.path)
		resp, err := s.do(ctx, e, nil, auth)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized {
			return s.body(resp, e)
		}
		challenges := resp.Header.Values("WWW-Authenticate")
		drain(resp)
		if round == 1 {
			return nil, &cgminer.Error{Reason: ReasonAuth, Err: fmt.Errorf("%s: the credentials were refused (401 after answering the challenge)", e.Request())}
		}
		if err := s.digest.challenged(challenges); err != nil {
			return nil, &cgminer.Error{Reason: ReasonAuth, Err: fmt.Errorf("%s: 401: %w", e.Request(), err)}
		}
	}
}

// tokenGet sends a request with the login token (logging in first when there is none), and
// when a token from an earlier read is refused, logs in once more and asks again.
func (s *session) tokenGet(ctx context.Context, e Endpoint, res *Result) ([]byte, error) {
	for {
		if s.token == "" {
			if s.failed != nil {
				return nil, s.failed
			}
			if err := s.login(ctx, res); err != nil {
				return nil, err
			}
		}
		auth := s.token.Reveal()
		if s.t.API == VNish {
			auth = "Bearer " + auth
		}
		resp, err := s.do(ctx, e, nil, auth)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized {
			return s.body(resp, e)
		}
		drain(resp)
		if s.fresh {
			return nil, &cgminer.Error{Reason: ReasonAuth, Err: fmt.Errorf("%s: 401 with the token just obtained", e.Request())}
		}
		s.token, res.DropToken = "", true
	}
}

// login obtains a token: one login in flight per miner and credentials (concurrent reads share
// it), at most MaxLogins in flight in all, each waiting no longer than its own deadline.
func (s *session) login(ctx context.Context, res *Result) error {
	ep := logins[s.t.API]
	start := time.Now()
	// The password is part of the key (hashed): two modules with other credentials for one
	// miner never share a login.
	pw := sha256.Sum256([]byte(s.t.Password.Reveal()))
	key := s.t.API + "\x00" + s.t.Addr + "\x00" + s.t.Username + "\x00" + string(pw[:])
	ch := s.c.flights.DoChan(key, func() (any, error) {
		// Detached from the first caller's cancellation, bounded by its deadline.
		lctx := context.WithoutCancel(ctx)
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			lctx, cancel = context.WithDeadline(lctx, dl)
			defer cancel()
		}
		return s.doLogin(lctx, ep)
	})
	var (
		tok *Token
		err error
	)
	select {
	case r := <-ch:
		err = r.Err
		if err == nil {
			tok = r.Val.(*Token)
		}
	case <-ctx.Done():
		err = &cgminer.Error{Reason: cgminer.ReasonTimeout, Err: fmt.Errorf("%s: waiting for the login: %w", ep.Request(), ctx.Err())}
	}
	res.Exchanges = append(res.Exchanges, cgminer.Exchange{Request: ep.Request(), Duration: time.Since(start), Err: err, API: err == nil})
	res.commands[ep.Command()] = err == nil
	if err != nil {
		res.Errors[ep.name] = err
		s.failed = err
		return err
	}
	s.token, s.fresh, res.Token = tok.Value, true, tok
	return nil
}

func (s *session) doLogin(ctx context.Context, ep Endpoint) (*Token, error) {
	result := "error"
	defer func() { s.c.logins.WithLabelValues(s.t.API, result).Inc() }()
	select {
	case s.c.sem <- struct{}{}:
		defer func() { <-s.c.sem }()
	case <-ctx.Done():
		return nil, &cgminer.Error{Reason: cgminer.ReasonTimeout, Err: fmt.Errorf("%s: waiting for a free login slot", ep.Request())}
	}
	var body []byte
	switch s.t.API {
	case Braiins:
		body, _ = json.Marshal(map[string]string{"username": s.t.Username, "password": s.t.Password.Reveal()})
	case VNish:
		body, _ = json.Marshal(map[string]string{"pw": s.t.Password.Reveal()})
	}
	resp, err := s.do(ctx, ep, body, "")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		drain(resp)
		result = "refused"
		return nil, &cgminer.Error{Reason: ReasonAuth, Err: fmt.Errorf("%s: the credentials were refused (%d)", ep.Request(), resp.StatusCode)}
	}
	raw, err := s.body(resp, ep)
	if err != nil {
		return nil, err
	}
	v, err := decode(raw)
	if err != nil {
		return nil, err
	}
	tok := v.StrKey("token")
	if tok == "" || len(tok) > MaxTokenBytes || !printableHeader(tok) || strings.ContainsAny(tok, " \t") {
		result = "refused"
		return nil, &cgminer.Error{Reason: ReasonAuth, Err: fmt.Errorf("%s: no usable token in the reply", ep.Request())}
	}
	ttl := DefaultTokenTTL
	if sec, ok := v.FloatKey("timeout_s"); ok && sec >= 60 {
		ttl = min(time.Duration(min(sec, maxTokenTTL.Seconds()))*time.Second, maxTokenTTL)
		// Renew a little before the firmware forgets it.
		ttl -= ttl / 10
	}
	result = "success"
	return &Token{Value: Secret(strings.Clone(tok)), Expires: s.c.now().Add(ttl)}, nil
}

// do sends one request; the caller reads or drains the response.
func (s *session) do(ctx context.Context, e Endpoint, body []byte, auth string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, e.method, s.t.Scheme+"://"+s.t.Addr+e.path, rd)
	if err != nil {
		return nil, &cgminer.Error{Reason: cgminer.ReasonDial, Err: fmt.Errorf("%s: %w", e.Request(), err)}
	}
	req.Header.Set("User-Agent", "cgminer_exporter")
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	// RoundTrip, not an http.Client: a redirect is an answer, never followed; no cookies.
	resp, err := s.tr.RoundTrip(req)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		reason := cgminer.ReasonOf(err)
		if strings.Contains(err.Error(), "response headers exceeded") {
			reason = cgminer.ReasonTooLarge
		}
		return nil, &cgminer.Error{Reason: reason, Err: fmt.Errorf("%s: %w", e.Request(), unwrapURL(err))}
	}
	return resp, nil
}

// unwrapURL drops net/http's url.Error wrapper, whose text repeats the URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// body reads a successful response's body, at most MaxBodyBytes.
func (s *session) body(resp *http.Response, e Endpoint) ([]byte, error) {
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		drain(resp)
		what := strconv.Itoa(resp.StatusCode)
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			what += " (a redirect, not followed)"
		}
		return nil, &cgminer.Error{Reason: ReasonHTTP, Err: fmt.Errorf("%s: HTTP status %s", e.Request(), what)}
	}
	if resp.ContentLength > MaxBodyBytes {
		return nil, &cgminer.Error{Reason: cgminer.ReasonTooLarge, Err: fmt.Errorf("%s: a body of %d bytes announced, limit %d", e.Request(), resp.ContentLength, MaxBodyBytes)}
	}
	var buf bytes.Buffer
	buf.Grow(int(min(max(resp.ContentLength, 0), 64<<10)))
	n, err := io.Copy(&buf, io.LimitReader(resp.Body, MaxBodyBytes+1))
	switch {
	case n > MaxBodyBytes:
		return nil, &cgminer.Error{Reason: cgminer.ReasonTooLarge, Err: fmt.Errorf("%s: body over %d bytes", e.Request(), MaxBodyBytes)}
	case err != nil:
		r := cgminer.ReasonOf(err)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			r = cgminer.ReasonTruncated
		}
		return nil, &cgminer.Error{Reason: r, Err: fmt.Errorf("%s: body cut after %d bytes: %w", e.Request(), n, err)}
	}
	return buf.Bytes(), nil
}

// drain reads a little of a body that is thrown away, so the connection may serve the next
// request, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
}

// decode reads a body as the API's JSON: an object or an array, within cgminer.ParseJSON's
// bounds. Anything else (an HTML page) is ReasonNotWeb.
func decode(raw []byte) (cgminer.Value, error) {
	trimmed := bytes.TrimLeft(raw, " \t\r\n\ufeff")
	if len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[') {
		return cgminer.Value{}, &cgminer.Error{Reason: ReasonNotWeb, Err: fmt.Errorf("a body of %d bytes that is not JSON", len(raw))}
	}
	v, _, err := cgminer.ParseJSON(trimmed)
	if err != nil {
		if errors.Is(err, cgminer.ErrTruncated) {
			return cgminer.Value{}, &cgminer.Error{Reason: cgminer.ReasonTruncated, Err: err}
		}
		return cgminer.Value{}, &cgminer.Error{Reason: cgminer.ReasonMalformed, Err: err}
	}
	return v, nil
}
