package repair

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// Metrics are the receiver's counters and histograms (names: docs/contract-additions.md).
type Metrics struct {
	Created       prometheus.Counter
	Reopened      *prometheus.CounterVec
	Verifications *prometheus.CounterVec
	Escalated     prometheus.Counter
	// Escalations counts the ladder's steps climbed, by step (2 = the first escalation) and reason
	// (unacknowledged, no_progress, undeliverable).
	Escalations  *prometheus.CounterVec
	TimeToAck    prometheus.Histogram
	TimeToRepair prometheus.Histogram
	StoreErrors  *prometheus.CounterVec
	Watchdog     prometheus.Gauge
	// CommitFailures and LastCommit follow the store's write transactions (readiness, the
	// RepairReceiverStoreFailing alert).
	CommitFailures prometheus.Counter
	LastCommit     prometheus.Gauge
	EarlyResolves  *prometheus.CounterVec

	undeliverable prometheus.Collector // repair_receiver_notifications_undeliverable, read from the store
}

// NewMetrics registers the metrics, and a collector of tasks by state and site read from the store
// at scrape time.
func NewMetrics(reg prometheus.Registerer, st store.Store, logger *slog.Logger) *Metrics {
	buckets := []float64{60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600}
	m := &Metrics{
		Created: prometheus.NewCounter(prometheus.CounterOpts{Name: "repair_receiver_tasks_created_total",
			Help: "Repair tasks created."}),
		Reopened: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_tasks_reopened_total",
			Help: "Tasks reopened, by reason (recurred, verification_failed)."}, []string{"reason"}),
		Verifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_verifications_total",
			Help: "Repair verifications, by result (confirmed, failed, error, no_evidence, unconfirmed)."}, []string{"result"}),
		Escalated: prometheus.NewCounter(prometheus.CounterOpts{Name: "repair_receiver_tasks_escalated_total",
			Help: "Escalations of tasks nobody acknowledged."}),
		Escalations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_escalations_total",
			Help: "Escalation ladder steps climbed, by step (1 = the assignee's, 2 = the first escalation) and reason (unacknowledged, no_progress, undeliverable)."},
			[]string{"step", "reason"}),
		TimeToAck: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "repair_receiver_time_to_acknowledge_seconds",
			Help: "From a task (re)opening to its acknowledgement.", Buckets: buckets}),
		TimeToRepair: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "repair_receiver_time_to_repair_seconds",
			Help: "From a task's creation to done.", Buckets: buckets}),
		StoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_store_errors_total",
			Help: "Store operations that failed, by operation."}, []string{"op"}),
		Watchdog: prometheus.NewGauge(prometheus.GaugeOpts{Name: "repair_receiver_watchdog_last_seen_timestamp_seconds",
			Help: "When the Watchdog alert last arrived (unix seconds; 0 = never)."}),
		CommitFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "repair_receiver_store_commit_failures_total",
			Help: "Write transactions the store did not commit (disk full, database locked, read-only, connection lost)."}),
		LastCommit: prometheus.NewGauge(prometheus.GaugeOpts{Name: "repair_receiver_store_last_commit_success_timestamp_seconds",
			Help: "When a write transaction last committed (unix seconds; 0 = not since the start)."}),
		EarlyResolves: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_early_resolves_total",
			Help: "Resolved notifications that came before their firing copy: stored (remembered for windows.out_of_order), matched (a late firing copy made no task)."},
			[]string{"result"}),
	}
	for _, r := range []string{task.ReasonRecurred, task.ReasonVerificationFailed} {
		m.Reopened.WithLabelValues(r)
	}
	for _, r := range []string{"confirmed", "failed", "error", "no_evidence", "unconfirmed"} {
		m.Verifications.WithLabelValues(r)
	}
	for _, r := range []string{"stored", "matched"} {
		m.EarlyResolves.WithLabelValues(r)
	}
	for _, r := range []string{task.EscalateUnacknowledged, task.EscalateNoProgress, task.EscalateUndeliverable} {
		m.Escalations.WithLabelValues("2", r)
	}
	m.undeliverable = &undeliverableCollector{st: st, logger: logger, errs: m.StoreErrors}
	reg.MustRegister(m.undeliverable)
	reg.MustRegister(m.Created, m.Reopened, m.Verifications, m.Escalated, m.Escalations, m.TimeToAck, m.TimeToRepair, m.StoreErrors,
		&watchdogCollector{g: m.Watchdog, st: st, logger: logger, errs: m.StoreErrors}, m.CommitFailures, m.LastCommit, m.EarlyResolves, &taskCollector{st: st, logger: logger, errs: m.StoreErrors})
	return m
}

func (m *Metrics) observe(c task.Change) {
	if c.Created {
		m.Created.Inc()
	}
	if c.Reopened != "" {
		m.Reopened.WithLabelValues(c.Reopened).Inc()
	}
	if c.Verification != "" {
		m.Verifications.WithLabelValues(c.Verification).Inc()
	}
	if c.Escalated {
		m.Escalated.Inc()
		m.Escalations.WithLabelValues(stepLabel(c.EscalationStep), c.EscalationReason).Inc()
	}
	if c.AckLatency > 0 {
		m.TimeToAck.Observe(c.AckLatency.Seconds())
	}
	if c.RepairTime > 0 {
		m.TimeToRepair.Observe(c.RepairTime.Seconds())
	}
}

var tasksDesc = prometheus.NewDesc("repair_receiver_tasks", "Tasks by state and site.", []string{"state", "site"}, nil)

type taskCollector struct {
	st     store.Store
	logger *slog.Logger
	errs   *prometheus.CounterVec
}

func (c *taskCollector) Describe(ch chan<- *prometheus.Desc) { ch <- tasksDesc }

func (c *taskCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.st.Counts(ctx)
	if err != nil {
		c.errs.WithLabelValues("counts").Inc()
		c.logger.Error("cannot count tasks", "err", err)
		ch <- prometheus.NewInvalidMetric(tasksDesc, err)
		return
	}
	// Every state of every site that has tasks, zeros included, so that a state emptying shows as 0
	// rather than a series that disappears.
	type key struct {
		state task.State
		site  string
	}
	values := map[key]int{}
	for _, n := range counts {
		for _, st := range task.States {
			values[key{st, n.Site}] += 0
		}
		values[key{n.State, n.Site}] += n.N
	}
	for k, v := range values {
		ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(v), string(k.state), k.site)
	}
}

var undeliverableDesc = prometheus.NewDesc("repair_receiver_notifications_undeliverable",
	"Notification deliveries given up (failed for good, or nobody to send them to) of tasks that are not closed, by channel (none: no contact for any channel of the step).",
	[]string{"channel"}, nil)

// undeliverableCollector reads the given-up deliveries of open tasks from the store at scrape
// time: every channel shows, 0 included, so that a channel healing shows as 0.
type undeliverableCollector struct {
	st     store.Store
	logger *slog.Logger
	errs   *prometheus.CounterVec
}

func (c *undeliverableCollector) Describe(ch chan<- *prometheus.Desc) { ch <- undeliverableDesc }

func (c *undeliverableCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	byCh, err := c.st.UndeliverableByChannel(ctx)
	if err != nil {
		c.errs.WithLabelValues("counts").Inc()
		c.logger.Error("cannot count undeliverable notifications", "err", err)
		ch <- prometheus.NewInvalidMetric(undeliverableDesc, err)
		return
	}
	for _, name := range append(append([]string{}, config.Channels...), config.ChannelLog, ChannelNone) {
		byCh[name] += 0
	}
	for name, n := range byCh {
		if name == "" {
			name = "default"
		}
		ch <- prometheus.MustNewConstMetric(undeliverableDesc, prometheus.GaugeValue, float64(n), name)
	}
}

// watchdogCollector exports the Watchdog's last arrival as the store holds it: replicas on one
// database each show when it last reached any of them (Alertmanager sends it to one), not only
// to themselves. When the store cannot be read the gauge keeps what this process saw.
type watchdogCollector struct {
	g      prometheus.Gauge
	st     store.Store
	logger *slog.Logger
	errs   *prometheus.CounterVec
}

func (c *watchdogCollector) Describe(ch chan<- *prometheus.Desc) { c.g.Describe(ch) }

func (c *watchdogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	at, err := c.st.Heartbeat(ctx, WatchdogHeartbeat)
	switch {
	case err != nil:
		c.errs.WithLabelValues("counts").Inc()
		c.logger.Error("cannot read when the Watchdog last arrived", "err", err)
	case !at.IsZero():
		c.g.Set(float64(at.Unix()))
	}
	c.g.Collect(ch)
}
