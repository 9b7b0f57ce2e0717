package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
)

// SnapshotStore is what the Snapshotter needs from the store.
type SnapshotStore interface {
	SnapshotsDue(ctx context.Context, now time.Time, limit int) ([]store.Snapshot, error)
	SaveSnapshot(ctx context.Context, s store.Snapshot) error
}

// Snapshotter takes the evidence snapshots of new tasks: the exporter's
// /probe?target=…&module=…&debug=true (the probe's log, the miner's raw replies, the metrics),
// stored with the task. It asks at most snapshot.rate times per second (below the exporter's
// --probe.debug-rate, which answers 429 above it), retries a 429 after its Retry-After and a
// failure (network, 5xx) with a growing backoff up to snapshot.attempts times, gives up at once
// on any other answer (400: a target the exporter does not allow, 403: debug probes off), and
// keeps at most snapshot.max_bytes of an answer.
type Snapshotter struct {
	Store   SnapshotStore
	Config  func() *config.Config
	Client  *http.Client // nil: a client that follows no redirect
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *Metrics

	mu      sync.Mutex
	limiter *rate.Limiter
	limit   rate.Limit
	burst   int
}

// Snapshot bounds.
const (
	snapshotPage     = 20
	maxRetryAfter    = 5 * time.Minute
	maxSnapshotDelay = 10 * time.Minute
	// rateLimitedFactor: a 429 counts as an attempt, but the exporter's limit is shared with every
	// client, so more of them are allowed than failures.
	rateLimitedFactor = 4
)

func (s *Snapshotter) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now().UTC()
}

func (s *Snapshotter) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// rateLimiter follows snapshot.rate and snapshot.burst across reloads.
func (s *Snapshotter) rateLimiter(c config.Snapshot) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limiter == nil || s.limit != rate.Limit(c.Rate) || s.burst != c.Burst {
		s.limit, s.burst = rate.Limit(c.Rate), c.Burst
		s.limiter = rate.NewLimiter(s.limit, s.burst)
	}
	return s.limiter
}

// ProbeURL is the debug probe of a snapshot's target.
func ProbeURL(exporter string, sn store.Snapshot) string {
	q := url.Values{"target": {sn.Target}, "module": {sn.Module}, "debug": {"true"}}
	return strings.TrimRight(exporter, "/") + "/probe?" + q.Encode()
}

// Once takes the due snapshots and returns how many it tried.
func (s *Snapshotter) Once(ctx context.Context) (int, error) {
	cfg := config.Default()
	if s.Config != nil {
		cfg = s.Config()
	}
	c := cfg.Snapshot
	if c.ExporterURL == "" {
		return 0, nil
	}
	due, err := s.Store.SnapshotsDue(ctx, s.now(), snapshotPage)
	if err != nil {
		return 0, fmt.Errorf("snapshots due: %w", err)
	}
	lim := s.rateLimiter(c)
	for i, sn := range due {
		if err := lim.Wait(ctx); err != nil {
			return i, nil // shutting down
		}
		out, result := s.take(ctx, c, sn)
		if s.Metrics != nil {
			inc(s.Metrics.Snapshots, result)
		}
		if err := s.Store.SaveSnapshot(ctx, out); err != nil {
			return i, err
		}
		switch out.State {
		case store.SnapshotFailed:
			s.Logger.Warn("evidence snapshot given up", "task", sn.TaskID, "target", sn.Target, "attempts", out.Attempts, "err", out.LastError)
		case store.SnapshotTaken:
			s.Logger.Debug("evidence snapshot taken", "task", sn.TaskID, "target", sn.Target, "bytes", len(out.Body), "truncated", out.Truncated)
		}
	}
	return len(due), nil
}

// take makes one attempt and returns the snapshot as it is to be stored, with the metric result.
func (s *Snapshotter) take(ctx context.Context, c config.Snapshot, sn store.Snapshot) (store.Snapshot, string) {
	sn.Attempts++
	now := s.now()
	retry := func(after time.Duration, status int, why string, limited bool) (store.Snapshot, string) {
		sn.Status, sn.LastError = status, why
		max, result := c.Attempts, "retry"
		if limited {
			max, result = c.Attempts*rateLimitedFactor, "rate_limited"
		}
		if sn.Attempts >= max {
			sn.State = store.SnapshotFailed
			return sn, "failed"
		}
		sn.NextAt = now.Add(after)
		return sn, result
	}
	backoff := min(10*time.Second<<min(sn.Attempts-1, 10), maxSnapshotDelay)

	rctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, ProbeURL(c.ExporterURL, sn), nil)
	if err != nil {
		sn.State, sn.LastError = store.SnapshotFailed, err.Error()
		return sn, "failed"
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return retry(backoff, 0, err.Error(), false)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(c.MaxBytes)+1))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return retry(retryAfter(resp.Header.Get("Retry-After")), resp.StatusCode, "exporter: too many debug probes (429)", true)
	case resp.StatusCode >= 500:
		return retry(backoff, resp.StatusCode, fmt.Sprintf("exporter: HTTP %d: %s", resp.StatusCode, excerpt(body)), false)
	case resp.StatusCode != http.StatusOK:
		sn.State, sn.Status = store.SnapshotFailed, resp.StatusCode
		sn.LastError = fmt.Sprintf("exporter: HTTP %d: %s", resp.StatusCode, excerpt(body))
		return sn, "failed"
	case err != nil && !errors.Is(err, io.EOF):
		return retry(backoff, resp.StatusCode, "reading the answer: "+err.Error(), false)
	}
	sn.State, sn.Status, sn.TakenAt, sn.LastError, sn.NextAt = store.SnapshotTaken, resp.StatusCode, now, "", time.Time{}
	if len(body) > c.MaxBytes {
		body = body[:c.MaxBytes]
		// Cut on a rune boundary: drop the start of a rune the limit split (at most 3 bytes).
		for i := 0; i < 3 && len(body) > 0 && !utf8.FullRune(body[lastRuneStart(body):]); i++ {
			body = body[:lastRuneStart(body)]
		}
		sn.Truncated = true
	}
	sn.Body = strings.ToValidUTF8(string(body), "\uFFFD")
	if sn.Truncated {
		return sn, "truncated"
	}
	return sn, "taken"
}

// retryAfter reads a Retry-After of seconds (1 s … 5 min; 5 s when absent or unreadable).
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return 5 * time.Second
	}
	return min(time.Duration(n)*time.Second, maxRetryAfter)
}

// excerpt is the start of an error answer, for the task page and the log.
func excerpt(b []byte) string {
	s := strings.ToValidUTF8(strings.TrimSpace(string(b[:min(len(b), 200)])), "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// Run takes snapshots every interval until ctx ends.
func (s *Snapshotter) Run(ctx context.Context, every time.Duration) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		if _, err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Warn("evidence snapshots", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}

func lastRuneStart(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return len(b) - 1
}
