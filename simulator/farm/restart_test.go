package farm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// rawQuery sends one request and reads the reply up to its NUL, as a cgminer client does.
func rawQuery(endpoint, req string) ([]byte, error) {
	conn, err := net.DialTimeout("tcp4", endpoint, time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(conn, 1<<20))
	if err != nil {
		return b, err
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i], nil
	}
	return b, errors.New("no NUL at the end of the reply")
}

// waitFor polls cond every 10 ms for up to limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func refused(endpoint string) bool {
	conn, err := net.DialTimeout("tcp4", endpoint, time.Second)
	if err == nil {
		conn.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func startRestartFarm(t *testing.T, cidr, mix string, n int, clock Clock, allow bool, clears []Fault) *Farm {
	t.Helper()
	m, err := ParseMix(mix)
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix(cidr)
	f, err := New(Config{Range: p, Miners: n, Mix: m, Seed: 42, Port: freePort(t, Hosts(p)[0].String()), Clock: clock,
		AllowRestart: allow, RestartDelay: 300 * time.Millisecond, RestartClears: clears})
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

// TestRestartCommand: with restart allowed, a cgminer-family miner answers the restart as cgminer
// does, refuses connections for the restart delay, and comes back with Elapsed from zero and the
// faults a restart cures cleared, the others kept.
func TestRestartCommand(t *testing.T) {
	clock := newFakeClock()
	f := startRestartFarm(t, "127.77.2.0/28", "s19jpro=1,s9=1,vnish=1,avalon1047=1", 4, clock, true, nil)
	for _, m := range f.Miners() {
		t.Run(m.model.Key, func(t *testing.T) {
			_, before := probe(t, m)
			if before.Uptime.V < 3600 {
				t.Fatalf("uptime before %v, want over an hour", before.Uptime.V)
			}
			for _, fl := range []Fault{ZeroHashrate, PoolDead, DeviceDead, FanStopped} {
				if _, err := m.SetFault(fl); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(time.Minute)
			reply, err := rawQuery(m.Endpoint(), `{"command":"restart"}`)
			if err != nil {
				t.Fatalf("restart: %v (reply %q)", err, reply)
			}
			if string(reply) != `{"STATUS":"RESTART","id":1}` {
				t.Fatalf("reply %q, want cgminer's {\"STATUS\":\"RESTART\",\"id\":1}", reply)
			}
			waitFor(t, 2*time.Second, "the API to go silent", func() bool { return refused(m.Endpoint()) })
			if !m.Restarting() || !m.Info().Restarting {
				t.Errorf("not marked restarting while silent")
			}
			waitFor(t, 5*time.Second, "the API to answer again", func() bool { return !refused(m.Endpoint()) })
			res, after := probe(t, m)
			if err := res.Err(); err != nil {
				t.Fatalf("probe after restart: %v", err)
			}
			if !after.Uptime.Set || after.Uptime.V > 5 {
				t.Errorf("uptime after restart %v, want reset to about 0", after.Uptime)
			}
			if got := m.Faults(); len(got) != 1 || got[0] != FanStopped {
				t.Errorf("faults after restart %v, want only fan_stopped (not cured by a restart)", got)
			}
			// The software ramps up over a minute, then hashes again: the restart cured the fault.
			clock.Advance(2 * time.Minute)
			_, later := probe(t, m)
			if nominal := m.model.NominalGHS * 1e9; later.Hashrate.V < 0.9*nominal {
				t.Errorf("hashrate 2 minutes after restart %v, want about %v", later.Hashrate.V, nominal)
			}
			if err := m.ClearFaults(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRestartRefused: without --api.allow-restart every model refuses restart as stock firmware
// does (Code 45) and keeps answering; with it, the families that need a token or session, and a
// restart inside a join, are still refused.
func TestRestartRefused(t *testing.T) {
	tests := []struct {
		name, mix, req string
		allow          bool
		want           string
	}{
		{"stock s19 without W access", "s19jpro=1", `{"command":"restart"}`, false, `"Code":45,"Msg":"Access denied to 'restart' command"`},
		{"avalon without W access", "avalon1047=1", `{"command":"restart"}`, false, `"Code":45,"Msg":"Access denied to 'restart' command"`},
		{"whatsminer needs its token API", "m30s=1", `{"command":"restart"}`, true, `"Code":45`},
		{"luxos needs a session", "luxos=1", `{"command":"restart"}`, true, `"Code":45`},
		{"bosminer", "bos=1", `{"command":"restart"}`, true, `"Code":45`},
		{"inside a join", "s19jpro=1", `{"command":"summary+restart"}`, true, `"restart":[{"STATUS":[{"STATUS":"E","When":`},
		{"upper case is not the command", "s19jpro=1", `{"command":"RESTART"}`, true, `"Code":45`},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 77, 3, byte(16 * i)}), 28).String()
			f := startRestartFarm(t, cidr, tc.mix, 1, newFakeClock(), tc.allow, nil)
			m := f.Miners()[0]
			if _, err := m.SetFault(ZeroHashrate); err != nil {
				t.Fatal(err)
			}
			reply, err := rawQuery(m.Endpoint(), tc.req)
			if err != nil {
				t.Fatalf("%v (reply %q)", err, reply)
			}
			if !bytes.Contains(reply, []byte(tc.want)) {
				t.Fatalf("reply %s, want it to contain %s", reply, tc.want)
			}
			time.Sleep(50 * time.Millisecond)
			if refused(m.Endpoint()) || m.Restarting() {
				t.Fatalf("a refused restart restarted the miner")
			}
			if got := m.Faults(); len(got) != 1 || got[0] != ZeroHashrate {
				t.Errorf("faults %v, want zero_hashrate kept", got)
			}
		})
	}
}

// TestRestartTextForm: the text form of the command gets the word alone.
func TestRestartTextForm(t *testing.T) {
	f := startRestartFarm(t, "127.77.4.0/28", "s9=1", 1, newFakeClock(), true, []Fault{})
	m := f.Miners()[0]
	if _, err := m.SetFault(ZeroHashrate); err != nil {
		t.Fatal(err)
	}
	reply, err := rawQuery(m.Endpoint(), "restart")
	if err != nil || string(reply) != "RESTART" {
		t.Fatalf("reply %q (%v), want RESTART", reply, err)
	}
	waitFor(t, 2*time.Second, "the restart", func() bool { return refused(m.Endpoint()) })
	waitFor(t, 5*time.Second, "the API to answer again", func() bool { return !refused(m.Endpoint()) })
	// RestartClears empty: a restart cures nothing.
	if got := m.Faults(); len(got) != 1 || got[0] != ZeroHashrate {
		t.Errorf("faults %v, want zero_hashrate kept (nothing configured as cured)", got)
	}
}

// TestRestartKeepsOffline: a miner set offline while it restarts stays offline when the restart
// delay ends, and clearing offline during a restart does not bring the API back early.
func TestRestartKeepsOffline(t *testing.T) {
	f := startRestartFarm(t, "127.77.4.16/28", "s19jpro=2", 2, newFakeClock(), true, nil)
	a, b := f.Miners()[0], f.Miners()[1]
	if !a.Restart() || a.Restart() {
		t.Fatal("Restart: want true once, then false while under way")
	}
	if _, err := a.SetFault(Offline); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	if _, err := b.SetFault(Offline); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ClearFault(Offline); err != nil {
		t.Fatal(err)
	}
	if !refused(b.Endpoint()) {
		t.Fatal("clearing offline during a restart opened the API early")
	}
	waitFor(t, 5*time.Second, "both restarts to end", func() bool { return !a.Restarting() && !b.Restarting() })
	waitFor(t, 2*time.Second, "b to answer", func() bool { return !refused(b.Endpoint()) })
	if !refused(a.Endpoint()) {
		t.Error("a miner set offline during its restart answers after it")
	}
}
