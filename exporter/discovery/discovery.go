// Package discovery finds miners by scanning the configured IP ranges and serves them to
// Prometheus as HTTP service discovery. What it learns about each miner goes into the inventory
// (exporter/inventory), the one memory of every miner that probes read and write too, persisted
// there so a restart does not forget miners that are offline at the time; discovery only lists
// the miners in /sd.
package discovery

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/inventory"
	"github.com/minefarm/cgminer-stack/exporter/probe"
)

// Prober reads miners: *probe.Prober, which discovery shares with the probe handler, so a scan
// identifies a miner exactly as a probe does and both keep what they learn in one inventory.
type Prober interface {
	Read(ctx context.Context, cfg *config.Config, target string, mod *config.Module, q probe.Query) *probe.Answer
}

// Entry is one miner /sd lists: the inventory's record of it. Its position labels (row, rack,
// slot, name, asset_tag) are not kept: /sd derives them from the config in force (rules and
// inventory file) each time it is encoded, so a reload moves offline miners too.
type Entry = inventory.Record

// Discoverer scans and serves /sd.
type Discoverer struct {
	cfg    func() *config.Config
	prober Prober
	inv    *inventory.Inventory
	logger *slog.Logger
	now    func() time.Time

	// gen counts changes to /sd that are not the inventory's (tests); sd is the encoding at
	// sdGen (gen plus the inventory's ListGen) under the config sdCfg.
	gen       atomic.Uint64
	sdMu      sync.Mutex
	sd        []byte
	sdGen     uint64
	sdCfg     *config.Config
	conflicts string // the MACs more than one miner reports, as last logged
	wake      chan struct{}
	mu        sync.Mutex
	lastScan  time.Time
	scanMu    sync.Mutex
	scanned   prometheus.Counter
	found     prometheus.Counter
	miners    *prometheus.GaugeVec
	duration  prometheus.Gauge
	completed prometheus.Gauge
}

// New builds a Discoverer that reads miners with prober and keeps them in inv (the prober's).
func New(cfg func() *config.Config, prober Prober, inv *inventory.Inventory, logger *slog.Logger, reg prometheus.Registerer) *Discoverer {
	d := &Discoverer{
		cfg: cfg, prober: prober, inv: inv, logger: logger, now: time.Now,
		wake: make(chan struct{}, 1),
		scanned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cgminer_discovery_addresses_scanned_total", Help: "Addresses sent an identify request.",
		}),
		found: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cgminer_discovery_answers_total", Help: "Addresses that answered as a miner.",
		}),
		miners: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cgminer_discovery_miners", Help: "Miners in the inventory by site, model and firmware, and whether they answered the last scan.",
		}, []string{"site", "model", "firmware", "answering"}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cgminer_discovery_scan_duration_seconds", Help: "Duration of the last complete scan.",
		}),
		completed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cgminer_discovery_last_scan_completed_timestamp_seconds", Help: "When the last complete scan ended.",
		}),
	}
	if reg != nil {
		reg.MustRegister(d.scanned, d.found, d.miners, d.duration, d.completed)
	}
	return d
}

// Reconfigure asks for a new scan (after a config reload).
func (d *Discoverer) Reconfigure() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run scans at the configured interval until ctx ends.
func (d *Discoverer) Run(ctx context.Context) {
	for {
		cfg := d.cfg()
		interval := time.Minute
		if cfg.Discovery != nil && len(cfg.Discovery.Sites) > 0 {
			interval = cfg.Discovery.Interval
			if err := d.Scan(ctx); err != nil && ctx.Err() == nil {
				d.logger.Error("scan failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-time.After(interval):
		}
	}
}

type job struct {
	addr netip.Addr
	site *config.Site
}

// Scan sends every address of every site the cheapest request of its module's protocols, paced
// by the rate limit (each new connection takes a token: an address's fallback to Whatsminer API
// v3 too) and bounded by the concurrency limit, identifies the miners that answered unless the
// inventory knows them already, and lists them.
func (d *Discoverer) Scan(ctx context.Context) error {
	d.scanMu.Lock()
	defer d.scanMu.Unlock()
	cfg := d.cfg()
	dc := cfg.Discovery
	if dc == nil {
		return nil
	}
	start := d.now()
	// One connection per 1/rate, no burst to catch up after a slow spell.
	pace := rate.NewLimiter(rate.Limit(dc.Rate), 1)
	jobs := make(chan job)
	var wg sync.WaitGroup
	for i := 0; i < dc.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				d.probe(ctx, cfg, pace, j)
			}
		}()
	}
	stopped := false
feed:
	for _, s := range dc.Sites {
		if !sitePortAllowed(cfg, s) { // validated already; checked again at the point of contact
			d.logger.Warn("not scanning a site on a port its modules do not allow", "site", s.Name, "port", s.Port)
			continue
		}
		for _, r := range s.Ranges {
			r.Each(func(a netip.Addr) bool {
				if !cfg.Allowed(a) { // validated already; checked again at the point of contact
					return true
				}
				if pace.Wait(ctx) != nil {
					stopped = true
					return false
				}
				select {
				case jobs <- job{addr: a, site: s}:
				case <-ctx.Done():
					stopped = true
					return false
				}
				return true
			})
			if stopped {
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if stopped {
		return ctx.Err()
	}
	d.forget(cfg)
	end := d.now()
	d.mu.Lock()
	d.lastScan = end
	d.mu.Unlock()
	d.duration.Set(end.Sub(start).Seconds())
	d.completed.Set(float64(end.UnixNano()) / 1e9)
	d.updateGauges()
	return nil
}

// sitePortAllowed reports whether every module a miner found at s may get allows s's port, so
// /probe accepts what /sd lists.
func sitePortAllowed(cfg *config.Config, s *config.Site) bool {
	for _, name := range config.SiteModules(cfg.Discovery, s) {
		if !cfg.PortAllowed(cfg.Modules[name], s.Port) {
			return false
		}
	}
	return true
}

// probe looks at one address: first the cheapest request of each protocol the site's module
// speaks, in the probe's order (Whatsminer API v3 only where the cgminer API was refused or
// something else answered, so an address where nothing answers costs one connection); then,
// for a miner that answered, the probe's own identification, unless the inventory identified
// it over the same protocol within the last interval (a miner Prometheus probes stays known,
// and costs a scan one exchange); then the listing.
func (d *Discoverer) probe(ctx context.Context, cfg *config.Config, pace *rate.Limiter, j job) {
	dc := cfg.Discovery
	addr := net.JoinHostPort(j.addr.String(), strconv.Itoa(j.site.Port))
	// The site's module: its protocols, ports and max_reply_bytes (probes use the same).
	modName := config.SiteModules(dc, j.site)[0]
	mod := cfg.Modules[modName]
	if mod == nil {
		return
	}
	d.scanned.Inc()
	now := d.now()
	before, _ := d.inv.Get(addr)
	q := probe.Query{Mode: probe.Ping, Module: mod, ModuleName: modName, Logger: d.logger, Pace: pace.Wait, AttemptTimeout: dc.Timeout, At: now}
	ping := d.prober.Read(ctx, cfg, addr, mod, q)
	if !ping.Reading.Answered {
		return // nothing there, or not a miner's API
	}
	d.found.Inc()
	// A protocol that changed (firmware upgraded to API v3 only, or back) identifies afresh.
	if rec, _ := d.inv.Get(addr); rec.Family == "" || before.Protocol != "" && before.Protocol != ping.Protocol || now.Sub(rec.Identified) >= dc.Interval {
		q.Mode, q.Pace, q.AttemptTimeout = probe.Identify, nil, 0
		cctx, cancel := context.WithTimeout(ctx, 2*dc.Timeout)
		d.prober.Read(cctx, cfg, addr, mod, q)
		cancel()
	}
	rec, ok := d.inv.Get(addr)
	if !ok { // the inventory is full of listed miners
		d.logger.Warn("inventory full: miner not listed", "address", addr, "site", j.site.Name)
		return
	}
	module := j.site.Module
	for _, mm := range dc.ModulesByModel {
		if mm.Model.MatchString(rec.Model) {
			module = mm.Module
			break
		}
	}
	if module == "" {
		module = config.DefaultModule
	}
	if !rec.Listed() {
		d.logger.Info("found miner", "address", addr, "site", j.site.Name, "protocol", rec.Protocol, "model", rec.Model, "firmware", rec.Firmware)
	}
	d.inv.List(addr, inventory.Listing{Site: j.site.Name, Module: module, Labels: j.site.Labels})
}

// forget stops listing miners gone longer than forget_after and addresses no longer in any
// site (the inventory keeps what it knows of them until its max age or its cap), and moves
// miners whose address now belongs to another site.
func (d *Discoverer) forget(cfg *config.Config) {
	now := d.now()
	for _, e := range d.inv.Listed() {
		site, _ := siteOf(cfg, e.Address)
		if site == nil || now.Sub(e.LastSeen) > cfg.Discovery.ForgetAfter {
			d.logger.Info("forgetting miner", "address", e.Address, "last_seen", e.LastSeen)
			d.inv.Unlist(e.Address)
			continue
		}
		if e.Site != site.Name {
			d.inv.List(e.Address, inventory.Listing{Site: site.Name, Module: e.Module, Labels: site.Labels})
		}
	}
}

// siteOf finds the site an inventory address belongs to in cfg, and its IP.
func siteOf(cfg *config.Config, address string) (*config.Site, netip.Addr) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || cfg.Discovery == nil || !cfg.Allowed(ap.Addr()) {
		return nil, netip.Addr{}
	}
	for _, s := range cfg.Discovery.Sites {
		if int(ap.Port()) == s.Port && s.Contains(ap.Addr()) {
			return s, ap.Addr()
		}
	}
	return nil, netip.Addr{}
}

func (d *Discoverer) updateGauges() {
	d.mu.Lock()
	last := d.lastScan
	d.mu.Unlock()
	d.miners.Reset()
	for _, e := range d.inv.Listed() {
		answering := "0"
		if !e.LastSeen.Before(last.Add(-d.cfg().Discovery.Interval)) {
			answering = "1"
		}
		d.miners.WithLabelValues(e.Site, e.Model, e.Firmware, answering).Inc()
	}
}

// Inventory returns the miners /sd lists, in address order.
func (d *Discoverer) Inventory() []Entry { return d.inv.Listed() }

// targetGroup is one entry of Prometheus's HTTP SD format.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// changed marks what /sd lists as changed.
func (d *Discoverer) changed() { d.gen.Add(1) }

// ServeHTTP serves the inventory in Prometheus's HTTP SD format: targets grouped by their label
// set, each with site, the position labels (row, rack, slot, name, asset_tag) where known, the
// site's labels and __param_module. Miners that stopped answering stay listed (so MinerOffline
// fires for them) until forget_after has passed. The encoding is kept until the listing or the
// config changes: polling /sd costs a copy, not a sort and an encode of the farm.
func (d *Discoverer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	gen, cfg := d.gen.Load()+d.inv.ListGen(), d.cfg()
	d.sdMu.Lock()
	if d.sd == nil || d.sdGen != gen || d.sdCfg != cfg {
		d.sd, d.sdGen, d.sdCfg = d.encodeSD(cfg), gen, cfg
	}
	body := d.sd
	d.sdMu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func (d *Discoverer) encodeSD(cfg *config.Config) []byte {
	inv := d.Inventory()
	// A MAC more than one miner reports (a cloned or spoofed one) places none of them: the
	// inventory's row for it could be any of theirs.
	macs := map[string]int{}
	for _, e := range inv {
		if e.MAC != "" {
			macs[e.MAC]++
		}
	}
	var conflicts []string
	for mac, n := range macs {
		if n > 1 {
			conflicts = append(conflicts, mac)
		}
	}
	if sort.Strings(conflicts); strings.Join(conflicts, " ") != d.conflicts {
		d.conflicts = strings.Join(conflicts, " ")
		if len(conflicts) > 0 {
			d.logger.Warn("several miners report the same MAC: the inventory's rows for it place none of them",
				"macs", len(conflicts), "first", conflicts[0])
		}
	}
	groups := map[string]*targetGroup{}
	var keys []string
	for _, e := range inv {
		labels := map[string]string{"site": e.Site, "__param_module": e.Module}
		siteLabels := e.Labels
		if s, addr := siteOf(cfg, e.Address); s != nil {
			mac := e.MAC
			if macs[mac] > 1 {
				mac = ""
			}
			for k, v := range cfg.Discovery.Locate(s, addr, mac).Labels() {
				labels[k] = v
			}
			labels["site"], siteLabels = s.Name, s.Labels
		}
		for k, v := range siteLabels {
			labels[k] = v
		}
		key := labelKey(labels)
		g, ok := groups[key]
		if !ok {
			g = &targetGroup{Labels: labels, Targets: []string{}}
			groups[key] = g
			keys = append(keys, key)
		}
		g.Targets = append(g.Targets, instance(e.Address))
	}
	sort.Strings(keys)
	out := make([]*targetGroup, 0, len(keys))
	for _, k := range keys {
		out = append(out, groups[k])
	}
	b, err := json.Marshal(out)
	if err != nil { // strings and maps of strings: cannot happen
		d.logger.Error("encoding /sd", "err", err)
		return []byte("[]\n")
	}
	return append(b, '\n')
}

// instance is the target as Prometheus should name it: the IP alone for the default port.
func instance(address string) string {
	if host, port, err := net.SplitHostPort(address); err == nil && port == cgminer.DefaultPort {
		return host
	}
	return address
}

func labelKey(l map[string]string) string {
	ks := make([]string, 0, len(l))
	for k := range l {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for _, k := range ks {
		b.WriteString(k + "\x00" + l[k] + "\x00")
	}
	return b.String()
}
