package inventory

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The file is JSON, one record a line:
//
//	{"version":2,"miners":[
//	{"address":"10.20.0.11:4028","site":"north","model":"Antminer S19j Pro",…,"protocol":"cgminer","port":4028},
//	…
//	]}
//
// Version 1, the discovery state file before the inventory, has the same layout with the
// fields address, site, labels, mac, model, firmware, family, module, first_seen and last_seen;
// its miners were all found over the cgminer API on their address's port, which is what Load
// takes them to have answered.
const fileVersion = 2

// Bounds on what Load accepts from the file (it is ours, but a record that breaks them is
// skipped rather than let into the probe path).
const (
	maxField    = 1024 // bytes of one string
	maxLabels   = 64   // site labels of one record
	maxProtocol = 32
)

// Load reads the inventory file into the inventory: version 2, or the discovery state file of
// version 1. A missing file is an empty inventory; records beyond the cap, and malformed ones,
// are skipped (and counted in the log line).
func (inv *Inventory) Load() error {
	if inv.o.File == "" {
		return nil
	}
	f, err := os.Open(inv.o.File)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read inventory: %w", err)
	}
	defer f.Close()
	loaded, skipped, version, err := inv.decode(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		inv.clear()
		return fmt.Errorf("parse inventory %s: %w", inv.o.File, err)
	}
	inv.listGen.Add(1)
	inv.logger.Info("loaded inventory", "file", inv.o.File, "version", version, "miners", loaded, "skipped", skipped)
	return nil
}

func (inv *Inventory) decode(r io.Reader) (loaded, skipped, version int, err error) {
	dec := json.NewDecoder(r)
	if err := delim(dec, '{'); err != nil {
		return 0, 0, 0, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return loaded, skipped, version, err
		}
		switch tok {
		case "version":
			if err := dec.Decode(&version); err != nil {
				return loaded, skipped, version, fmt.Errorf("version: %w", err)
			}
			if version != 1 && version != fileVersion {
				return loaded, skipped, version, fmt.Errorf("unknown version %d (this exporter reads 1 and %d)", version, fileVersion)
			}
		case "miners":
			if err := delim(dec, '['); err != nil {
				return loaded, skipped, version, err
			}
			for dec.More() {
				var rec Record
				if err := dec.Decode(&rec); err != nil {
					return loaded, skipped, version, fmt.Errorf("miner %d: %w", loaded+skipped+1, err)
				}
				if inv.insert(rec) {
					loaded++
				} else {
					skipped++
				}
			}
			if err := delim(dec, ']'); err != nil {
				return loaded, skipped, version, err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return loaded, skipped, version, err
			}
		}
	}
	if err := delim(dec, '}'); err != nil {
		return loaded, skipped, version, err
	}
	if version == 0 {
		return loaded, skipped, version, errors.New("no version")
	}
	return loaded, skipped, version, nil
}

func delim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("found %v where %v belongs", tok, want)
	}
	return nil
}

// insert adds a record read from the file, when it is well-formed and there is room.
func (inv *Inventory) insert(r Record) bool {
	ap, err := netip.ParseAddrPort(r.Address)
	if err != nil || ap.Addr().Zone() != "" || ap.Port() == 0 {
		return false
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	for _, s := range []string{r.Site, r.MAC, r.Model, r.Firmware, r.Family, r.Module, r.Serial} {
		if len(s) > maxField {
			return false
		}
	}
	if len(r.Labels) > maxLabels || !protocolName(r.Protocol) {
		return false
	}
	for k, v := range r.Labels {
		if len(k) > maxField || len(v) > maxField {
			return false
		}
	}
	if r.Protocol == "" { // version 1: found over the cgminer API on the address's port
		r.Protocol = CGMiner
	}
	if r.Port <= 0 || r.Port > 65535 {
		r.Port = int(ap.Port())
	}
	if r.Identified.IsZero() && r.Family != "" {
		r.Identified = r.LastSeen
	}
	if len(r.Labels) == 0 {
		r.Labels = nil
	}
	e := &entry{
		protocol: intern(r.Protocol), family: intern(r.Family), model: intern(r.Model), firmware: intern(r.Firmware),
		site: intern(r.Site), module: intern(r.Module), serial: r.Serial, mac: r.MAC, labels: r.Labels,
		port: uint16(r.Port), first: nanos(r.FirstSeen), last: nanos(r.LastSeen), identified: nanos(r.Identified),
		noJoin: nanos(r.NoJoinUntil),
	}
	if r.Site == "" {
		e.module, e.labels = handle{}, nil
	}
	addr := ap.String()
	s := inv.shard(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[addr]; ok { // listed twice: the later line wins
		s.m[addr] = e
		return true
	}
	if inv.n.Add(1) > int64(inv.o.MaxRecords) {
		inv.n.Add(-1)
		return false
	}
	s.m[addr] = e
	return true
}

func protocolName(p string) bool {
	if len(p) > maxProtocol {
		return false
	}
	for _, c := range []byte(p) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (inv *Inventory) clear() {
	for i := range inv.shards {
		s := &inv.shards[i]
		s.mu.Lock()
		inv.n.Add(-int64(len(s.m)))
		s.m = map[string]*entry{}
		s.mu.Unlock()
	}
}

// Save writes the inventory to its file atomically: a temporary file in the same directory,
// written, synced, renamed over the old one, and the directory synced. Run calls it in batches;
// the exporter calls it once more at shutdown.
func (inv *Inventory) Save() error { return inv.save(time.Now()) }

func (inv *Inventory) save(now time.Time) error {
	if inv.o.File == "" {
		return nil
	}
	inv.saveMu.Lock()
	defer inv.saveMu.Unlock()
	// Cleared first: a change made while the file is written is due at the next save.
	inv.dirty.Store(false)
	inv.touched.Store(false)
	recs := inv.snapshot()
	err := writeAtomic(inv.o.File, func(w *bufio.Writer) error {
		fmt.Fprintf(w, "{\"version\":%d,\"miners\":[\n", fileVersion)
		buf := make([]byte, 0, 512)
		for i := range recs {
			buf = appendRecord(buf[:0], recs[i].addr, &recs[i].e)
			if i < len(recs)-1 {
				buf = append(buf, ',')
			}
			buf = append(buf, '\n')
			w.Write(buf)
		}
		_, err := w.WriteString("]}\n")
		return err
	})
	if err != nil {
		inv.dirty.Store(true)
		inv.saveFails.Inc()
		return fmt.Errorf("save inventory %s: %w", inv.o.File, err)
	}
	inv.lastSave.Store(now.UnixNano())
	inv.saved.Set(float64(now.UnixNano()) / 1e9)
	return nil
}

// saved is a record as Save copies it: its address and its entry, copied under the shard's lock.
type saved struct {
	addr string
	e    entry
}

// snapshot copies every record, in address order (of the text: the file is for a machine), in
// one allocation: saving a million records must not cost gigabytes.
func (inv *Inventory) snapshot() []saved {
	out := make([]saved, 0, inv.n.Load()+nShards)
	for i := range inv.shards {
		s := &inv.shards[i]
		s.mu.RLock()
		for a, e := range s.m {
			out = append(out, saved{a, *e})
		}
		s.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b saved) int { return strings.Compare(a.addr, b.addr) })
	return out
}

// appendRecord writes a record as Record's JSON encoding does (the same names, the same fields
// left out when empty), without reflection or an allocation per record.
func appendRecord(b []byte, addr string, e *entry) []byte {
	b = append(b, `{"address":`...)
	b = appendString(b, addr)
	field := func(name, v string) {
		if v != "" {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = appendString(b, v)
		}
	}
	field("site", str(e.site))
	if len(e.labels) > 0 && e.site != (handle{}) {
		b = append(b, `,"labels":{`...)
		keys := slices.Sorted(maps.Keys(e.labels))
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, e.labels[k])
		}
		b = append(b, '}')
	}
	field("mac", e.mac)
	field("model", str(e.model))
	field("firmware", str(e.firmware))
	field("family", str(e.family))
	field("module", str(e.module))
	b = appendTime(append(b, `,"first_seen":`...), e.first)
	b = appendTime(append(b, `,"last_seen":`...), e.last)
	field("protocol", str(e.protocol))
	if e.port != 0 {
		b = strconv.AppendInt(append(b, `,"port":`...), int64(e.port), 10)
	}
	field("serial", e.serial)
	if e.identified != 0 {
		b = appendTime(append(b, `,"identified":`...), e.identified)
	}
	if e.noJoin != 0 {
		b = appendTime(append(b, `,"no_join_until":`...), e.noJoin)
	}
	return append(b, '}')
}

func appendTime(b []byte, n int64) []byte {
	b = append(b, '"')
	b = clock(n).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendString writes s as a JSON string: quotes, backslashes and control characters escaped,
// invalid UTF-8 replaced.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func writeAtomic(path string, write func(*bufio.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename there is nothing left to remove
	w := bufio.NewWriterSize(tmp, 256<<10)
	if err := write(w); err != nil {
		tmp.Close()
		return err
	}
	if err := w.Flush(); err != nil {
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
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename itself is durable once the directory is synced.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Run prunes and saves until ctx ends: every `every`, records discovery does not list that have
// not answered within MaxAge are dropped, and the file is written when a fact or a listing
// changed since the last save — or, when only times changed, at most every 10 × every. A probe
// never writes the file.
func (inv *Inventory) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			inv.Tick(now, every)
		}
	}
}

// Tick is one round of Run at now.
func (inv *Inventory) Tick(now time.Time, every time.Duration) {
	if n := inv.Prune(now.Add(-inv.o.MaxAge)); n > 0 {
		inv.logger.Info("pruned miners that stopped answering", "miners", n, "max_age", inv.o.MaxAge)
	}
	due := inv.dirty.Load() || inv.touched.Load() && now.Sub(time.Unix(0, inv.lastSave.Load())) >= 10*every
	if !due {
		return
	}
	if err := inv.save(now); err != nil {
		inv.logger.Error("cannot save the inventory", "err", err)
	}
}
