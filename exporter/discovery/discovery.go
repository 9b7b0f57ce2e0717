// Package discovery finds miners by scanning the configured IP ranges, keeps an inventory of
// them (persisted to a file so a restart does not forget miners that are offline at the time),
// and serves it to Prometheus as HTTP service discovery.
package discovery

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
)

// Querier asks a miner commands; *cgminer.Client is the real one.
type Querier interface {
	QueryAll(ctx context.Context, addr string, cmds []cgminer.Command, o cgminer.Options) *cgminer.Result
}

// Entry is one miner in the inventory. Its position labels (row, rack, slot, name, asset_tag)
// are not kept: /sd derives them from the config in force (rules and inventory file) each time
// it is encoded, so a reload moves offline miners too.
type Entry struct {
	Address string            `json:"address"` // ip:port
	Site    string            `json:"site"`
	Labels  map[string]string `json:"labels,omitempty"`
	// MAC is the address the miner last reported (lower-case with colons), for an inventory
	// that lists miners by MAC.
	MAC       string    `json:"mac,omitempty"`
	Model     string    `json:"model"`
	Firmware  string    `json:"firmware"`
	Family    string    `json:"family"`
	Module    string    `json:"module"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Discoverer scans and serves /sd.
type Discoverer struct {
	cfg       func() *config.Config
	client    Querier
	logger    *slog.Logger
	stateFile string
	now       func() time.Time

	mu  sync.RWMutex
	inv map[string]*Entry
	// gen counts changes to what /sd lists; sd is its encoding at sdGen under the config sdCfg.
	gen       atomic.Uint64
	sdMu      sync.Mutex
	sd        []byte
	sdGen     uint64
	sdCfg     *config.Config
	conflicts string // the MACs more than one miner reports, as last logged
	wake      chan struct{}
	lastScan  time.Time
	scanMu    sync.Mutex
	saveMu    sync.Mutex
	scanned   prometheus.Counter
	found     prometheus.Counter
	miners    *prometheus.GaugeVec
	duration  prometheus.Gauge
	completed prometheus.Gauge
}

// New builds a Discoverer and loads the inventory file when there is one.
func New(cfg func() *config.Config, client Querier, logger *slog.Logger, reg prometheus.Registerer, stateFile string) *Discoverer {
	d := &Discoverer{
		cfg: cfg, client: client, logger: logger, stateFile: stateFile, now: time.Now,
		inv:  map[string]*Entry{},
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
	if err := d.load(); err != nil {
		logger.Warn("discovery inventory not loaded; starting empty", "file", stateFile, "err", err)
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

// Scan sends every address of every site an identify request, paced by the rate limit and bounded
// by the concurrency limit, and updates the inventory.
func (d *Discoverer) Scan(ctx context.Context) error {
	d.scanMu.Lock()
	defer d.scanMu.Unlock()
	cfg := d.cfg()
	dc := cfg.Discovery
	if dc == nil {
		return nil
	}
	start := d.now()
	jobs := make(chan job)
	var wg sync.WaitGroup
	for i := 0; i < dc.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				d.probe(ctx, cfg, j)
			}
		}()
	}
	interval := time.Duration(float64(time.Second) / dc.Rate)
	next := time.Now()
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
				if wait := time.Until(next); wait > 0 {
					t := time.NewTimer(wait)
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
						stopped = true
						return false
					}
				}
				next = next.Add(interval)
				if now := time.Now(); next.Before(now.Add(-interval)) {
					next = now // do not burst to catch up after a slow spell
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
	d.Save()
	return nil
}

// identify is what a miner is asked once it answered the cheap request.
var identify = []cgminer.Command{cgminer.Version, cgminer.Stats, cgminer.DevDetails, cgminer.Summary}

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

func (d *Discoverer) probe(ctx context.Context, cfg *config.Config, j job) {
	dc := cfg.Discovery
	addr := net.JoinHostPort(j.addr.String(), strconv.Itoa(j.site.Port))
	// Replies are capped as the site's module caps them.
	var o cgminer.Options
	if m := cfg.Modules[config.SiteModules(dc, j.site)[0]]; m != nil {
		o.MaxReplyBytes = m.MaxReplyBytes
	}
	d.scanned.Inc()
	cctx, cancel := context.WithTimeout(ctx, dc.Timeout)
	res := d.client.QueryAll(cctx, addr, []cgminer.Command{cgminer.Version}, o)
	cancel()
	if res.Err() != nil {
		if rep, ok := res.Replies["version"]; !ok || rep == nil {
			return // nothing there, or not a cgminer API
		}
	}
	d.found.Inc()
	cctx, cancel = context.WithTimeout(ctx, 2*dc.Timeout)
	o.Join = true
	full := d.client.QueryAll(cctx, addr, identify, o)
	cancel()
	for k, v := range res.Replies {
		if _, ok := full.Replies[k]; !ok {
			full.Replies[k] = v
		}
	}
	fam := dialect.Identify(full)
	snap := dialect.Read(full, fam)
	module := j.site.Module
	for _, mm := range dc.ModulesByModel {
		if mm.Model.MatchString(snap.Model) {
			module = mm.Module
			break
		}
	}
	if module == "" {
		module = config.DefaultModule
	}
	now := d.now()
	d.mu.Lock()
	e, ok := d.inv[addr]
	if !ok {
		e = &Entry{Address: addr, FirstSeen: now}
		d.inv[addr] = e
		d.logger.Info("found miner", "address", addr, "site", j.site.Name, "model", snap.Model, "firmware", snap.Firmware)
	}
	mac := e.MAC
	if snap.MAC != "" { // a reply without it (a command that failed this time) keeps the last
		mac = snap.MAC
	}
	if !ok || e.Site != j.site.Name || e.MAC != mac || e.Module != module || !maps.Equal(e.Labels, j.site.Labels) {
		d.gen.Add(1)
	}
	e.Site, e.MAC, e.Labels = j.site.Name, mac, j.site.Labels
	if snap.Model != "" || e.Model == "" {
		e.Model = snap.Model
	}
	e.Firmware, e.Family, e.Module, e.LastSeen = snap.Firmware, fam.Name, module, now
	d.mu.Unlock()
}

// forget drops miners gone longer than forget_after and addresses no longer in any site.
func (d *Discoverer) forget(cfg *config.Config) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, e := range d.inv {
		site, _ := siteOf(cfg, e.Address)
		if site == nil || now.Sub(e.LastSeen) > cfg.Discovery.ForgetAfter {
			d.logger.Info("forgetting miner", "address", k, "last_seen", e.LastSeen)
			delete(d.inv, k)
			d.gen.Add(1)
			continue
		}
		if e.Site != site.Name {
			e.Site = site.Name
			d.gen.Add(1)
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
	d.mu.RLock()
	defer d.mu.RUnlock()
	d.miners.Reset()
	for _, e := range d.inv {
		answering := "0"
		if !e.LastSeen.Before(d.lastScan.Add(-d.cfg().Discovery.Interval)) {
			answering = "1"
		}
		d.miners.WithLabelValues(e.Site, e.Model, e.Firmware, answering).Inc()
	}
}

// Inventory returns a copy of the inventory, in address order.
func (d *Discoverer) Inventory() []Entry {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]Entry, 0, len(d.inv))
	for _, e := range d.inv {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		a, errA := netip.ParseAddrPort(out[i].Address)
		b, errB := netip.ParseAddrPort(out[j].Address)
		if errA != nil || errB != nil {
			return out[i].Address < out[j].Address
		}
		return a.Compare(b) < 0
	})
	return out
}

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
	gen, cfg := d.gen.Load(), d.cfg()
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

type state struct {
	Version int     `json:"version"`
	Miners  []Entry `json:"miners"`
}

func (d *Discoverer) load() error {
	if d.stateFile == "" {
		return nil
	}
	data, err := os.ReadFile(d.stateFile)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read inventory: %w", err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("parse inventory %s: %w", d.stateFile, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range st.Miners {
		e := st.Miners[i]
		d.inv[e.Address] = &e
	}
	d.gen.Add(1)
	d.logger.Info("loaded discovery inventory", "file", d.stateFile, "miners", len(st.Miners))
	return nil
}

// Save writes the inventory atomically (a temporary file renamed over the old one).
func (d *Discoverer) Save() {
	if d.stateFile == "" {
		return
	}
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	data, err := json.MarshalIndent(state{Version: 1, Miners: d.Inventory()}, "", " ")
	if err == nil {
		err = writeAtomic(d.stateFile, data)
	}
	if err != nil {
		d.logger.Error("cannot save discovery inventory", "file", d.stateFile, "err", err)
	}
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
