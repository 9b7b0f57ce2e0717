package farm

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRespondV3: whatever a client sends in an API v3 frame, the answer is one JSON envelope with
// an integer code, a desc of at most 64 bytes of valid UTF-8, keys sorted; only get.* commands
// succeed.
func FuzzRespondV3(f *testing.F) {
	for _, s := range []string{`{"cmd":"get.device.info"}`, `{"cmd":"get.device.info","param":"miner"}`,
		`{"cmd":"get.miner.status","param":"summary+pools+edevs"}`, `{"cmd":"set.miner.pools","param":[1]}`,
		`{"cmd":"get.miner.setting"}`, `{"cmd":null}`, `[]`, `{"cmd":"\u00ff\ud800"}`, "\xff"} {
		f.Add([]byte(s))
	}
	farm, err := New(Config{Range: netip.MustParsePrefix("127.1.0.0/30"), Miners: 1, Mix: mustMix("m60s=1"), Seed: 1})
	if err != nil {
		f.Fatal(err)
	}
	m := farm.Miners()[0]
	f.Fuzz(func(t *testing.T, req []byte) {
		raw := m.RespondV3(req, nil)
		var r struct {
			Code *int64          `json:"code"`
			Desc string          `json:"desc"`
			Msg  json.RawMessage `json:"msg"`
		}
		if err := json.Unmarshal(raw, &r); err != nil || r.Code == nil {
			t.Fatalf("reply %q to %q: %v", raw, req, err)
		}
		if len(r.Desc) > maxEcho || !utf8.ValidString(r.Desc) {
			t.Errorf("desc %q", r.Desc)
		}
		if err := sortedKeys(raw); err != nil {
			t.Error(err)
		}
		if *r.Code == 0 && !strings.HasPrefix(r.Desc, "get.") {
			t.Errorf("%q succeeded: %s", req, raw)
		}
	})
}

// FuzzParseDigest: any Authorization header parses or is refused without panicking, within the
// parameter bound.
func FuzzParseDigest(f *testing.F) {
	f.Add(`username="root", realm="antMiner Configuration", nonce="1-2", uri="/cgi-bin/summary.cgi", qop=auth, nc=00000001, cnonce="x", response="y"`)
	f.Add(`a="\"", b=c,,, d="`)
	f.Fuzz(func(t *testing.T, h string) {
		p, ok := parseDigest(h)
		if ok && (len(p) == 0 || len(p) > maxAuthParams) {
			t.Errorf("%d parameters accepted", len(p))
		}
	})
}
