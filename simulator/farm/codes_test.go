package farm

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// legacyJSON asks the cgminer API one JSON command and decodes the reply (NUL dropped).
func legacyJSON(t *testing.T, m *Miner, cmd string) map[string]any {
	t.Helper()
	raw := rawExchange(t, m, `{"command":"`+cmd+`"}`)
	if !strings.HasSuffix(raw, "\x00") {
		t.Fatalf("%s: no NUL at the end", cmd)
	}
	return obj(t, []byte(strings.TrimSuffix(raw, "\x00")))
}

// TestWhatsminerErrorCodes: btminer's get_error_code on 4028 lists the same MicroBT codes as API
// v3, each a one-code object of its time, and summary's Error Code Count follows them.
func TestWhatsminerErrorCodes(t *testing.T) {
	clock := newFakeClock()
	f := startFarm(t, "127.66.2.16/28", "m30s=1", 1, clock)
	m := f.Miners()[0]
	ask := func() (codes []string, count float64) {
		r := legacyJSON(t, m, "get_error_code")
		if r["STATUS"] != "S" || r["Code"] != 133.0 {
			t.Errorf("envelope %v", r)
		}
		for _, e := range r["Msg"].(map[string]any)["error_code"].([]any) {
			for k, v := range e.(map[string]any) {
				codes = append(codes, k)
				if v != clock.Now().UTC().Format("2006-01-02 15:04:05") {
					t.Errorf("code %s at %v", k, v)
				}
			}
		}
		sum := legacyJSON(t, m, "summary")["SUMMARY"].([]any)[0].(map[string]any)
		return codes, sum["Error Code Count"].(float64)
	}
	if codes, n := ask(); len(codes) != 0 || n != 0 {
		t.Errorf("healthy: codes %v, count %v", codes, n)
	}
	for _, fl := range []Fault{FanStopped, BoardMissing} {
		if _, err := m.SetFault(fl); err != nil {
			t.Fatal(err)
		}
	}
	if codes, n := ask(); !slices.Equal(codes, []string{"110", "531"}) || n != 2 {
		t.Errorf("fan stopped, board 1 missing: codes %v, count %v", codes, n)
	}
	if raw := rawExchange(t, m, `{"command":"summary+get_error_code"}`); !strings.Contains(raw, `"get_error_code":[{"STATUS":[{"STATUS":"E"`) {
		t.Errorf("get_error_code answered inside a join: %.300s", raw)
	}
}

// TestLuxOSEvents: LuxOS's events command lists the faults as LuxOS events in the capture's
// shape (keys sorted, Target MINER or BOARD with the board's ID).
func TestLuxOSEvents(t *testing.T) {
	clock := newFakeClock()
	f := startFarm(t, "127.66.2.32/28", "luxos=1", 1, clock)
	m := f.Miners()[0]
	healthy := legacyJSON(t, m, "events")
	if evs := healthy["EVENTS"].([]any); len(evs) != 0 {
		t.Errorf("healthy miner lists events %v", evs)
	}
	if st := healthy["STATUS"].([]any)[0].(map[string]any); st["Code"] != 357.0 || st["Msg"] != "Miner Events" {
		t.Errorf("status %v", st)
	}
	b, err := os.ReadFile("testdata/luxos/antminer-luxos-2025.9.8_events_sorted.json")
	if err != nil {
		t.Fatal(err)
	}
	capture := obj(t, b)
	tests := []struct {
		fault  Fault
		code   string
		target string
		board  float64
	}{
		{FanStopped, "FAN_FAILURE", "MINER", -1},
		{BoardMissing, "BOARD_NOT_DETECTED", "BOARD", 1},
		{BoardDead, "BOARD_ASIC_INIT_FAILURE", "BOARD", 0},
		{ChipsFailed, "BAD_DOMAIN", "BOARD", 2},
		{DeviceDead, "REBOOT_NOT_HASHING", "BOARD", 0},
		{OverheatCritical, "OVERTEMP_PROTECTION", "MINER", -1},
		{PoolDead, "NO_ACTIVE_POOLS", "MINER", -1},
	}
	for _, tc := range tests {
		t.Run(tc.fault.String(), func(t *testing.T) {
			if _, err := m.SetFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			set := clock.Now()
			clock.Advance(time.Minute)
			raw := strings.TrimSuffix(rawExchange(t, m, `{"command":"events"}`), "\x00")
			if err := sortedKeys([]byte(raw)); err != nil {
				t.Error(err)
			}
			evs := obj(t, []byte(raw))["EVENTS"].([]any)
			if len(evs) != 1 {
				t.Fatalf("events %v", evs)
			}
			e := evs[0].(map[string]any)
			id, hasID := e["ID"].(float64)
			if e["Code"] != tc.code || e["Target"] != tc.target || hasID != (tc.board >= 0) || hasID && id != tc.board {
				t.Errorf("event %v, want %s %s board %v", e, tc.code, tc.target, tc.board)
			}
			if e["CreatedAt"] != set.UTC().Format("2006-01-02T15:04:05+00:00") || !strings.HasPrefix(e["DocUrl"].(string), luxDocs) {
				t.Errorf("event %v", e)
			}
			// The keys of the capture's event of the same Target.
			for _, ce := range capture["EVENTS"].([]any) {
				if c := ce.(map[string]any); c["Target"] == tc.target && !slices.Equal(keys(c), keys(e)) {
					t.Errorf("keys %v, capture %v", keys(e), keys(c))
				}
			}
			if _, err := m.ClearFault(tc.fault); err != nil {
				t.Fatal(err)
			}
		})
	}
}
