package sqlite

import (
	"context"
	"path/filepath"
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
	var mode, sync string
	s.SQL().QueryRow("PRAGMA journal_mode").Scan(&mode)
	s.SQL().QueryRow("PRAGMA synchronous").Scan(&sync)
	if mode != "wal" || sync != "2" {
		t.Fatalf("journal_mode %q synchronous %q, want wal and 2 (FULL)", mode, sync)
	}
}

var storetestTime = storetestT0()

func storetestT0() (t0 time.Time) { return time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC) }
