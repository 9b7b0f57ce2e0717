// Package probe is the /probe handler: the blackbox_exporter pattern for miners. The deadline
// comes from Prometheus's scrape timeout minus an offset; concurrency is bounded per target and
// globally (in that order: a probe queued behind a slow miner holds no global slot); concurrent
// probes of the same target and module share one set of API requests, each caller waiting only
// as long as its own deadline allows and never taking a timeout that a shorter deadline caused.
package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"golang.org/x/time/rate"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/collector"
	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// Options shape a Handler.
type Options struct {
	// MaxConcurrent bounds probes talking to miners at once (0: 1024).
	MaxConcurrent int
	// PerTarget bounds concurrent probes of one miner (0: 1): a miner's API is single-threaded.
	PerTarget int
	// TimeoutOffset is taken off Prometheus's scrape timeout so the answer arrives in time.
	TimeoutOffset time.Duration
	// DebugRate and DebugBurst limit debug=true probes, all clients together: they echo replies
	// and share no probe in flight with Prometheus's (0: 1 per second, burst 5). A negative
	// DebugRate turns debug probes off.
	DebugRate  float64
	DebugBurst int
}

// Bounds on a /probe request.
const (
	// MaxQueryBytes bounds the query string (414 beyond it).
	MaxQueryBytes = 2048
	// MaxTargetLen is the longest target: a 253-byte host name, brackets, colon and port.
	MaxTargetLen = 253 + len("[]:65535")
	// minTimeout is the shortest probe deadline, whatever the scrape timeout says.
	minTimeout = 100 * time.Millisecond
	// writeSlack is how long after its deadline a probe's response may still be being written.
	writeSlack = 30 * time.Second
	// timeoutHeader is how Prometheus says its scrape timeout.
	timeoutHeader = "X-Prometheus-Scrape-Timeout-Seconds"
)

// Handler serves /probe.
type Handler struct {
	cfg    func() *config.Config
	prober *Prober
	logger *slog.Logger
	opts   Options

	sem        chan struct{}
	targets    keyedSem
	flights    flightGroup
	debugLimit *rate.Limiter // nil: debug probes are off

	probes       *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	debugLimited prometheus.Counter
}

// New builds a Handler that reads miners with prober; its self-metrics are registered on reg.
func New(cfg func() *config.Config, prober *Prober, logger *slog.Logger, reg prometheus.Registerer, o Options) *Handler {
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 1024
	}
	if o.PerTarget <= 0 {
		o.PerTarget = 1
	}
	if o.DebugRate == 0 {
		o.DebugRate = 1
	}
	if o.DebugBurst <= 0 {
		o.DebugBurst = 5
	}
	h := &Handler{
		cfg: cfg, prober: prober, logger: logger, opts: o,
		sem:     make(chan struct{}, o.MaxConcurrent),
		targets: keyedSem{limit: o.PerTarget, m: map[string]*semEntry{}},
		flights: flightGroup{m: map[string]*flight{}},
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cgminer_exporter_probes_total",
			Help: "Probes by module and result (success or the failure reason).",
		}, []string{"module", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cgminer_exporter_probe_duration_seconds",
			Help:    "Duration of probes.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20},
		}, []string{"module"}),
		debugLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cgminer_exporter_debug_probes_limited_total",
			Help: "Debug probes refused with 429 by --probe.debug-rate.",
		}),
	}
	if o.DebugRate > 0 {
		h.debugLimit = rate.NewLimiter(rate.Limit(o.DebugRate), o.DebugBurst)
	}
	if reg != nil {
		reg.MustRegister(h.probes, h.duration, h.debugLimited)
	}
	return h
}

// BadRequest is a probe request that can never succeed (HTTP 400).
type BadRequest struct{ msg string }

func (e *BadRequest) Error() string { return e.msg }

func badRequest(format string, a ...any) error { return &BadRequest{fmt.Sprintf(format, a...)} }

// Target checks a target parameter against the config and returns the address to dial. The
// target is an IP literal (a host name only with allow_hostnames: then every address it resolves
// to must be allowed, and the first is dialled, so a later DNS answer cannot point the probe
// elsewhere), in allowed_targets, on mod's port or one that allowed_ports lists.
func Target(ctx context.Context, cfg *config.Config, mod *config.Module, target string) (dial string, err error) {
	switch {
	case target == "":
		return "", badRequest("target parameter is missing")
	case len(target) > MaxTargetLen:
		return "", badRequest("target is longer than %d bytes", MaxTargetLen)
	}
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		host, portStr = strings.TrimSuffix(strings.TrimPrefix(target, "["), "]"), strconv.Itoa(mod.Port)
	}
	p, err := strconv.Atoi(portStr)
	if err != nil || p < 1 || p > 65535 {
		return "", badRequest("target %q: bad port", target)
	}
	if !cfg.PortAllowed(mod, p) {
		return "", badRequest("target %q: port %d is not allowed (the module probes port %d; allowed_ports lists any others)", target, p, mod.Port)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		if !cfg.AllowHostnames {
			return "", badRequest("target %q is not an IP address (names are resolved only with allow_hostnames: true)", target)
		}
		if !hostname(host) {
			return "", badRequest("target %q: not a host name", target)
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		addrs, err = net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return "", badRequest("target %q: cannot resolve: %v", target, err)
		}
	}
	for _, a := range addrs {
		if a.Zone() != "" || !cfg.Allowed(a) {
			return "", badRequest("target %q (%s) is outside allowed_targets", target, a)
		}
	}
	return net.JoinHostPort(addrs[0].Unmap().String(), strconv.Itoa(p)), nil
}

// hostname reports whether s is a DNS host name: dot-separated labels of letters, digits and
// inner hyphens, 63 bytes each, 253 in all.
func hostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// scrapeTimeout is a probe's time budget: the module's timeout, or Prometheus's scrape timeout
// (header) less offset when that is shorter; never under minTimeout. A header that is not a
// short, positive, finite number of seconds is ignored (the module's timeout holds).
func scrapeTimeout(header string, module, offset time.Duration) time.Duration {
	timeout := module
	if header != "" && len(header) <= 32 {
		// Compared in seconds before any conversion, so no value can overflow a Duration.
		secs, err := strconv.ParseFloat(header, 64)
		if err == nil && secs > 0 && !math.IsInf(secs, 0) && secs < (module+offset).Seconds() {
			timeout = time.Duration(secs*float64(time.Second)) - offset
		}
	}
	return max(timeout, minTimeout)
}

// ServeHTTP handles GET /probe?target=…&module=…[&debug=true].
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cfg := h.cfg()
	if len(r.URL.RawQuery) > MaxQueryBytes {
		http.Error(w, fmt.Sprintf("query string longer than %d bytes", MaxQueryBytes), http.StatusRequestURITooLong)
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		http.Error(w, fmt.Sprintf("bad query string: %v", err), http.StatusBadRequest)
		return
	}
	for _, k := range []string{"target", "module", "debug"} {
		if n := len(q[k]); n > 1 {
			http.Error(w, fmt.Sprintf("parameter %q given %d times", k, n), http.StatusBadRequest)
			return
		}
	}
	modName := q.Get("module")
	if modName == "" {
		modName = config.DefaultModule
	}
	mod, ok := cfg.Modules[modName]
	if !ok {
		http.Error(w, fmt.Sprintf("unknown module %q", modName), http.StatusBadRequest)
		return
	}
	debug := q.Get("debug") == "true"
	if debug {
		// Before the target is looked at: a name may cost a DNS query.
		if h.debugLimit == nil {
			http.Error(w, "debug probes are turned off (--probe.debug-rate=0)", http.StatusForbidden)
			return
		}
		if !h.debugLimit.Allow() {
			h.debugLimited.Inc()
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many debug probes; try again in a second", http.StatusTooManyRequests)
			return
		}
	}
	addr, err := Target(r.Context(), cfg, mod, q.Get("target"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	timeout := scrapeTimeout(r.Header.Get(timeoutHeader), mod.Timeout, h.opts.TimeoutOffset)
	// The answer is due by the deadline: a client that reads it slower loses the connection
	// instead of holding it (the server's own WriteTimeout covers the longest module timeout).
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout + writeSlack))
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	out := h.probe(ctx, cfg, addr, modName, mod, debug)
	h.record(modName, out, start)
	if debug {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		writeDebug(w, addr, modName, out)
		return
	}
	// The text format written directly: what a per-request registry would give (a test holds
	// them equal), at a fraction of the cost. Not compressed: a probe's ~8 KB on the farm's LAN
	// costs less than gzip's CPU at tens of thousands of probes a minute.
	// Rendered whole into a reused buffer and sent with its length in one write, not chunked.
	buf := collector.TextBuffer()
	*buf = out.Probe.AppendText((*buf)[:0])
	hdr := w.Header()
	hdr["Content-Type"] = textContentType
	hdr["Content-Length"] = []string{strconv.Itoa(len(*buf))}
	if _, err := w.Write(*buf); err != nil {
		h.logger.Debug("writing probe response", "target", addr, "err", err)
	}
	collector.PutText(buf)
}

// textContentType is the probe response's Content-Type header value (never modified).
var textContentType = []string{string(expfmt.NewFormat(expfmt.TypeTextPlain))}

// probe runs a probe under ctx's deadline, or shares the one in flight for the same miner and
// module (debug probes share only with each other: they keep the raw replies and their log).
// The caller waits no longer than its own deadline; when the shared run failed for want of time
// under a deadline shorter than the caller's, the caller runs again with its own.
func (h *Handler) probe(ctx context.Context, cfg *config.Config, addr, modName string, mod *config.Module, debug bool) *Outcome {
	start := time.Now()
	key := addr + "|" + modName
	if debug {
		key += "|debug"
	}
	run := func(ctx context.Context) *Outcome {
		if !debug {
			return h.run(ctx, cfg, addr, modName, mod, h.logger, false)
		}
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		out := h.run(ctx, cfg, addr, modName, mod, logger, true)
		out.Log = buf.String()
		return out
	}
	deadline, _ := ctx.Deadline()
	out, led, err := h.flights.do(ctx, key, false, run)
	if err == nil && out.deadlineHit && led.Before(deadline) && time.Until(deadline) >= minTimeout {
		h.logger.Debug("the shared probe ran out of a shorter deadline; probing again", "target", addr, "module", modName,
			"its_deadline", led.Format(time.RFC3339Nano), "ours", deadline.Format(time.RFC3339Nano))
		out, _, err = h.flights.do(ctx, key, true, run)
	}
	if err != nil {
		p := &collector.Probe{Commands: map[string]bool{}, Reason: string(cgminer.ReasonTimeout), Duration: time.Since(start).Seconds()}
		return &Outcome{Probe: p, Log: "The deadline passed while waiting for the probe of this miner in flight.\n"}
	}
	return out
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
	Probe *collector.Probe
	// Answer is what the Prober read (nil when the probe never reached the miner).
	Answer *Answer
	// Log is a debug probe's log.
	Log string
	// deadlineHit: the run ran out of time somewhere (waiting for a slot, or a miner's reply),
	// so a caller with a later deadline may learn more by running again.
	deadlineHit bool
}

// run probes one miner through the Prober: the protocol, port and family the inventory knows,
// else the module's order (see Prober.Plan), identifying the family when it is not known yet.
func (h *Handler) run(ctx context.Context, cfg *config.Config, addr, modName string, mod *config.Module, logger *slog.Logger, debug bool) *Outcome {
	start := time.Now()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, mod.Timeout)
		defer cancel()
	}
	p := &collector.Probe{Commands: map[string]bool{}}
	out := &Outcome{Probe: p}
	timedOut := func(err error) *Outcome {
		p.Reason = string(cgminer.ReasonTimeout)
		p.Duration = time.Since(start).Seconds()
		out.deadlineHit = true
		logger.Debug("probe not run", "target", addr, "module", modName, "reason", p.Reason, "err", err)
		return out
	}
	// The miner first, then a global slot: a probe queued behind a slow miner's other probe
	// must not hold a slot that probes of other miners need.
	release, err := h.targets.acquire(ctx, addr)
	if err != nil {
		return timedOut(errors.New("waiting for the miner's other probe"))
	}
	defer release()
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-ctx.Done():
		return timedOut(errors.New("waiting for a free probe slot"))
	}

	ans := h.prober.Read(ctx, cfg, addr, mod, Query{Mode: Full, Module: mod, ModuleName: modName, KeepRaw: debug, Logger: logger})
	out.Answer = ans
	rd := ans.Reading
	out.deadlineHit = ctx.Err() != nil || timedOutExchange(ans)
	p.Commands = rd.Commands
	if rd.Err != nil {
		reason := rd.Reason()
		p.Reason = string(reason)
		p.Duration = time.Since(start).Seconds()
		if reason.ConnectionLevel() {
			logger.Debug("miner not reachable", "target", addr, "module", modName, "protocol", ans.Protocol, "reason", reason, "err", rd.Err)
		} else {
			logger.Warn("miner gave no usable reply", "target", addr, "module", modName, "protocol", ans.Protocol, "reason", reason, "err", rd.Err)
		}
		return out
	}
	snap := rd.Snapshot
	if len(snap.Truncated) > 0 {
		logger.Warn("miner reply exceeded the module's limits", "target", addr, "module", modName, "truncated", snap.Truncated, "dropped", snap.Dropped)
	}
	mod.Expectations().Apply(snap)
	p.Up = true
	p.Snapshot = snap
	p.Duration = time.Since(start).Seconds()
	return out
}

func timedOutExchange(ans *Answer) bool {
	for _, at := range ans.Attempts {
		for _, ex := range at.Reading.Exchanges {
			if cgminer.ReasonOf(ex.Err) == cgminer.ReasonTimeout {
				return true
			}
		}
	}
	return false
}

// writeDebug writes the probe's log, the raw exchanges and the metrics as plain text. A reply
// that is not cgminer API (another service on the port) is shown by its length only.
func writeDebug(w http.ResponseWriter, addr, module string, out *Outcome) {
	fmt.Fprintf(w, "Probe of %s with module %s\n", addr, module)
	if a := out.Answer; a != nil {
		for _, at := range a.Attempts {
			result := "answered"
			if !at.Reading.Answered {
				result = string(at.Reading.Reason())
			}
			fmt.Fprintf(w, "Protocol %s at %s: %s\n", at.Protocol, at.Addr, result)
		}
		if wr := a.Web; wr != nil {
			writeWebDebug(w, wr)
		}
		if a.Known {
			fmt.Fprintf(w, "The inventory knew this miner: it was asked what answered before.\n")
		}
		if f := a.Reading.Family; f != nil {
			fmt.Fprintf(w, "Firmware family: %s\n", f.Name)
		} else if s := a.Reading.Snapshot; s != nil && s.Family != "" {
			fmt.Fprintf(w, "Firmware family: %s\n", s.Family)
		}
	}
	fmt.Fprintf(w, "\nLogs for the probe:\n%s\n", out.Log)
	if out.Answer != nil {
		for i, ex := range out.Answer.Exchanges() {
			fmt.Fprintf(w, "Exchange %d: request %q, %d bytes in %s", i+1, ex.Request, ex.Bytes, ex.Duration.Round(time.Microsecond))
			if ex.Err != nil {
				fmt.Fprintf(w, ", error: %v", ex.Err)
			}
			switch {
			case ex.Raw != nil:
				fmt.Fprintf(w, "\n%s\n\n", strings.ToValidUTF8(string(ex.Raw), "\uFFFD"))
			case ex.Bytes > 0 && !ex.API:
				fmt.Fprintf(w, "\n(%d bytes that are not cgminer API: not shown)\n\n", ex.Bytes)
			default:
				fmt.Fprintf(w, "\n\n")
			}
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

// writeWebDebug says what the web step did: not asked and why, answered, or why not; and each
// endpoint that failed. No error holds a secret (webapi's errors name paths and statuses only).
func writeWebDebug(w io.Writer, wr *WebReading) {
	switch {
	case wr.Result == nil && wr.Err == nil:
		fmt.Fprintf(w, "Web API: not asked (%s)\n", wr.Skipped)
		return
	case wr.Result == nil:
		fmt.Fprintf(w, "Web API %s at %s: %s (%v)\n", wr.API, wr.Addr, wr.Reason(), wr.Err)
		return
	case wr.Err != nil:
		fmt.Fprintf(w, "Web API %s at %s: %s (the probe's answer stands)\n", wr.API, wr.Addr, wr.Reason())
	default:
		fmt.Fprintf(w, "Web API %s at %s: answered\n", wr.API, wr.Addr)
	}
	names := make([]string, 0, len(wr.Result.Errors))
	for n := range wr.Result.Errors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  web:%s: %v\n", n, wr.Result.Errors[n])
	}
}

func describe(s *miner.Snapshot) string {
	return fmt.Sprintf("%+v", *s)
}
