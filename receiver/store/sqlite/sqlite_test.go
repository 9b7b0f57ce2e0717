package sqlite

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "r.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "r.db")
	s, err := Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InTx(ctx, func(tx store.Tx) error { return tx.SetHeartbeat(ctx, "w", storetestTime) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, file)
	if err != nil {
		t.Fatalf("second open (migrations must be skipped): %v", err)
	}
	defer s.Close()
	if at, err := s.Heartbeat(ctx, "w"); err != nil || !at.Equal(storetestTime) {
		t.Fatalf("after reopen: %v %v", at, err)
	}
	var mode, syncMode, temp string
	s.SQL().QueryRow("PRAGMA journal_mode").Scan(&mode)
	s.SQL().QueryRow("PRAGMA synchronous").Scan(&syncMode)
	s.SQL().QueryRow("PRAGMA temp_store").Scan(&temp)
	if mode != "wal" || syncMode != "2" || temp != "2" {
		t.Fatalf("journal_mode %q synchronous %q temp_store %q, want wal, 2 (FULL) and 2 (MEMORY: statement journals)", mode, syncMode, temp)
	}
	// Connections are kept between transactions side by side (a new one runs the pragmas again
	// with cold caches).
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				if _, err := s.Heartbeat(ctx, "w"); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if st := s.SQL().Stats(); st.MaxIdleClosed > 0 {
		t.Fatalf("%d connections closed for want of an idle slot", st.MaxIdleClosed)
	}
}

var storetestTime = storetestT0()

func storetestT0() (t0 time.Time) { return time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC) }
