package repair

import (
	"context"
	"time"

	"github.com/minefarm/cgminer-stack/receiver/alert"
	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// wantEvidence asks, in the transaction that makes (or reopens) a task, for its machine's facts
// and, for a new task when snapshot.exporter_url is set, for its evidence snapshot. Only rows
// are written here: Prometheus and the exporter are asked by loops of their own (verify.Facts,
// verify.Snapshotter), never while the webhook waits. A fleet task (a site, no instance) has no
// machine to ask about. ev is nil for a reopened task: it keeps its first snapshot.
func wantEvidence(ctx context.Context, tx store.Tx, cfg *config.Config, t *task.Task, ev *alert.Event, now time.Time) error {
	if t.Fleet || t.Identity["instance"] == "" {
		return nil
	}
	var snap *store.Snapshot
	if ev != nil && cfg.Snapshot.ExporterURL != "" {
		snap = &store.Snapshot{Target: t.Identity["instance"], Module: cfg.Snapshot.SnapshotModule(ev.Labels)}
	}
	return tx.WantEvidence(ctx, t.ID, snap, now)
}
