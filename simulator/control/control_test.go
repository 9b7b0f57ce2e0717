package control

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/minefarm/cgminer-stack/simulator/farm"
)

func TestControlAPI(t *testing.T) {
	f, err := farm.New(farm.Config{Range: netip.MustParsePrefix("127.77.1.0/29"), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(f, "s3cret", slog.New(slog.DiscardHandler)).Handler())
	defer srv.Close()
	tests := []struct {
		method, path, body, token string
		code                      int
		contains                  string
	}{
		{"GET", "/healthz", "", "", 200, `"miners":6`},
		{"GET", "/miners", "", "", 200, `"address":"127.77.1.1"`},
		{"GET", "/miners/127.77.1.2", "", "", 200, `"faults":[]`},
		{"GET", "/miners/127.77.9.9", "", "", 404, "no miner at 127.77.9.9"},
		{"GET", "/miners/nope", "", "", 400, "not an IP address"},
		{"POST", "/miners/127.77.1.2/faults", `{"fault":"overheat"}`, "", 401, "bearer token"},
		{"POST", "/miners/127.77.1.2/faults", `{"fault":"overheat"}`, "wrong", 401, "bearer token"},
		{"POST", "/miners/127.77.1.2/faults", `{"fault":"overheat"}`, "s3cret", 201, `"faults":["overheat"]`},
		{"POST", "/miners/127.77.1.2/faults", `{"fault":"overheat"}`, "s3cret", 200, `"faults":["overheat"]`},
		{"POST", "/miners/127.77.1.2/faults", `{"fault":"fan_stopped"}`, "s3cret", 201, `"faults":["overheat","fan_stopped"]`},
		{"GET", "/miners?fault=overheat", "", "", 200, `127.77.1.2`},
		{"GET", "/miners?fault=melted", "", "", 400, "unknown fault"},
		{"POST", "/miners/127.77.1.2/faults", `{"fault":"melted"}`, "s3cret", 400, `unknown fault \"melted\"`},
		{"POST", "/miners/127.77.1.2/faults", `{"fault":"overheat","x":1}`, "s3cret", 400, "unknown field"},
		{"POST", "/miners/127.77.1.2/faults", ``, "s3cret", 400, "empty body"},
		{"POST", "/miners/127.77.1.2/faults", `{}`, "s3cret", 400, `missing \"fault\"`},
		{"POST", "/miners/127.77.1.2/faults", `{"fault":`, "s3cret", 400, "bad body"},
		{"POST", "/miners/127.77.1.2/faults", `{"fault":"` + strings.Repeat("a", 5000) + `"}`, "s3cret", 413, "larger than"},
		{"POST", "/miners/127.77.9.9/faults", `{"fault":"overheat"}`, "s3cret", 404, "no miner"},
		{"DELETE", "/miners/127.77.1.2/faults/overheat", "", "s3cret", 200, `"faults":["fan_stopped"]`},
		{"DELETE", "/miners/127.77.1.2/faults/melted", "", "s3cret", 400, "unknown fault"},
		{"DELETE", "/miners/127.77.1.2/faults", "", "", 401, "bearer token"},
		{"DELETE", "/miners/127.77.1.2/faults", "", "s3cret", 200, `"faults":[]`},
		{"PUT", "/miners/127.77.1.2/faults", "", "s3cret", 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path+" "+tc.body, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b strings.Builder
			buf := make([]byte, 1<<16)
			n, _ := resp.Body.Read(buf)
			b.Write(buf[:n])
			if resp.StatusCode != tc.code || !strings.Contains(b.String(), tc.contains) {
				t.Errorf("%d %s, want %d containing %q", resp.StatusCode, b.String(), tc.code, tc.contains)
			}
		})
	}
}
