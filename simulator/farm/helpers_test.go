package farm

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// freePort finds a port free on the test range's first address.
func freePort(t *testing.T, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp4", addr+":0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startFarm starts a farm of one model per address on a private loopback range.
func startFarm(t *testing.T, cidr, mix string, n int, clock Clock) *Farm {
	t.Helper()
	return startFarmWith(t, cidr, mix, n, clock, nil)
}

// startFarmWith is startFarm with the configuration adjusted by opt (nil: none). The API v3 and
// HTTP API ports are free ports of the range's first address.
func startFarmWith(t *testing.T, cidr, mix string, n int, clock Clock, opt func(*Config)) *Farm {
	t.Helper()
	m, err := ParseMix(mix)
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix(cidr)
	first := Hosts(p)[0].String()
	cfg := Config{Range: p, Miners: n, Mix: m, Seed: 42, Port: freePort(t, first), V3Port: freePort(t, first),
		HTTPPort: freePort(t, first), Clock: clock, SlowDelay: 3 * time.Second}
	for cfg.V3Port == cfg.Port || cfg.HTTPPort == cfg.Port || cfg.HTTPPort == cfg.V3Port {
		cfg.V3Port, cfg.HTTPPort = freePort(t, first), freePort(t, first)
	}
	if opt != nil {
		opt(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := f.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); f.Close() })
	return f
}

// probe asks a miner what the exporter asks it, the way the exporter asks.
func probe(t *testing.T, m *Miner) (*cgminer.Result, miner.Snapshot) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var c cgminer.Client
	res := c.QueryAll(ctx, m.Endpoint(), dialect.Base, cgminer.Options{Join: true})
	if err := res.Err(); err != nil {
		return res, miner.Snapshot{}
	}
	fam := dialect.Identify(res)
	extra := c.QueryAll(ctx, m.Endpoint(), fam.Extra, cgminer.Options{Join: true})
	for k, v := range extra.Replies {
		res.Replies[k] = v
	}
	return res, dialect.Read(res, fam)
}
