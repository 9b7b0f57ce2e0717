package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/prometheus/common/model"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// FactsStore is what Facts needs from the store.
type FactsStore interface {
	FactsDue(ctx context.Context, now time.Time, limit int) ([]store.FactsRequest, error)
	SaveFacts(ctx context.Context, taskID int64, f task.Facts, next time.Time, errText string) error
}

// Facts asks Prometheus what a task's machine is: model and firmware (cgminer_info), serial and
// MAC (cgminer_device_info), why its last probe failed (cgminer_probe_error_info). A new task's
// facts are due at once; an open task's again after display.facts_refresh. A metric Prometheus
// does not have leaves its fields empty (shown as unknown); a failed question is tried again a
// minute later and keeps what was known.
type Facts struct {
	Store   FactsStore
	Querier Querier // nil: nothing is asked
	Config  func() *config.Config
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *Metrics
}

// Facts bounds.
const (
	factsPage    = 100
	factsRetry   = time.Minute
	maxFactsRows = 16 // series of one answer looked at (one machine has one of each)
)

// FactsQuery is the question for a machine: its identity as matchers on the three metrics. With
// a lookback, the identity metrics' last values within it are asked too, marked with the label
// factsLookbackLabel: a miner that is down now exports no cgminer_info or cgminer_device_info, yet
// its task must still say what it is (the model and serial it reported before it went down).
func FactsQuery(identity map[string]string, lookback time.Duration) string {
	m := Matchers(identity)
	q := fmt.Sprintf("cgminer_info{%[1]s} or cgminer_device_info{%[1]s} or cgminer_probe_error_info{%[1]s}", m)
	if lookback <= 0 {
		return q
	}
	r := model.Duration(lookback).String()
	for _, name := range []string{"cgminer_info", "cgminer_device_info"} {
		q += fmt.Sprintf(` or label_replace(label_replace(last_over_time(%[1]s{%[2]s}[%[3]s]), "__name__", "%[1]s", "", ""), "%[4]s", "1", "", "")`,
			name, m, r, factsLookbackLabel)
	}
	return q
}

// factsLookbackLabel marks the series of FactsQuery that are a last value from the lookback.
const factsLookbackLabel = "facts_lookback"

// ParseFacts reads an answer to FactsQuery. Series are read in a fixed order, so two jobs
// scraping one machine give the same facts every time, and what the machine says now goes before
// what it said last within the lookback (a model changed by a firmware upgrade shows the new one).
func ParseFacts(series []map[string]string) task.Facts {
	sorted := append([]map[string]string(nil), series[:min(len(series), maxFactsRows)]...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if li, lj := sorted[i][factsLookbackLabel] != "", sorted[j][factsLookbackLabel] != ""; li != lj {
			return lj
		}
		return Matchers(sorted[i]) < Matchers(sorted[j])
	})
	var f task.Facts
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	for _, s := range sorted {
		switch s["__name__"] {
		case "cgminer_info":
			set(&f.Model, s["model"])
			set(&f.Firmware, s["firmware"])
			sw := s["software"]
			if v := s["software_version"]; v != "" && sw != "" {
				sw += " " + v
			}
			set(&f.Software, sw)
		case "cgminer_device_info":
			set(&f.Serial, s["serial"])
			set(&f.MAC, s["mac"])
		case "cgminer_probe_error_info":
			set(&f.ProbeError, s["reason"])
		}
	}
	return f
}

func (f *Facts) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now().UTC()
}

// Once asks about the machines whose facts are due and returns how many it asked about.
func (f *Facts) Once(ctx context.Context) (int, error) {
	if f.Querier == nil {
		return 0, nil
	}
	cfg := config.Default()
	if f.Config != nil {
		cfg = f.Config()
	}
	now := f.now()
	due, err := f.Store.FactsDue(ctx, now, factsPage)
	if err != nil {
		return 0, fmt.Errorf("facts due: %w", err)
	}
	var errs []error
	failed := 0
	for _, r := range due {
		if ctx.Err() != nil {
			break
		}
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		series, err := f.Querier.Query(qctx, FactsQuery(r.Identity, cfg.Display.FactsLookback), time.Time{})
		cancel()
		if err != nil {
			if f.Metrics != nil {
				inc(f.Metrics.Facts, "error")
			}
			errs = append(errs, fmt.Errorf("task %d: %w", r.TaskID, err))
			if err := f.Store.SaveFacts(ctx, r.TaskID, task.Facts{}, now.Add(factsRetry), err.Error()); err != nil {
				return 0, err
			}
			if failed++; failed >= maxFailedInARow {
				break // Prometheus is down: the rest wait for the next pass
			}
			continue
		}
		failed = 0
		facts := ParseFacts(series)
		facts.AskedAt = now
		if f.Metrics != nil {
			inc(f.Metrics.Facts, "ok")
		}
		if err := f.Store.SaveFacts(ctx, r.TaskID, facts, now.Add(cfg.Display.FactsRefresh), ""); err != nil {
			return 0, err
		}
	}
	return len(due), errors.Join(errs...)
}

// Run asks every interval until ctx ends.
func (f *Facts) Run(ctx context.Context, every time.Duration) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		if _, err := f.Once(ctx); err != nil && ctx.Err() == nil {
			f.Logger.Warn("machine facts", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}
