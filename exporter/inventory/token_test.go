package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A web login token is kept per miner in memory, for the key (API and credentials) it was
// obtained with, until it expires; it is never in a Record, never in the file, and never makes
// the file due.
func TestToken(t *testing.T) {
	const a, secret = "10.0.0.7:4028", "tok-3f9a1c77e2"
	path := filepath.Join(t.TempDir(), "inventory.json")
	inv := New(Options{File: path})
	if inv.SetToken(a, "braiins|root", secret, t0.Add(time.Hour)) {
		t.Fatal("a token kept for a miner that never answered")
	}
	inv.Observe(a, Facts{Protocol: CGMiner, Port: 4028, Family: "braiins"}, t0)
	if err := inv.Save(); err != nil {
		t.Fatal(err)
	}
	if !inv.SetToken(a, "braiins|root", secret, t0.Add(time.Hour)) {
		t.Fatal("SetToken refused a known miner")
	}
	if inv.dirty.Load() {
		t.Error("a token made the file due")
	}
	for _, tc := range []struct {
		key  string
		at   time.Time
		want bool
	}{
		{"braiins|root", t0.Add(59 * time.Minute), true},
		{"braiins|root", t0.Add(time.Hour), false},
		{"braiins|admin", t0, false},
		{"vnish|root", t0, false},
	} {
		if got, ok := inv.Token(a, tc.key, tc.at); ok != tc.want || (ok && got != secret) {
			t.Errorf("Token(%s, %s) = %q, %v", tc.key, tc.at, got, ok)
		}
	}
	r, _ := inv.Get(a)
	if strings.Contains(strings.Join([]string{r.Address, r.Family, r.Serial, r.MAC}, " "), secret) {
		t.Error("the token is in the Record")
	}
	inv.Observe(a, Facts{Serial: "SER12345"}, t0.Add(time.Minute))
	if err := inv.Save(); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(path); err != nil || strings.Contains(string(data), secret) {
		t.Errorf("the file holds the token (%v):\n%s", err, data)
	}
	inv.DropToken(a)
	if _, ok := inv.Token(a, "braiins|root", t0); ok {
		t.Error("a dropped token is still kept")
	}
	inv.SetToken(a, "braiins|root", secret, t0.Add(time.Hour))
	inv.Delete(a)
	if _, ok := inv.Token(a, "braiins|root", t0); ok {
		t.Error("a forgotten miner's token is still kept")
	}
}
