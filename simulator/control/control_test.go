package control

import (
	"io"
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

// TestBulkFaults: an outage drill sets and clears a fault on every miner a selector picks, and
// the API refuses a selector or body it cannot honour.
func TestBulkFaults(t *testing.T) {
	mix, err := farm.ParseMix("s19jpro=1,s9=1")
	if err != nil {
		t.Fatal(err)
	}
	f, err := farm.New(farm.Config{Range: netip.MustParsePrefix("127.77.8.0/26"), Mix: mix, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(f, "s3cret", slog.New(slog.DiscardHandler)).Handler())
	defer srv.Close()
	faulty := func(fault string) int {
		n := 0
		for _, m := range f.Miners() {
			for _, fl := range m.Faults() {
				if fl.String() == fault {
					n++
				}
			}
		}
		return n
	}
	tests := []struct {
		method, body, token string
		code                int
		contains            string
		offline, overheat   int // miners with the fault after the request
	}{
		{"POST", `{"fault":"offline","range":"127.77.8.0/28"}`, "", 401, "bearer token", 0, 0},
		{"POST", `{"fault":"offline","range":"127.77.8.0/28"}`, "s3cret", 201, `"selected":15,"changed":15`, 15, 0},
		{"POST", `{"fault":"offline","range":"127.77.8.0/28"}`, "s3cret", 200, `"selected":15,"changed":0`, 15, 0},
		{"POST", `{"fault":"overheat","model":"s9","count":10}`, "s3cret", 201, `"selected":10,"changed":10`, 15, 10},
		{"POST", `{"fault":"overheat","miners":["127.77.8.40","127.77.8.41"]}`, "s3cret", 201, `"selected":2`, 15, 12},
		{"DELETE", `{"fault":"offline","range":"127.77.8.0/29"}`, "s3cret", 200, `"selected":7,"changed":7`, 8, 12},
		{"DELETE", `{"fault":"overheat","model":"s9","count":10}`, "s3cret", 200, `"changed":10`, 8, 2},
		{"DELETE", `{"range":"127.77.8.0/26"}`, "s3cret", 200, `"selected":62,"changed":10`, 0, 0},
		{"POST", `{"range":"127.77.8.0/28"}`, "s3cret", 400, `missing \"fault\"`, 0, 0},
		{"POST", `{"fault":"melted","range":"127.77.8.0/28"}`, "s3cret", 400, "unknown fault", 0, 0},
		{"POST", `{"fault":"offline"}`, "s3cret", 400, "select miners with", 0, 0},
		{"POST", `{"fault":"offline","range":"127.77.8.0/33"}`, "s3cret", 400, "not a CIDR", 0, 0},
		{"POST", `{"fault":"offline","range":"10.0.0.0/8"}`, "s3cret", 400, "outside the farm", 0, 0},
		{"POST", `{"fault":"offline","count":63}`, "s3cret", 400, "more than the farm", 0, 0},
		{"POST", `{"fault":"offline","model":"s9","count":32}`, "s3cret", 400, "only 31 miners match", 0, 0},
		{"POST", `{"fault":"offline","model":"s21"}`, "s3cret", 400, "unknown model", 0, 0},
		{"POST", `{"fault":"offline","miners":["127.77.8.99"]}`, "s3cret", 400, "no miner at", 0, 0},
		{"POST", `{"fault":"offline","miners":["x"]}`, "s3cret", 400, "not an IP address", 0, 0},
		{"POST", `{"fault":"offline","range":"127.77.8.0/28","all":true}`, "s3cret", 400, "unknown field", 0, 0},
		{"POST", ``, "s3cret", 400, "empty body", 0, 0},
		{"POST", `{"fault":"offline","miners":["` + strings.Repeat("127.77.8.1\",\"", 6000) + `"]}`, "s3cret", 413, "larger than", 0, 0},
	}
	for _, tc := range tests {
		name := tc.body
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(tc.method+" "+name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+"/faults", strings.NewReader(tc.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.contains) {
				t.Errorf("%d %s, want %d containing %q", resp.StatusCode, b, tc.code, tc.contains)
			}
			if got := faulty("offline"); got != tc.offline {
				t.Errorf("%d miners offline, want %d", got, tc.offline)
			}
			if got := faulty("overheat"); got != tc.overheat {
				t.Errorf("%d miners overheating, want %d", got, tc.overheat)
			}
		})
	}
}
