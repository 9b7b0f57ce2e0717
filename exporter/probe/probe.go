// Package probe is the /probe handler: the blackbox_exporter pattern for miners. Each request
// gets its own registry; the deadline comes from Prometheus's scrape timeout minus an offset;
// concurrency is bounded globally and per target; concurrent probes of the same target and
// module share one set of API requests.
package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/collector"
	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// Querier asks a miner commands; *cgminer.Client is the real one.
type Querier interface {
	QueryAll(ctx context.Context, addr string, cmds []cgminer.Command, o cgminer.Options) *cgminer.Result
}

// Options shape a Handler.
type Options struct {
	// MaxConcurrent bounds probes talking to miners at once (0: 1024).
	MaxConcurrent int
	// PerTarget bounds concurrent probes of one miner (0: 1): a miner's API is single-threaded.
	PerTarget int
	// TimeoutOffset is taken off Prometheus's scrape timeout so the answer arrives in time.
	TimeoutOffset time.Duration
	// FamilyTTL is how long a miner's detected firmware family is remembered (0: 1h).
	FamilyTTL time.Duration
}

// Handler serves /probe.
type Handler struct {
	cfg    func() *config.Config
	client Querier
	logger *slog.Logger
	opts   Options

	sem      chan struct{}
	targets  keyedSem
	flights  flightGroup
	families familyCache

	probes   *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New builds a Handler; its self-metrics are registered on reg.
func New(cfg func() *config.Config, client Querier, logger *slog.Logger, reg prometheus.Registerer, o Options) *Handler {
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 1024
	}
	if o.PerTarget <= 0 {
		o.PerTarget = 1
	}
	if o.FamilyTTL <= 0 {
		o.FamilyTTL = time.Hour
	}
	h := &Handler{
		cfg: cfg, client: client, logger: logger, opts: o,
		sem:     make(chan struct{}, o.MaxConcurrent),
		targets: keyedSem{limit: o.PerTarget, m: map[string]*semEntry{}},
		flights: flightGroup{m: map[string]*flight{}},
		families: familyCache{
			ttl: o.FamilyTTL, m: map[string]familyEntry{},
		},
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cgminer_exporter_probes_total",
			Help: "Probes by module and result (success or the failure reason).",
		}, []string{"module", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cgminer_exporter_probe_duration_seconds",
			Help:    "Duration of probes.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20},
		}, []string{"module"}),
	}
	if reg != nil {
		reg.MustRegister(h.probes, h.duration)
	}
	return h
}

// BadRequest is a probe request that can never succeed (HTTP 400).
type BadRequest struct{ msg string }

func (e *BadRequest) Error() string { return e.msg }

func badRequest(format string, a ...any) error { return &BadRequest{fmt.Sprintf(format, a...)} }

// Target resolves a target parameter against the config: the address to dial, the instance
// name, and whether it is allowed. Hostnames are resolved and every address must be allowed;
// the first is dialled, so a later DNS answer cannot point the probe elsewhere.
func Target(ctx context.Context, cfg *config.Config, target string, port int) (dial string, err error) {
	if target == "" {
		return "", badRequest("target parameter is missing")
	}
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		host, portStr = strings.Trim(target, "[]"), strconv.Itoa(port)
	}
	p, err := strconv.Atoi(portStr)
	if err != nil || p < 1 || p > 65535 {
		return "", badRequest("target %q: bad port", target)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		if host == "" {
			return "", badRequest("target %q: no host", target)
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		addrs, err = net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return "", badRequest("target %q: cannot resolve: %v", target, err)
		}
	}
	for _, a := range addrs {
		if !cfg.Allowed(a) {
			return "", badRequest("target %q (%s) is outside allowed_targets", target, a)
		}
	}
	return net.JoinHostPort(addrs[0].Unmap().String(), strconv.Itoa(p)), nil
}

// ServeHTTP handles GET /probe?target=…&module=…[&debug=true].
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cfg := h.cfg()
	q := r.URL.Query()
	modName := q.Get("module")
	if modName == "" {
		modName = config.DefaultModule
	}
	mod, ok := cfg.Modules[modName]
	if !ok {
		http.Error(w, fmt.Sprintf("unknown module %q", modName), http.StatusBadRequest)
		return
	}
	addr, err := Target(r.Context(), cfg, q.Get("target"), mod.Port)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	timeout := mod.Timeout
	if v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs > 0 {
			if t := time.Duration(secs*float64(time.Second)) - h.opts.TimeoutOffset; t < timeout {
				timeout = t
			}
		}
	}
	if timeout < 100*time.Millisecond {
		timeout = 100 * time.Millisecond
	}
	debug := q.Get("debug") == "true"

	var out *Outcome
	if debug {
		var logBuf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		out = h.run(r.Context(), addr, modName, mod, timeout, logger, true)
		h.record(modName, out, start)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		writeDebug(w, addr, modName, out, logBuf.String())
		return
	}
	// Concurrent probes of one miner with one module share a single set of requests: the leader
	// runs under its own deadline, detached from any one client's cancellation.
	out = h.flights.do(addr+"|"+modName, func() *Outcome {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), timeout)
		defer cancel()
		return h.run(ctx, addr, modName, mod, timeout, h.logger, false)
	})
	h.record(modName, out, start)
	// The text format written directly: what a per-request registry would give (a test holds
	// them equal), at a fraction of the cost. Not compressed: a probe's ~8 KB on the farm's LAN
	// costs less than gzip's CPU at tens of thousands of probes a minute.
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	if err := out.Probe.WriteText(w); err != nil {
		h.logger.Debug("writing probe response", "target", addr, "err", err)
	}
}

func (h *Handler) record(module string, out *Outcome, start time.Time) {
	result := "success"
	if !out.Probe.Up {
		result = out.Probe.Reason
		if result == "" {
			result = "unknown"
		}
	}
	h.probes.WithLabelValues(module, result).Inc()
	h.duration.WithLabelValues(module).Observe(time.Since(start).Seconds())
}

// Outcome is one probe's result.
type Outcome struct {
	Probe  *collector.Probe
	Result *cgminer.Result
	Family *dialect.Family
}

// run probes one miner: the module's commands, or the family's, identifying the family first
// when it is not known yet.
func (h *Handler) run(ctx context.Context, addr, modName string, mod *config.Module, timeout time.Duration, logger *slog.Logger, debug bool) *Outcome {
	start := time.Now()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	p := &collector.Probe{Commands: map[string]bool{}}
	out := &Outcome{Probe: p}
	fail := func(reason cgminer.Reason, err error) *Outcome {
		p.Reason = string(reason)
		p.Duration = time.Since(start).Seconds()
		logger.Debug("probe not run", "target", addr, "module", modName, "reason", reason, "err", err)
		return out
	}
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-ctx.Done():
		return fail(cgminer.ReasonTimeout, errors.New("waiting for a free probe slot"))
	}
	release, err := h.targets.acquire(ctx, addr)
	if err != nil {
		return fail(cgminer.ReasonTimeout, errors.New("waiting for the miner's other probe"))
	}
	defer release()

	fam := mod.Family()
	cached := false
	if fam == nil {
		fam, cached = h.families.get(addr)
	}
	cmds := mod.Commands
	if len(cmds) == 0 {
		if fam != nil {
			cmds = fam.Commands()
		} else {
			cmds = dialect.Base
		}
	}
	o := cgminer.Options{Join: mod.JoinCommands(), KeepRaw: debug}
	res := h.client.QueryAll(ctx, addr, cmds, o)
	if res.Err() == nil && len(mod.Commands) == 0 && mod.Family() == nil {
		found := dialect.Identify(res)
		if fam != found {
			if extra := missing(found.Commands(), cmds); len(extra) > 0 && ctx.Err() == nil {
				more := h.client.QueryAll(ctx, addr, extra, o)
				merge(res, more)
			}
			fam = found
		}
		if !cached || fam != found {
			h.families.put(addr, fam)
		}
	}
	out.Result = res
	out.Family = fam
	for _, c := range cmds {
		p.Commands[c.String()] = false
	}
	for name, rep := range res.Replies {
		p.Commands[name] = rep.OK()
	}
	if err := res.Err(); err != nil {
		reason := cgminer.ReasonOf(err)
		p.Reason = string(reason)
		p.Duration = time.Since(start).Seconds()
		if reason.ConnectionLevel() {
			logger.Debug("miner not reachable", "target", addr, "module", modName, "reason", reason, "err", err)
		} else {
			logger.Warn("miner gave no usable reply", "target", addr, "module", modName, "reason", reason, "err", err)
		}
		return out
	}
	for name, e := range res.Errors {
		logger.Debug("command failed", "target", addr, "command", name, "err", e)
	}
	for _, rep := range res.Replies {
		if rep.Repairs != 0 {
			logger.Debug("repaired malformed reply", "target", addr, "command", rep.Command, "repairs", rep.Repairs.String())
		}
	}
	snap := dialect.Read(res, fam)
	mod.Expectations().Apply(&snap)
	p.Up = true
	p.Snapshot = &snap
	p.Duration = time.Since(start).Seconds()
	return out
}

func missing(want, have []cgminer.Command) []cgminer.Command {
	var out []cgminer.Command
	for _, c := range want {
		found := false
		for _, h := range have {
			if h == c {
				found = true
				break
			}
		}
		if !found {
			out = append(out, c)
		}
	}
	return out
}

func merge(dst, src *cgminer.Result) {
	for k, v := range src.Replies {
		dst.Replies[k] = v
	}
	for k, v := range src.Errors {
		dst.Errors[k] = v
	}
	dst.Exchanges = append(dst.Exchanges, src.Exchanges...)
}

// writeDebug writes the probe's log, the raw exchanges and the metrics as plain text.
func writeDebug(w http.ResponseWriter, addr, module string, out *Outcome, log string) {
	fmt.Fprintf(w, "Probe of %s with module %s\n", addr, module)
	if out.Family != nil {
		fmt.Fprintf(w, "Firmware family: %s\n", out.Family.Name)
	}
	fmt.Fprintf(w, "\nLogs for the probe:\n%s\n", log)
	if out.Result != nil {
		for i, ex := range out.Result.Exchanges {
			fmt.Fprintf(w, "Exchange %d: request %q, %d bytes in %s", i+1, ex.Request, ex.Bytes, ex.Duration.Round(time.Microsecond))
			if ex.Err != nil {
				fmt.Fprintf(w, ", error: %v", ex.Err)
			}
			fmt.Fprintf(w, "\n%s\n\n", strings.ToValidUTF8(string(ex.Raw), "\uFFFD"))
		}
	}
	fmt.Fprintf(w, "Metrics that would have been returned:\n")
	reg := prometheus.NewRegistry()
	reg.MustRegister(out.Probe)
	mfs, err := reg.Gather()
	if err != nil {
		fmt.Fprintf(w, "error gathering metrics: %v\n", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		_ = enc.Encode(mf)
	}
	if out.Probe.Snapshot != nil {
		fmt.Fprintf(w, "\nSnapshot:\n%s\n", describe(out.Probe.Snapshot))
	}
}

func describe(s *miner.Snapshot) string {
	return fmt.Sprintf("%+v", *s)
}
