package farm

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// A small HTTP Digest client of the test's own (RFC 7616, MD5, qop=auth), not the exporter's.

type digestClient struct {
	user, password string
	client         http.Client
	nc             int
}

func newDigestClient(user, password string) *digestClient {
	return &digestClient{user: user, password: password, client: http.Client{Timeout: 3 * time.Second}}
}

func hexMD5(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// challengeParams reads a WWW-Authenticate: Digest header's parameters.
func challengeParams(t *testing.T, h string) map[string]string {
	t.Helper()
	rest, ok := strings.CutPrefix(h, "Digest ")
	if !ok {
		t.Fatalf("challenge %q is not Digest", h)
	}
	p, ok := parseDigest(rest)
	if !ok {
		t.Fatalf("challenge %q does not parse", h)
	}
	return p
}

// authorization is the Authorization header answering challenge for method and uri.
func (c *digestClient) authorization(ch map[string]string, method, uri string) string {
	c.nc++
	nc := fmt.Sprintf("%08x", c.nc)
	cnonce := fmt.Sprintf("c%07d", c.nc)
	ha1 := hexMD5(c.user + ":" + ch["realm"] + ":" + c.password)
	ha2 := hexMD5(method + ":" + uri)
	resp := hexMD5(ha1 + ":" + ch["nonce"] + ":" + nc + ":" + cnonce + ":auth:" + ha2)
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="%s", response="%s"`,
		c.user, ch["realm"], ch["nonce"], uri, nc, cnonce, resp)
}

// get asks path: once without credentials (the 401 and its challenge), then with them.
func (c *digestClient) get(t *testing.T, base, path string) (*http.Response, []byte) {
	t.Helper()
	first := c.do(t, http.MethodGet, base+path, "")
	if first.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET %s without credentials: %d, want 401", path, first.StatusCode)
	}
	ch := challengeParams(t, first.Header.Get("WWW-Authenticate"))
	resp := c.do(t, http.MethodGet, base+path, c.authorization(ch, http.MethodGet, path))
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp, body
}

func (c *digestClient) do(t *testing.T, method, url, auth string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if auth == "" {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp
}

func webBase(t *testing.T, m *Miner) string {
	t.Helper()
	addr, ok := m.EndpointOf(ProtocolAntminerHTTP)
	if !ok {
		t.Fatalf("%s serves no HTTP API", m.model.Key)
	}
	return "http://" + addr
}

const testPassword = "s3cret pass"

func startWebFarm(t *testing.T, cidr, mix string, n int, clock Clock) *Farm {
	t.Helper()
	return startFarmWith(t, cidr, mix, n, clock, func(c *Config) { c.HTTPPassword = testPassword })
}

// TestWebDigest: the HTTP API answers only a correct Digest response for its user, realm,
// password, nonce, method and URI; anything else is a 401 with a fresh challenge.
func TestWebDigest(t *testing.T) {
	clock := newFakeClock()
	f := startWebFarm(t, "127.66.1.0/28", "s19jpro=1", 1, clock)
	base := webBase(t, f.Miners()[0])
	const path = "/cgi-bin/get_system_info.cgi"
	good := newDigestClient(DefaultHTTPUser, testPassword)
	resp, body := good.get(t, base, path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("right credentials: %d %s", resp.StatusCode, body)
	}
	challenge := func() map[string]string {
		r := good.do(t, http.MethodGet, base+path, "")
		ch := challengeParams(t, r.Header.Get("WWW-Authenticate"))
		if ch["realm"] != webRealm || ch["qop"] != "auth" || ch["algorithm"] != "MD5" || ch["nonce"] == "" {
			t.Errorf("challenge %v", ch)
		}
		return ch
	}
	status := func(auth string) int {
		r := good.do(t, http.MethodGet, base+path, auth)
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		return r.StatusCode
	}
	ch := challenge()
	refused := []struct {
		name string
		auth func() string
	}{
		{"wrong password", func() string {
			return newDigestClient(DefaultHTTPUser, "root").authorization(ch, http.MethodGet, path)
		}},
		{"wrong user", func() string { return newDigestClient("admin", testPassword).authorization(ch, http.MethodGet, path) }},
		{"response for another URI", func() string {
			a := good.authorization(ch, http.MethodGet, "/cgi-bin/stats.cgi")
			return strings.Replace(a, `uri="/cgi-bin/stats.cgi"`, `uri="`+path+`"`, 1)
		}},
		{"uri not the request's", func() string { return good.authorization(ch, http.MethodGet, "/cgi-bin/stats.cgi") }},
		{"response for another method", func() string { return good.authorization(ch, http.MethodPost, path) }},
		{"nonce not ours", func() string {
			forged := map[string]string{"realm": webRealm, "nonce": "65f0a000-00000000000000000000000000000000"}
			return good.authorization(forged, http.MethodGet, path)
		}},
		{"another realm", func() string {
			other := map[string]string{"realm": "elsewhere", "nonce": ch["nonce"]}
			return good.authorization(other, http.MethodGet, path)
		}},
		{"qop missing", func() string {
			return strings.Replace(good.authorization(ch, http.MethodGet, path), "qop=auth, ", "", 1)
		}},
		{"parameter twice", func() string { return good.authorization(ch, http.MethodGet, path) + `, username="admin"` }},
		{"unterminated quote", func() string { return `Digest username="root, realm="` + webRealm }},
		{"basic", func() string { return "Basic cm9vdDpyb290" }},
		{"oversized", func() string {
			return good.authorization(ch, http.MethodGet, path) + `, x="` + strings.Repeat("a", maxAuthHeader) + `"`
		}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			if got := status(tc.auth()); got != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", got)
			}
		})
	}

	// A nonce past its life: the right response is refused as stale, and the fresh nonce works.
	old := challenge()
	clock.Advance(nonceLife + time.Minute)
	r := good.do(t, http.MethodGet, base+path, good.authorization(old, http.MethodGet, path))
	_, _ = io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusUnauthorized || challengeParams(t, r.Header.Get("WWW-Authenticate"))["stale"] != "true" {
		t.Errorf("expired nonce: %d %q, want 401 stale=true", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if resp, _ := good.get(t, base, path); resp.StatusCode != http.StatusOK {
		t.Errorf("with a fresh nonce: %d", resp.StatusCode)
	}

	// Authenticated, the read-only API answers GET on its four CGIs only.
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/cgi-bin/get_miner_conf.cgi", http.StatusMethodNotAllowed},
		{http.MethodGet, "/cgi-bin/reboot.cgi", http.StatusNotFound},
		{http.MethodPost, "/cgi-bin/set_miner_conf.cgi", http.StatusNotFound},
		{http.MethodGet, "/", http.StatusNotFound},
	} {
		ch := challenge()
		r := good.do(t, tc.method, base+tc.path, good.authorization(ch, tc.method, tc.path))
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, r.StatusCode, tc.want)
		}
	}
}

// orderedKeys lists a JSON object's keys in the order written.
func orderedKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %.100s", raw)
	}
	var out []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// member is one member of a JSON object, raw.
func member(t *testing.T, raw []byte, path ...any) []byte {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			var o map[string]json.RawMessage
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatalf("%v: %v", path, err)
			}
			raw = o[k]
		case int:
			var a []json.RawMessage
			if err := json.Unmarshal(raw, &a); err != nil || k >= len(a) {
				t.Fatalf("%v: %v (%d elements)", path, err, len(a))
			}
			raw = a[k]
		}
	}
	return raw
}

// TestWebFollowsCaptures: each CGI's body has the S21 capture's keys in the capture's order,
// level by level, and identity fixed per miner by the seed.
func TestWebFollowsCaptures(t *testing.T) {
	f := startWebFarm(t, "127.66.1.16/28", "s19jpro=1,s9=1", 2, newFakeClock())
	c := newDigestClient(DefaultHTTPUser, testPassword)
	capture := func(name string) []byte {
		b, err := os.ReadFile("testdata/antminer-web/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		cgi, capture string
		paths        [][]any // objects whose key order is compared
	}{
		{"get_system_info", "antminer-s21-20240711_get_system_info_pretty.json", [][]any{{}}},
		{"summary", "antminer-s21-20240711_summary_pretty.json", [][]any{{}, {"STATUS"}, {"INFO"}, {"SUMMARY", 0}, {"SUMMARY", 0, "status", 0}}},
		{"stats", "antminer-s21-20240711_stats_pretty.json", [][]any{{}, {"STATUS"}, {"INFO"}, {"STATS", 0}, {"STATS", 0, "chain", 0}}},
		{"get_miner_conf", "antminer-s21-20240711_get_miner_conf_pretty.json", [][]any{{}, {"pools", 0}}},
	}
	serials := map[string]string{}
	for _, m := range f.Miners() {
		base := webBase(t, m)
		for _, tc := range tests {
			t.Run(m.model.Key+"/"+tc.cgi, func(t *testing.T) {
				resp, body := c.get(t, base, "/cgi-bin/"+tc.cgi+".cgi")
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
				want := capture(tc.capture)
				for _, p := range tc.paths {
					if g, w := orderedKeys(t, member(t, body, p...)), orderedKeys(t, member(t, want, p...)); !slices.Equal(g, w) {
						t.Errorf("%v keys\n got %v\nwant %v", p, g, w)
					}
				}
				if tc.cgi == "get_system_info" {
					var info map[string]string
					if err := json.Unmarshal(body, &info); err != nil {
						t.Fatal(err)
					}
					if info["minertype"] != m.model.Name || info["ipaddress"] != m.addr.String() || len(info["serinum"]) != 17 || len(info["macaddr"]) != 17 {
						t.Errorf("system info %v", info)
					}
					serials[m.model.Key] = info["serinum"] + " " + info["macaddr"] + " " + info["hostname"]
				}
			})
		}
	}
	if serials["s19jpro"] == serials["s9"] {
		t.Errorf("two miners share serial, MAC and host name: %s", serials["s19jpro"])
	}
	// The same seed gives the same identity; another seed another.
	identity := func(seed uint64) []string {
		mix, _ := ParseMix("s19jpro=1,s9=1")
		g, err := New(Config{Range: f.cfg.Range, Miners: 2, Mix: mix, Seed: seed, Clock: newFakeClock()})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range g.Miners() {
			s := m.snapshot(g.cfg.Clock.Now())
			out = append(out, webSerial(s), webMAC(s), webHostname(s), webBoardSerial(s, 0))
		}
		return out
	}
	if a, b := identity(42), identity(42); !slices.Equal(a, b) {
		t.Errorf("seed 42 gives %v, then %v", a, b)
	}
	if a, b := identity(42), identity(43); slices.Equal(a, b) {
		t.Errorf("seeds 42 and 43 give the same identities %v", a)
	}
}

// webJSON asks a CGI and decodes it.
func webJSON(t *testing.T, c *digestClient, m *Miner, cgi string) map[string]any {
	t.Helper()
	resp, body := c.get(t, webBase(t, m), "/cgi-bin/"+cgi+".cgi")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d", cgi, resp.StatusCode)
	}
	return obj(t, body)
}

func webStatusOf(t *testing.T, sum map[string]any, typ string) map[string]any {
	t.Helper()
	for _, e := range sum["SUMMARY"].([]any)[0].(map[string]any)["status"].([]any) {
		if st := e.(map[string]any); st["type"] == typ {
			return st
		}
	}
	t.Fatalf("no %s status", typ)
	return nil
}

// TestWebFaults: a fault puts its warning or error in summary.cgi's status array and shows in
// stats.cgi; sleep mode is bitmain-work-mode "1".
func TestWebFaults(t *testing.T) {
	clock := newFakeClock()
	f := startWebFarm(t, "127.66.1.32/28", "s19jpro=1", 1, clock)
	m := f.Miners()[0]
	c := newDigestClient(DefaultHTTPUser, testPassword)
	healthy := webJSON(t, c, m, "summary")
	for _, typ := range []string{"rate", "network", "fans", "temp"} {
		if st := webStatusOf(t, healthy, typ); st["status"] != "s" || st["code"] != 0.0 || st["msg"] != "" {
			t.Errorf("healthy %s: %v", typ, st)
		}
	}
	tests := []struct {
		fault       Fault
		typ, status string
		code        float64
		check       func(t *testing.T)
	}{
		{FanStopped, "fans", "e", webCodeFanLost, func(t *testing.T) {
			if fan := webJSON(t, c, m, "stats")["STATS"].([]any)[0].(map[string]any)["fan"].([]any)[0]; fan != 0.0 {
				t.Errorf("fan 1 at %v", fan)
			}
		}},
		{BoardMissing, "rate", "e", webCodeChainMissing, func(t *testing.T) {
			st := webJSON(t, c, m, "stats")["STATS"].([]any)[0].(map[string]any)
			if st["chain_num"] != 2.0 || len(st["chain"].([]any)) != 2 {
				t.Errorf("chain_num %v, %d chains", st["chain_num"], len(st["chain"].([]any)))
			}
			for _, ch := range st["chain"].([]any) {
				if ch.(map[string]any)["index"] == float64(missingSlot(3)) {
					t.Errorf("the missing chain is listed")
				}
			}
		}},
		{BoardDead, "rate", "e", webCodeChainDead, nil},
		{DeviceDead, "rate", "e", webCodeChainDead, nil},
		{ZeroHashrate, "rate", "e", webCodeNoHashrate, nil},
		{ChipsFailed, "rate", "w", webCodeChipsFailed, nil},
		{HashrateLow, "rate", "w", webCodeHashrateLow, nil},
		{PoolDead, "network", "e", webCodePoolDown, nil},
		{Overheat, "temp", "w", webCodeTempHigh, nil},
		{OverheatCritical, "temp", "e", webCodeTempCritical, nil},
		{Sleeping, "rate", "s", 0, func(t *testing.T) {
			if mode := webJSON(t, c, m, "get_miner_conf")["bitmain-work-mode"]; mode != "1" {
				t.Errorf("sleeping: bitmain-work-mode %v", mode)
			}
			if r := webJSON(t, c, m, "summary")["SUMMARY"].([]any)[0].(map[string]any)["rate_5s"]; r != 0.0 {
				t.Errorf("sleeping: rate_5s %v", r)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.fault.String(), func(t *testing.T) {
			if _, err := m.SetFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
			st := webStatusOf(t, webJSON(t, c, m, "summary"), tc.typ)
			if st["status"] != tc.status || st["code"] != tc.code || (tc.status != "s") != (st["msg"] != "") {
				t.Errorf("%s status %v, want %s code %v", tc.typ, st, tc.status, tc.code)
			}
			if tc.check != nil {
				tc.check(t)
			}
			if _, err := m.ClearFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			if st := webStatusOf(t, webJSON(t, c, m, "summary"), tc.typ); st["status"] != "s" {
				t.Errorf("after clearing: %v", st)
			}
		})
	}
	if mode := webJSON(t, c, m, "get_miner_conf")["bitmain-work-mode"]; mode != "0" {
		t.Errorf("mining: bitmain-work-mode %v", mode)
	}
}

// TestWebConnectionFaultsAndRestart: offline and the broken-daemon faults hit the HTTP API; a
// restart of the mining software does not (the web server is the controller's).
func TestWebConnectionFaultsAndRestart(t *testing.T) {
	f := startFarmWith(t, "127.66.1.48/28", "s19jpro=1", 1, newFakeClock(), func(c *Config) {
		c.HTTPPassword = testPassword
		c.AllowRestart = true
		c.RestartDelay = time.Hour
	})
	m := f.Miners()[0]
	base := webBase(t, m)
	c := newDigestClient(DefaultHTTPUser, testPassword)
	try := func() (*http.Response, error) {
		resp, err := c.client.Get(base + "/cgi-bin/summary.cgi")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	if _, err := m.SetFault(Offline); err != nil {
		t.Fatal(err)
	}
	if _, err := try(); err == nil {
		t.Error("offline miner's web server answered")
	}
	_, _ = m.ClearFault(Offline)
	if _, err := m.SetFault(Garbage); err != nil {
		t.Fatal(err)
	}
	if resp, err := try(); err == nil {
		t.Errorf("garbage read as HTTP: %d", resp.StatusCode)
	}
	_, _ = m.ClearFault(Garbage)
	if _, err := m.SetFault(Truncated); err != nil {
		t.Fatal(err)
	}
	first := c.do(t, http.MethodGet, base+"/cgi-bin/summary.cgi", "")
	ch := challengeParams(t, first.Header.Get("WWW-Authenticate"))
	resp := c.do(t, http.MethodGet, base+"/cgi-bin/summary.cgi", c.authorization(ch, http.MethodGet, "/cgi-bin/summary.cgi"))
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated body: want unexpected EOF, got %v", err)
	}
	resp.Body.Close()
	_, _ = m.ClearFault(Truncated)

	if raw := rawExchange(t, m, `{"command":"restart"}`); !strings.HasPrefix(raw, restartJSON) {
		t.Fatalf("restart refused: %s", raw)
	}
	if conn, err := net.DialTimeout("tcp", m.endpoint(apiCGMiner), time.Second); err == nil {
		conn.Close()
		t.Error("the cgminer API answers during the restart")
	}
	if resp, body := c.get(t, base, "/cgi-bin/get_system_info.cgi"); resp.StatusCode != http.StatusOK {
		t.Errorf("web server during a restart: %d %s", resp.StatusCode, body)
	}
	// Offline set and cleared while the restart is under way: the web server comes back at once,
	// the cgminer API only when the restart ends.
	_, _ = m.SetFault(Offline)
	_, _ = m.ClearFault(Offline)
	if resp, body := c.get(t, base, "/cgi-bin/get_system_info.cgi"); resp.StatusCode != http.StatusOK {
		t.Errorf("web server after offline during a restart: %d %s", resp.StatusCode, body)
	}
	if conn, err := net.DialTimeout("tcp", m.endpoint(apiCGMiner), time.Second); err == nil {
		conn.Close()
		t.Error("the cgminer API answers before the restart ended")
	}
}

// TestWebOff: without an HTTP port no model listens on one, and the control API says which
// protocols a miner speaks.
func TestWebOff(t *testing.T) {
	f := startFarmWith(t, "127.66.1.64/28", "s19jpro=1,m60s=1,m30s=1", 3, newFakeClock(), func(c *Config) { c.HTTPPort = 0 })
	for _, m := range f.Miners() {
		if _, ok := m.EndpointOf(ProtocolAntminerHTTP); ok {
			t.Errorf("%s serves HTTP with the port off", m.model.Key)
		}
		info := m.Info()
		want := map[string][]string{"s19jpro": {ProtocolCGMiner}, "m60s": {ProtocolWhatsminerV3}, "m30s": {ProtocolCGMiner}}[m.model.Key]
		var got []string
		for p := range info.Protocols {
			got = append(got, p)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s protocols %v, want %v", m.model.Key, info.Protocols, want)
		}
		if _, port, _ := net.SplitHostPort(m.Endpoint()); port != fmt.Sprint(info.Port) {
			t.Errorf("%s: port %d, endpoint %s", m.model.Key, info.Port, m.Endpoint())
		}
	}
	if got := minerOf(t, f, "s19jpro").model.Protocols(); !slices.Equal(got, []string{ProtocolCGMiner, ProtocolAntminerHTTP}) {
		t.Errorf("s19jpro model protocols %v", got)
	}
}

// TestConfigChecksPortsAndCredentials: two APIs on one port, and a user name or password Digest
// cannot carry, are refused before anything is bound; the password never shows.
func TestConfigChecksPortsAndCredentials(t *testing.T) {
	p := netip.MustParsePrefix("127.66.4.0/28")
	for name, cfg := range map[string]Config{
		"v3 on the cgminer port":   {Range: p, Port: 4028, V3Port: 4028},
		"http on the cgminer port": {Range: p, Port: 4028, HTTPPort: 4028},
		"http on the v3 port":      {Range: p, V3Port: 8080, HTTPPort: 8080},
		"http port out of range":   {Range: p, HTTPPort: 70000},
		"user with a colon":        {Range: p, HTTPUser: "ro:ot"},
		"user with a quote":        {Range: p, HTTPUser: `ro"ot`},
		"password with a newline":  {Range: p, HTTPPassword: "a\nb"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "a\nb") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
	const pw = "Zq9-hunter-Zq9"
	if s := fmt.Sprintf("%v %s %#v %+v", Secret(pw), Secret(pw), Secret(pw), Config{HTTPPassword: pw}); strings.Contains(s, pw) {
		t.Errorf("secret printed: %s", s)
	}
}
