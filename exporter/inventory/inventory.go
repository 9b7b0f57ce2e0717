// Package inventory is the exporter's one memory per miner: what is known about each address —
// the protocol and port that answered, the firmware family, model, firmware, serial and MAC, a
// firmware's refusal of joined requests, discovery's listing (site, module, site labels), first
// and last seen — fed by discovery and by probes and read by the probe path. It is bounded (a cap
// on records; the stalest that discovery does not list make room), safe for concurrent probes
// (sharded locks; a probe's read and write cost a map lookup under one shard's lock), and
// persisted in batches (at most every save interval and at shutdown, atomically).
package inventory

import (
	"hash/maphash"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/prometheus/client_golang/prometheus"
)

// Protocols a record may name (the config's `protocol:` values other than auto).
const (
	CGMiner      = "cgminer"
	WhatsminerV3 = "whatsminer-v3"
)

// Defaults.
const (
	// DefaultMaxRecords bounds the records: a /10 of miners, and as many as discovery may scan
	// (config.MaxScanAddresses).
	DefaultMaxRecords = 1 << 20
	// DefaultMaxAge is how long a record discovery does not list is kept without an answer.
	DefaultMaxAge = 168 * time.Hour
)

// nShards is the number of independently locked parts: concurrent probes of different miners
// rarely wait for each other.
const nShards = 64

// Facts is what one answer taught about a miner. An empty field (a zero time, port 0) leaves
// what was known: a reply that lacks the MAC this time keeps the last one.
type Facts struct {
	Protocol string // CGMiner, WhatsminerV3
	Port     int    // the port that answered
	Family   string // the dialect family that read the replies; set by an identification
	Model    string
	Firmware string
	Serial   string
	MAC      string // lower-case with colons
	// NoJoinUntil: the firmware refused a joined request; its commands go one by one until then.
	NoJoinUntil time.Time
}

// Listing is how discovery lists a miner in /sd. A record with no Site is not listed.
type Listing struct {
	Site   string
	Module string
	// Labels are the site's labels (shared, never modified).
	Labels map[string]string
}

// Record is everything known about one address, as Get returns it and the file stores it. The
// field names of the discovery state file of version 1 are kept, so that file still reads.
type Record struct {
	// Address is the probe's target, ip:port (the port the module or discovery site names).
	Address string            `json:"address"`
	Site    string            `json:"site,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	// MAC is the address the miner last reported, lower-case with colons.
	MAC      string `json:"mac,omitempty"`
	Model    string `json:"model,omitempty"`
	Firmware string `json:"firmware,omitempty"`
	Family   string `json:"family,omitempty"`
	Module   string `json:"module,omitempty"`
	// FirstSeen and LastSeen: the first and the last time the miner answered (a probe or a scan).
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Protocol and Port are what answered last (Port may differ from Address's: a Whatsminer
	// that answers only API v3 is probed at its target's IP on 4433).
	Protocol string `json:"protocol,omitempty"`
	Port     int    `json:"port,omitempty"`
	Serial   string `json:"serial,omitempty"`
	// Identified is when the family was last read from the miner's replies.
	Identified  time.Time `json:"identified,omitzero"`
	NoJoinUntil time.Time `json:"no_join_until,omitzero"`
}

// Listed reports whether discovery lists the record in /sd.
func (r *Record) Listed() bool { return r.Site != "" }

// NoJoin reports whether the firmware refused a joined request recently (until NoJoinUntil).
func (r *Record) NoJoin(now time.Time) bool { return now.Before(r.NoJoinUntil) }

// Options shape an Inventory.
type Options struct {
	// File is where the inventory persists ("" keeps it in memory only).
	File string
	// MaxRecords caps the records (0: DefaultMaxRecords).
	MaxRecords int
	// MaxAge drops a record discovery does not list once it has not answered for this long
	// (0: DefaultMaxAge); Run prunes.
	MaxAge time.Duration
	// Logger (nil: discard).
	Logger *slog.Logger
	// Registerer takes the inventory's self-metrics (nil: none).
	Registerer prometheus.Registerer
}

// Inventory holds the records. Its methods are safe for concurrent use.
type Inventory struct {
	o      Options
	logger *slog.Logger
	seed   maphash.Seed
	shards [nShards]shard
	n      atomic.Int64 // records, reserved before they are inserted

	// dirty: a fact or a listing changed since the last save; touched: only times did.
	dirty, touched atomic.Bool
	listGen        atomic.Uint64
	saveMu         sync.Mutex
	lastSave       atomic.Int64 // unix nanoseconds

	records   prometheus.GaugeFunc
	evicted   prometheus.Counter
	refused   prometheus.Counter
	saveFails prometheus.Counter
	saved     prometheus.Gauge
}

type shard struct {
	mu sync.RWMutex
	m  map[string]*entry
}

// handle is an interned string: a farm of 100,000 miners has a few dozen models, firmwares and
// families, so each record holds 8 bytes for each, not a copy.
type handle = unique.Handle[string]

// entry is a record as held in memory: interned strings, times as Unix nanoseconds (0: never).
type entry struct {
	protocol, family, model, firmware, site, module handle
	serial, mac                                     string
	labels                                          map[string]string
	port                                            uint16
	first, last, identified, noJoin                 int64
	// token is the miner's web login token (nil: none); it is neither in Record nor in the file.
	token *token
}

// token is a web API login token, for the API and credentials key names, until expires.
type token struct {
	key, value string
	expires    int64
}

func intern(s string) handle {
	if s == "" {
		return handle{}
	}
	return unique.Make(s)
}

func str(h handle) string {
	if h == (handle{}) {
		return ""
	}
	return h.Value()
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func clock(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// New builds an empty inventory; Load reads its file.
func New(o Options) *Inventory {
	if o.MaxRecords <= 0 {
		o.MaxRecords = DefaultMaxRecords
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	inv := &Inventory{o: o, logger: o.Logger, seed: maphash.MakeSeed()}
	if inv.logger == nil {
		inv.logger = slog.New(slog.DiscardHandler)
	}
	for i := range inv.shards {
		inv.shards[i].m = map[string]*entry{}
	}
	inv.records = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cgminer_inventory_records", Help: "Miners the inventory knows (discovered or probed successfully).",
	}, func() float64 { return float64(inv.Len()) })
	inv.evicted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cgminer_inventory_evictions_total", Help: "Records dropped to make room under the cap (the stalest that discovery does not list).",
	})
	inv.refused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cgminer_inventory_refused_total", Help: "New records not kept: the inventory was full of records discovery lists.",
	})
	inv.saveFails = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cgminer_inventory_save_failures_total", Help: "Failed writes of the inventory file.",
	})
	inv.saved = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cgminer_inventory_last_save_timestamp_seconds", Help: "When the inventory file was last written.",
	})
	if o.Registerer != nil {
		o.Registerer.MustRegister(inv.records, inv.evicted, inv.refused, inv.saveFails, inv.saved)
	}
	return inv
}

func (inv *Inventory) shard(addr string) *shard {
	return &inv.shards[maphash.String(inv.seed, addr)%nShards]
}

// Len is the number of records.
func (inv *Inventory) Len() int {
	n := 0
	for i := range inv.shards {
		s := &inv.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// ListGen changes whenever what discovery lists changes (a listing, a listed miner's MAC, a load).
func (inv *Inventory) ListGen() uint64 { return inv.listGen.Load() }

// Get returns what is known about addr.
func (inv *Inventory) Get(addr string) (Record, bool) {
	s := inv.shard(addr)
	s.mu.RLock()
	e, ok := s.m[addr]
	var r Record
	if ok {
		r = e.record(addr)
	}
	s.mu.RUnlock()
	return r, ok
}

func (e *entry) record(addr string) Record {
	return Record{
		Address: addr, Site: str(e.site), Labels: e.labels, MAC: e.mac, Model: str(e.model), Firmware: str(e.firmware),
		Family: str(e.family), Module: str(e.module), FirstSeen: clock(e.first), LastSeen: clock(e.last),
		Protocol: str(e.protocol), Port: int(e.port), Serial: e.serial, Identified: clock(e.identified), NoJoinUntil: clock(e.noJoin),
	}
}

// Observe records that the miner at addr answered at now and what it taught. It creates the
// record when there is none (an answer is the only way in: a probe of an address where nothing
// answers leaves no trace), making room by evicting the stalest records discovery does not list;
// it returns false when there was no room.
func (inv *Inventory) Observe(addr string, f Facts, now time.Time) bool {
	t := now.UnixNano()
	s := inv.shard(addr)
	s.mu.Lock()
	e, ok := s.m[addr]
	if !ok {
		if !inv.reserve(s) {
			s.mu.Unlock()
			inv.refused.Inc()
			return false
		}
		e = &entry{first: t}
		s.m[addr] = e
	}
	changed, macChanged := e.apply(f, t)
	listed := e.site != (handle{})
	e.last = t
	s.mu.Unlock()
	if changed || !ok {
		inv.dirty.Store(true)
	} else if !inv.touched.Load() {
		inv.touched.Store(true)
	}
	if macChanged && listed {
		inv.listGen.Add(1)
	}
	return true
}

// apply sets the non-empty facts; changed says whether one differed (so the file is due).
func (e *entry) apply(f Facts, t int64) (changed, macChanged bool) {
	changed = setHandle(&e.protocol, f.Protocol)
	changed = setHandle(&e.family, f.Family) || changed
	changed = setHandle(&e.model, f.Model) || changed
	changed = setHandle(&e.firmware, f.Firmware) || changed
	if f.Port > 0 && f.Port <= 65535 && int(e.port) != f.Port {
		e.port, changed = uint16(f.Port), true
	}
	if f.Serial != "" && e.serial != f.Serial {
		e.serial, changed = f.Serial, true
	}
	if f.MAC != "" && e.mac != f.MAC {
		e.mac, changed, macChanged = f.MAC, true, true
	}
	if f.Family != "" {
		e.identified = t
	}
	if n := nanos(f.NoJoinUntil); n != 0 && n != e.noJoin {
		e.noJoin, changed = n, true
	}
	return changed, macChanged
}

func setHandle(h *handle, v string) bool {
	if v == "" || str(*h) == v {
		return false
	}
	*h = unique.Make(v)
	return true
}

// reserve counts a new record in shard s (locked), evicting from s when the inventory is full.
func (inv *Inventory) reserve(s *shard) bool {
	if inv.n.Add(1) <= int64(inv.o.MaxRecords) {
		return true
	}
	k := inv.evictFrom(s)
	if k == 0 {
		inv.n.Add(-1)
		return false
	}
	inv.n.Add(-int64(k))
	return true
}

// evictFrom drops the stalest sixteenth (at least one) of the records in s (locked) that
// discovery does not list, so a full inventory pays for a sort once per many new records.
func (inv *Inventory) evictFrom(s *shard) int {
	type cand struct {
		last int64
		addr string
	}
	var cands []cand
	for a, e := range s.m {
		if e.site == (handle{}) {
			cands = append(cands, cand{e.last, a})
		}
	}
	if len(cands) == 0 {
		return 0
	}
	k := max(1, len(cands)/16)
	slices.SortFunc(cands, func(a, b cand) int {
		switch {
		case a.last < b.last:
			return -1
		case a.last > b.last:
			return 1
		}
		return strings.Compare(a.addr, b.addr)
	})
	for _, c := range cands[:k] {
		delete(s.m, c.addr)
	}
	inv.evicted.Add(float64(k))
	inv.dirty.Store(true)
	return k
}

// Token returns the web API login token kept for addr under key (which names the API and the
// credentials it was obtained with), unless it has expired by now. Tokens are memory only:
// neither Get's Record nor the file holds one, so a restart logs in again.
func (inv *Inventory) Token(addr, key string, now time.Time) (string, bool) {
	s := inv.shard(addr)
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.m[addr]
	if !ok || e.token == nil || e.token.key != key || now.UnixNano() >= e.token.expires {
		return "", false
	}
	return e.token.value, true
}

// SetToken keeps a web API login token for the miner at addr until expires; false when the
// inventory has no record of it (only an answer makes one).
func (inv *Inventory) SetToken(addr, key, value string, expires time.Time) bool {
	s := inv.shard(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[addr]
	if !ok {
		return false
	}
	e.token = &token{key: key, value: value, expires: expires.UnixNano()}
	return true
}

// DropToken forgets addr's web API login token (the miner refused it).
func (inv *Inventory) DropToken(addr string) {
	s := inv.shard(addr)
	s.mu.Lock()
	if e, ok := s.m[addr]; ok {
		e.token = nil
	}
	s.mu.Unlock()
}

// List makes discovery list addr in /sd with l (an empty Site unlists it). It returns false
// when there is no record for addr.
func (inv *Inventory) List(addr string, l Listing) bool {
	s := inv.shard(addr)
	s.mu.Lock()
	e, ok := s.m[addr]
	changed := false
	if ok && (str(e.site) != l.Site || str(e.module) != l.Module || !maps.Equal(e.labels, l.Labels)) {
		e.site, e.module, e.labels = intern(l.Site), intern(l.Module), l.Labels
		if l.Site == "" {
			e.module, e.labels = handle{}, nil
		}
		changed = true
	}
	s.mu.Unlock()
	if changed {
		inv.dirty.Store(true)
		inv.listGen.Add(1)
	}
	return ok
}

// Unlist stops discovery listing addr; what is known about it stays (until MaxAge or the cap).
func (inv *Inventory) Unlist(addr string) { inv.List(addr, Listing{}) }

// Delete forgets addr.
func (inv *Inventory) Delete(addr string) {
	s := inv.shard(addr)
	s.mu.Lock()
	e, ok := s.m[addr]
	if ok {
		delete(s.m, addr)
		inv.n.Add(-1)
	}
	s.mu.Unlock()
	if ok {
		inv.dirty.Store(true)
		if e.site != (handle{}) {
			inv.listGen.Add(1)
		}
	}
}

// Prune drops the records discovery does not list that have not answered since before.
func (inv *Inventory) Prune(before time.Time) int {
	t := before.UnixNano()
	n := 0
	for i := range inv.shards {
		s := &inv.shards[i]
		s.mu.Lock()
		for a, e := range s.m {
			if e.site == (handle{}) && e.last < t {
				delete(s.m, a)
				n++
			}
		}
		s.mu.Unlock()
	}
	if n > 0 {
		inv.n.Add(-int64(n))
		inv.dirty.Store(true)
	}
	return n
}

// Listed returns the records discovery lists, in address order.
func (inv *Inventory) Listed() []Record { return inv.collect(true) }

// All returns every record, in address order.
func (inv *Inventory) All() []Record { return inv.collect(false) }

func (inv *Inventory) collect(listedOnly bool) []Record {
	var out []Record
	for i := range inv.shards {
		s := &inv.shards[i]
		s.mu.RLock()
		for a, e := range s.m {
			if !listedOnly || e.site != (handle{}) {
				out = append(out, e.record(a))
			}
		}
		s.mu.RUnlock()
	}
	sortByAddress(out)
	return out
}

// sortByAddress orders records by IP, then port (a malformed address, which Load never lets
// in, sorts by its text after the rest).
func sortByAddress(rs []Record) {
	keys := make(map[string]netip.AddrPort, len(rs))
	for _, r := range rs {
		if ap, err := netip.ParseAddrPort(r.Address); err == nil {
			keys[r.Address] = ap
		}
	}
	slices.SortFunc(rs, func(a, b Record) int {
		ka, okA := keys[a.Address]
		kb, okB := keys[b.Address]
		switch {
		case okA && okB:
			return ka.Compare(kb)
		case okA:
			return -1
		case okB:
			return 1
		}
		return strings.Compare(a.Address, b.Address)
	})
}
