package lease

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/minefarm/cgminer-stack/receiver/store/postgres/pgtest"
)

var srv *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	if srv, err = pgtest.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "FATAL: cannot start PostgreSQL 15 for the lease tests (apt-get install postgresql-15):", err)
		os.Exit(1)
	}
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

func database(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := srv.Database(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

func locker(t *testing.T, dsn string, interval time.Duration) *Postgres {
	t.Helper()
	p, err := NewPostgres(dsn, interval)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func acquire(t *testing.T, p *Postgres) Held {
	t.Helper()
	h, err := p.TryAcquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestIntervalBounds(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		ok       bool
	}{
		{time.Second, true}, {5 * time.Second, true}, {8 * time.Second, true},
		{500 * time.Millisecond, false}, {1500 * time.Millisecond, false}, {9 * time.Second, false}, {0, false},
	} {
		t.Run(tc.interval.String(), func(t *testing.T) {
			_, err := NewPostgres("postgres://u@127.0.0.1:1/db", tc.interval)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && HandoverBound(tc.interval) >= time.Minute {
				t.Fatalf("an accepted interval hands over in %s", HandoverBound(tc.interval))
			}
		})
	}
}

// One replica at a time holds the lease; once it lets go, another takes it.
func TestOneHolderAtATime(t *testing.T) {
	dsn := database(t)
	a, b := locker(t, dsn, time.Second), locker(t, dsn, time.Second)
	ha := acquire(t, a)
	if ha == nil {
		t.Fatal("the first replica did not get a free lease")
	}
	if hb := acquire(t, b); hb != nil {
		t.Fatal("a second replica got a held lease")
	}
	if again := acquire(t, a); again != nil {
		t.Fatal("the holder's follower connection got its own lease a second time")
	}
	ha.Release(context.Background())
	hb := acquire(t, b)
	if hb == nil {
		t.Fatal("the lease was not free after its release")
	}
	hb.Release(context.Background())
}

// The lease session tells PostgreSQL to probe a silent client (keepalives, user timeout) on the
// scale of the interval, not the kernel's two hours; the numbers are what the handover bound
// rests on.
func TestLeaseSessionSettings(t *testing.T) {
	h := acquire(t, locker(t, database(t), 5*time.Second))
	defer h.Release(context.Background())
	conn := h.(*pgHeld).conn
	for name, want := range map[string]string{
		"tcp_keepalives_idle": "15", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3",
		"tcp_user_timeout": "30000", "application_name": "repair_receiver lease",
	} {
		t.Run(name, func(t *testing.T) {
			var got string
			if err := conn.QueryRow(context.Background(), "SHOW "+name).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("%s = %q, want %q", name, got, want)
			}
		})
	}
}

func leasePID(t *testing.T, dsn string) (admin *pgx.Conn, pid int) {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(ctx) })
	err = admin.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = $1 AND objid::bigint = $2 AND granted`,
		int64(KeyClass), int64(KeyObject)).Scan(&pid)
	if err != nil {
		t.Fatalf("no session holds the lease: %v", err)
	}
	return admin, pid
}

// A session ended from the server (pg_terminate_backend, a restart) is noticed at once, between
// checks, not at the next one.
func TestHoldNoticesTheSessionEnding(t *testing.T) {
	dsn := database(t)
	h := acquire(t, locker(t, dsn, 8*time.Second))
	defer h.Release(context.Background())
	admin, pid := leasePID(t, dsn)
	lost := make(chan error, 1)
	go func() { lost <- h.Hold(context.Background()) }()
	time.Sleep(100 * time.Millisecond) // Hold is waiting on the connection
	start := time.Now()
	if _, err := admin.Exec(context.Background(), `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-lost:
		if !errors.Is(err, ErrLost) {
			t.Fatalf("Hold returned %v, want ErrLost", err)
		}
		t.Logf("noticed after %s (interval 8s): %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(time.Minute):
		t.Fatal("Hold did not return after its session was terminated")
	}
}

// proxy forwards TCP connections to PostgreSQL; blackhole drops everything both ways while the
// connections stay open (a partition: no FIN, no RST), cut closes them (what the server's
// keepalives end up doing).
type proxy struct {
	l     net.Listener
	to    string
	drop  atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, to string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, to: to}
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
	return p
}

func (p *proxy) pipe(from, to net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if err != nil {
			to.Close()
			return
		}
		if p.drop.Load() {
			continue
		}
		if _, err := to.Write(buf[:n]); err != nil {
			from.Close()
			return
		}
	}
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// A holder cut off from PostgreSQL stops within two intervals, while the server still holds its
// lock for it (its session is not over yet): it has fenced itself before anyone else can lead.
// Once the server ends the session, another replica takes the lease.
func TestPartitionedHolderFencesFirst(t *testing.T) {
	dsn := database(t)
	p := newProxy(t, fmt.Sprintf("127.0.0.1:%d", srv.Port))
	_, port, _ := net.SplitHostPort(p.l.Addr().String())
	via := locker(t, pgtestDSN(port, dsn), time.Second)
	direct := locker(t, dsn, time.Second)
	h := acquire(t, via)
	if h == nil {
		t.Fatal("no lease through the proxy")
	}
	defer h.Release(context.Background())
	lost := make(chan error, 1)
	go func() { lost <- h.Hold(context.Background()) }()
	time.Sleep(1500 * time.Millisecond) // a check or two go through
	p.drop.Store(true)
	start := time.Now()
	select {
	case err := <-lost:
		if !errors.Is(err, ErrLost) {
			t.Fatalf("Hold returned %v, want ErrLost", err)
		}
		t.Logf("fenced %s after the partition (interval 1s): %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(time.Minute):
		t.Fatal("a partitioned holder kept running")
	}
	if other := acquire(t, direct); other != nil {
		other.Release(context.Background())
		t.Fatal("the lease was free before the server ended the partitioned session: the holder fenced too late to prove anything")
	}
	p.cut() // the server's keepalives give up on the peer and end the session
	deadline := time.Now().Add(time.Minute)
	for {
		if other := acquire(t, direct); other != nil {
			other.Release(context.Background())
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease never came free after the partitioned session ended")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pgtestDSN is dsn (a pgtest database's) with the port replaced.
func pgtestDSN(port, dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		panic(err)
	}
	p := 0
	fmt.Sscan(port, &p)
	return pgtest.DSNFor(p, cfg.Database)
}

// fakeLocker hands out leases the test takes away; it records what happened in order.
type fakeLocker struct {
	mu     sync.Mutex
	free   bool
	events []string
	lose   chan error // a value ends the current Hold with it
}

func (f *fakeLocker) log(e string) { f.mu.Lock(); f.events = append(f.events, e); f.mu.Unlock() }

func (f *fakeLocker) TryAcquire(context.Context) (Held, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.free {
		return nil, nil
	}
	f.free = false
	f.events = append(f.events, "acquired")
	return &fakeHeld{f: f}, nil
}

type fakeHeld struct{ f *fakeLocker }

func (h *fakeHeld) Hold(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-h.f.lose:
		h.f.log("lost")
		return err
	}
}

func (h *fakeHeld) Release(context.Context) {
	h.f.log("released")
	h.f.mu.Lock()
	h.f.free = true
	h.f.mu.Unlock()
}

// The loops stop (their context ends and lead returns) before the lease is given up, on a loss as
// at shutdown; the metrics follow, and a shutdown is not a loss.
func TestElectorStopsLoopsBeforeRelease(t *testing.T) {
	f := &fakeLocker{free: true, lose: make(chan error)}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	e := &Elector{Locker: f, Retry: 10 * time.Millisecond, Logger: discard(), Metrics: m}
	ctx, cancel := context.WithCancel(context.Background())
	leading := make(chan struct{}, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx, func(lctx context.Context) {
			f.log("loops started")
			leading <- struct{}{}
			<-lctx.Done()
			time.Sleep(20 * time.Millisecond) // a loop finishing its pass
			f.log("loops stopped")
		})
	}()
	<-leading
	if !e.Leader() || testutil.ToFloat64(m.Leader) != 1 {
		t.Fatal("not leader while leading")
	}
	f.lose <- fmt.Errorf("%w: test", ErrLost)
	<-leading // taken again once released
	cancel()
	<-done
	want := []string{"acquired", "loops started", "lost", "loops stopped", "released", "acquired", "loops started", "loops stopped", "released"}
	if fmt.Sprint(f.events) != fmt.Sprint(want) {
		t.Fatalf("events\n got %v\nwant %v", f.events, want)
	}
	if e.Leader() || testutil.ToFloat64(m.Leader) != 0 || testutil.ToFloat64(m.Acquisitions) != 2 || testutil.ToFloat64(m.Losses) != 1 {
		t.Fatalf("metrics: leader %v, acquisitions %v, losses %v", testutil.ToFloat64(m.Leader), testutil.ToFloat64(m.Acquisitions), testutil.ToFloat64(m.Losses))
	}
}

// Two electors on one database: one leads; when its session ends the other takes over and the
// first, once it has stopped, follows.
func TestElectorsHandOver(t *testing.T) {
	dsn := database(t)
	type replica struct {
		e       *Elector
		m       *Metrics
		running atomic.Int32
	}
	var rs [2]*replica
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range rs {
		m := NewMetrics(prometheus.NewRegistry())
		r := &replica{m: m, e: &Elector{Locker: locker(t, dsn, time.Second), Retry: time.Second, Logger: discard(), Metrics: m}}
		rs[i] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.e.Run(ctx, func(lctx context.Context) { r.running.Add(1); <-lctx.Done(); r.running.Add(-1) })
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	leader := func() int {
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			a, b := rs[0].e.Leader(), rs[1].e.Leader()
			switch {
			case a && !b:
				return 0
			case b && !a:
				return 1
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("no single leader within a minute")
		return -1
	}
	first := leader()
	admin, pid := leasePID(t, dsn)
	start := time.Now()
	if _, err := admin.Exec(context.Background(), `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !rs[1-first].e.Leader() {
		if time.Now().After(deadline) {
			t.Fatal("the other replica did not take over within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("handed over in %s (retry 1s)", time.Since(start).Round(time.Millisecond))
	if rs[first].e.Leader() || rs[first].running.Load() != 0 {
		t.Fatal("the old leader still runs its loops")
	}
	if testutil.ToFloat64(rs[first].m.Losses) != 1 || testutil.ToFloat64(rs[1-first].m.Acquisitions) != 1 {
		t.Fatalf("losses %v, acquisitions %v", testutil.ToFloat64(rs[first].m.Losses), testutil.ToFloat64(rs[1-first].m.Acquisitions))
	}
}

func TestSingleAlwaysHeld(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	e := &Elector{Locker: Single{}, Retry: time.Second, Logger: discard(), Metrics: m}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx, func(lctx context.Context) { close(started); <-lctx.Done() }) }()
	<-started
	if testutil.ToFloat64(m.Leader) != 1 {
		t.Fatal("SQLite's single receiver is not the leader")
	}
	cancel()
	<-done
	if testutil.ToFloat64(m.Losses) != 0 || testutil.ToFloat64(m.Leader) != 0 {
		t.Fatal("a shutdown counted as a loss, or leader left at 1")
	}
}
