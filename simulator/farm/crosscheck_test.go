package farm

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/miner"
	"github.com/minefarm/cgminer-stack/exporter/webapi"
	"github.com/minefarm/cgminer-stack/exporter/wm3"
)

// The exporter's side of the new protocols: its API v3 client and its fault table read what the
// simulator renders from its own code. (The simulator's own tests above use their own clients;
// these hold the two sides to each other.)

// probeV3 reads a miner through the exporter's API v3 client and dialect.
func probeV3(t *testing.T, m *Miner) miner.Snapshot {
	t.Helper()
	addr, ok := m.EndpointOf(ProtocolWhatsminerV3)
	if !ok {
		t.Fatalf("%s serves no API v3", m.model.Key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var c wm3.Client
	res, err := c.Query(ctx, addr, wm3.Options{})
	if err != nil {
		t.Fatalf("API v3 probe: %v", err)
	}
	for cmd, ok := range res.Commands() {
		if !ok {
			t.Errorf("command %s failed: %v", cmd, res.Errors)
		}
	}
	return dialect.ReadWhatsminerV3(res, miner.Limits{})
}

// TestV3ReadByExporter: a healthy m60s read through API v3 is identified with its serials and
// MAC, its three boards and the hashrate of its model; power-off is sleeping, low power is not.
func TestV3ReadByExporter(t *testing.T) {
	f := startFarm(t, "127.66.3.0/28", "m60s=1", 1, newFakeClock())
	m := f.Miners()[0]
	s := probeV3(t, m)
	st := m.snapshot(f.cfg.Clock.Now())
	if s.Model != m.model.Name || s.Serial != v3Serial(st) || !strings.EqualFold(s.MAC, v3MAC(st)) || s.Family != dialect.FamilyWhatsminerV3 {
		t.Errorf("identity %q %q %q %q", s.Model, s.Serial, s.MAC, s.Family)
	}
	if got := s.BoardsDetected(); got.V != 3 || len(s.Boards) != 3 || s.Boards[1].Serial != v3BoardSerial(st, 1) {
		t.Errorf("boards %+v", s.Boards)
	}
	if nominal := m.model.NominalGHS * 1e9; s.Hashrate.V < 0.9*nominal || s.Hashrate.V > 1.1*nominal || !s.HashrateNominal.Set {
		t.Errorf("hashrate %v nominal %v", s.Hashrate, s.HashrateNominal)
	}
	if len(s.Fans) != m.model.Fans {
		t.Errorf("fans %+v, want the model's %d", s.Fans, m.model.Fans)
	}
	if len(s.Pools) != 3 || s.Pools[0].URL != PoolURL || s.Sleeping.V != 0 || len(s.Faults) != 0 {
		t.Errorf("pools %+v sleeping %v faults %v", s.Pools, s.Sleeping, s.Faults)
	}
	_, _ = m.SetFault(Sleeping)
	if s := probeV3(t, m); s.Sleeping.V != 1 || s.Hashrate.V != 0 {
		t.Errorf("powered off: sleeping %v hashrate %v", s.Sleeping, s.Hashrate)
	}
	_, _ = m.ClearFault(Sleeping)
	_, _ = m.SetFault(LowPower)
	if s := probeV3(t, m); s.Sleeping.V != 0 || s.Hashrate.V <= 0 {
		t.Errorf("low power, hashing: sleeping %v hashrate %v", s.Sleeping, s.Hashrate)
	}
}

// TestFirmwareFaultsReadByExporter: each fault's firmware code, on every family that reports
// codes (API v3 error-code, btminer's get_error_code, LuxOS events), is read by the exporter as
// the fault class that means that hardware work.
func TestFirmwareFaultsReadByExporter(t *testing.T) {
	f := startFarm(t, "127.66.3.16/28", "m60s=1,m30s=1,luxos=1", 3, newFakeClock())
	read := func(t *testing.T, m *Miner) miner.Snapshot {
		if m.model.Key == "m60s" {
			return probeV3(t, m)
		}
		res, s := probe(t, m)
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		fault     Fault
		class     string
		board     bool // the fault names a board (LuxOS's own Targets are checked in TestLuxOSEvents)
		notOnLux  bool
		component string
	}{
		{FanStopped, "fan_failure", false, false, miner.ComponentFan},
		{BoardMissing, "hashboard_not_found", true, false, miner.ComponentHashboard},
		{BoardDead, "hashboard_chips", true, false, miner.ComponentHashboard},
		{ChipsFailed, "hashboard_chips", true, false, miner.ComponentHashboard},
		{DeviceDead, "hashboard_fault", true, false, miner.ComponentHashboard},
		{OverheatCritical, "overheat", true, false, miner.ComponentTemperature}, // MicroBT: one code per board
		{PoolDead, "pool_connection", false, false, miner.ComponentPool},
		{RejectsHigh, "pool_rejects", false, true, miner.ComponentPool},
		{HashrateLow, "hashrate_low", false, true, miner.ComponentHashboard},
	}
	for _, m := range f.Miners() {
		for _, tc := range tests {
			if tc.notOnLux && m.model.Key == "luxos" {
				continue
			}
			t.Run(m.model.Key+"/"+tc.fault.String(), func(t *testing.T) {
				if _, err := m.SetFault(tc.fault); err != nil {
					t.Fatal(err)
				}
				defer func() { _, _ = m.ClearFault(tc.fault) }()
				s := read(t, m)
				var found *miner.Fault
				for i := range s.Faults {
					if s.Faults[i].Code == tc.class {
						found = &s.Faults[i]
					}
				}
				if found == nil {
					t.Fatalf("no %s fault in %+v", tc.class, s.Faults)
				}
				if found.Component != tc.component || (found.Board != "") != tc.board && m.model.Key != "luxos" {
					t.Errorf("fault %+v, want component %s, board %v", found, tc.component, tc.board)
				}
			})
		}
	}
}

// TestWebReadByExporter: the exporter's web client logs in to the simulated Antminer HTTP API
// with Digest and its dialect takes serial, MAC and board serials from it, a fault's status entry
// as a fault, and sleep mode as sleeping.
func TestWebReadByExporter(t *testing.T) {
	f := startWebFarm(t, "127.66.3.32/28", "s19jpro=1", 1, newFakeClock())
	m := f.Miners()[0]
	addr, _ := m.EndpointOf(ProtocolAntminerHTTP)
	client := webapi.NewClient(0, nil)
	read := func(t *testing.T, password string) (*webapi.Result, miner.Snapshot, error) {
		res, s := probe(t, m)
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		w, err := client.Read(ctx, webapi.Target{API: webapi.Antminer, Scheme: "http", Addr: addr,
			Username: DefaultHTTPUser, Password: webapi.Secret(password)})
		dialect.ReadWeb(w, &s, miner.Limits{}, f.cfg.Clock.Now())
		return w, s, err
	}
	w, s, err := read(t, testPassword)
	if err != nil {
		t.Fatalf("web read: %v", err)
	}
	for cmd, ok := range w.Commands() {
		if !ok {
			t.Errorf("%s failed: %v", cmd, w.Errors)
		}
	}
	st := m.snapshot(f.cfg.Clock.Now())
	if s.Serial != webSerial(st) || !strings.EqualFold(s.MAC, webMAC(st)) || len(s.Boards) != 3 || s.Boards[2].Serial != webBoardSerial(st, 2) {
		t.Errorf("serial %q MAC %q boards %+v", s.Serial, s.MAC, s.Boards)
	}
	if len(s.Faults) != 0 || s.Sleeping.V != 0 {
		t.Errorf("healthy: faults %v sleeping %v", s.Faults, s.Sleeping)
	}
	if _, _, err := read(t, "root"); err == nil {
		t.Error("the wrong password read the web API")
	}

	_, _ = m.SetFault(FanStopped)
	if _, s, _ := read(t, testPassword); len(s.Faults) != 1 || s.Faults[0].Code != "fan_failure" || s.Faults[0].Severity != miner.SeverityCritical {
		t.Errorf("fan stopped: faults %+v", s.Faults)
	}
	_, _ = m.ClearFault(FanStopped)
	_, _ = m.SetFault(Sleeping)
	if _, s, _ := read(t, testPassword); s.Sleeping.V != 1 {
		t.Errorf("sleep mode: sleeping %v", s.Sleeping)
	}
}
