package inventory

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestObserve(t *testing.T) {
	inv := New(Options{})
	const a = "10.0.0.1:4028"
	if _, ok := inv.Get(a); ok {
		t.Fatal("an empty inventory knows a miner")
	}
	if !inv.Observe(a, Facts{Protocol: CGMiner, Port: 4028, Family: "whatsminer", Model: "Whatsminer M30S", Firmware: "stock", MAC: "c6:02:14:00:1f:b3"}, t0) {
		t.Fatal("Observe refused a record in an empty inventory")
	}
	// A later answer without the MAC (a command failed this time) keeps it; a new model replaces.
	later := t0.Add(time.Minute)
	inv.Observe(a, Facts{Protocol: CGMiner, Port: 4028, Model: "Whatsminer M30S+", Serial: "HTM3X01"}, later)
	r, ok := inv.Get(a)
	if !ok {
		t.Fatal("record lost")
	}
	want := Record{Address: a, Protocol: CGMiner, Port: 4028, Family: "whatsminer", Model: "Whatsminer M30S+", Firmware: "stock",
		MAC: "c6:02:14:00:1f:b3", Serial: "HTM3X01"}
	if r.Protocol != want.Protocol || r.Port != want.Port || r.Family != want.Family || r.Model != want.Model ||
		r.Firmware != want.Firmware || r.MAC != want.MAC || r.Serial != want.Serial {
		t.Errorf("record %+v, want the facts of %+v", r, want)
	}
	if !r.FirstSeen.Equal(t0) || !r.LastSeen.Equal(later) || !r.Identified.Equal(t0) {
		t.Errorf("first %s last %s identified %s; want %s, %s, %s (only an answer with a family identifies)", r.FirstSeen, r.LastSeen, r.Identified, t0, later, t0)
	}
	if r.NoJoin(later) {
		t.Error("join refused without a refusal")
	}
	inv.Observe(a, Facts{NoJoinUntil: later.Add(time.Hour)}, later)
	if r, _ := inv.Get(a); !r.NoJoin(later.Add(59*time.Minute)) || r.NoJoin(later.Add(61*time.Minute)) {
		t.Errorf("join refusal until %s: wrong at 59m or 61m", r.NoJoinUntil)
	}
}

func TestListing(t *testing.T) {
	inv := New(Options{})
	const a = "10.0.0.1:4028"
	if inv.List(a, Listing{Site: "north"}) {
		t.Error("listed an address with no record")
	}
	inv.Observe(a, Facts{Protocol: CGMiner}, t0)
	gen := inv.ListGen()
	labels := map[string]string{"region": "eu"}
	if !inv.List(a, Listing{Site: "north", Module: "s19", Labels: labels}) || inv.ListGen() == gen {
		t.Fatal("listing did not change the listing generation")
	}
	gen = inv.ListGen()
	inv.List(a, Listing{Site: "north", Module: "s19", Labels: map[string]string{"region": "eu"}})
	inv.Observe(a, Facts{Model: "Antminer S19 Pro"}, t0)
	if inv.ListGen() != gen {
		t.Error("an unchanged listing or a new model changed what /sd lists")
	}
	inv.Observe(a, Facts{MAC: "c6:02:14:00:1f:b3"}, t0)
	if inv.ListGen() == gen {
		t.Error("a listed miner's new MAC (its position may follow it) did not change the listing generation")
	}
	if l := inv.Listed(); len(l) != 1 || l[0].Site != "north" || l[0].Module != "s19" || l[0].Labels["region"] != "eu" {
		t.Errorf("listed: %+v", l)
	}
	inv.Unlist(a)
	if l := inv.Listed(); len(l) != 0 {
		t.Errorf("unlisted miner still listed: %+v", l)
	}
	if r, ok := inv.Get(a); !ok || r.Model != "Antminer S19 Pro" || r.Module != "" {
		t.Errorf("unlisting forgot the facts or kept the module: %+v", r)
	}
	inv.Delete(a)
	if _, ok := inv.Get(a); ok || inv.Len() != 0 {
		t.Error("Delete kept the record")
	}
}

// The cap holds whatever is observed; the records that make room are the stalest of those
// discovery does not list; and records discovery lists are never evicted: a full inventory of
// them refuses new ones.
func TestBounded(t *testing.T) {
	const max = 640
	inv := New(Options{MaxRecords: max})
	addr := func(i int) string { return fmt.Sprintf("10.%d.%d.%d:4028", i>>16&255, i>>8&255, i&255) }
	for i := range max {
		if !inv.Observe(addr(i), Facts{Protocol: CGMiner}, t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("record %d refused below the cap", i)
		}
	}
	for i := max; i < 3*max; i++ {
		if !inv.Observe(addr(i), Facts{Protocol: CGMiner}, t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("record %d refused although stale records could make room", i)
		}
		if n := inv.Len(); n > max {
			t.Fatalf("%d records, over the cap of %d", n, max)
		}
	}
	// Each evicted record was older than every record kept in its shard.
	newest := map[*shard]time.Time{}
	kept := map[string]bool{}
	for _, r := range inv.All() {
		kept[r.Address] = true
	}
	for i := range 3 * max {
		a := addr(i)
		if kept[a] {
			continue
		}
		s := inv.shard(a)
		if seen := t0.Add(time.Duration(i) * time.Second); seen.After(newest[s]) {
			newest[s] = seen
		}
	}
	for _, r := range inv.All() {
		if n, ok := newest[inv.shard(r.Address)]; ok && !r.LastSeen.After(n) {
			t.Errorf("kept %s (seen %s) while a newer record of its shard (%s) was evicted", r.Address, r.LastSeen, n)
		}
	}
	if n := int(inv.n.Load()); n != inv.Len() {
		t.Errorf("count %d, records %d", n, inv.Len())
	}

	// Listed records are not evicted.
	full := New(Options{MaxRecords: 100})
	for i := range 100 {
		full.Observe(addr(i), Facts{Protocol: CGMiner}, t0)
		full.List(addr(i), Listing{Site: "north"})
	}
	for i := 100; i < 200; i++ {
		if full.Observe(addr(i), Facts{Protocol: CGMiner}, t0.Add(time.Hour)) {
			t.Fatalf("a new record evicted a listed one")
		}
	}
	if n := len(full.Listed()); n != 100 || full.Len() != 100 {
		t.Errorf("%d listed of %d records, want 100 of 100", n, full.Len())
	}
}

// Probes of different miners, discovery listing them and the file being written, all at once:
// run under -race. The count stays equal to the records.
func TestConcurrent(t *testing.T) {
	inv := New(Options{MaxRecords: 500, File: filepath.Join(t.TempDir(), "inv.json")})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				a := fmt.Sprintf("10.0.%d.%d:4028", (i*7+g)%4, (i*13+g)%256)
				if r, ok := inv.Get(a); ok && r.NoJoin(t0) {
					_ = r.Family
				}
				inv.Observe(a, Facts{Protocol: CGMiner, Port: 4028, Family: "antminer", Model: fmt.Sprint("m", i%3), NoJoinUntil: t0.Add(time.Duration(i%2) * time.Hour)}, t0.Add(time.Duration(i)*time.Millisecond))
				if i%5 == 0 {
					inv.List(a, Listing{Site: "s", Module: "default"})
				}
				if i%11 == 0 {
					inv.Unlist(a)
				}
				if i%97 == 0 {
					inv.Delete(a)
				}
				if g == 0 && i%500 == 0 {
					if err := inv.Save(); err != nil {
						t.Error(err)
					}
					inv.Listed()
				}
			}
		}()
	}
	wg.Wait()
	if n := int(inv.n.Load()); n != inv.Len() || n > 500 {
		t.Errorf("count %d, records %d (cap 500)", n, inv.Len())
	}
}

func TestSaveLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "inventory.json")
	inv := New(Options{File: file})
	inv.Observe("10.0.0.1:4028", Facts{Protocol: CGMiner, Port: 4028, Family: "luxos", Model: "Antminer S19k Pro", Firmware: "luxos", NoJoinUntil: t0.Add(time.Hour)}, t0)
	inv.List("10.0.0.1:4028", Listing{Site: "north", Module: "default", Labels: map[string]string{"region": "eu"}})
	inv.Observe("10.0.0.2:4028", Facts{Protocol: WhatsminerV3, Port: 4433, Family: "whatsminer", Model: "Whatsminer M60S", Serial: "HKM60S0001", MAC: "c6:02:14:00:1f:b3"}, t0.Add(time.Minute))
	inv.Observe("[fd00::7]:4029", Facts{Protocol: CGMiner, Port: 4029}, t0)
	if err := inv.Save(); err != nil {
		t.Fatal(err)
	}
	back := New(Options{File: file})
	if err := back.Load(); err != nil {
		t.Fatal(err)
	}
	a, b := inv.All(), back.All()
	if len(a) != 3 || len(b) != len(a) {
		t.Fatalf("saved %d, loaded %d", len(a), len(b))
	}
	for i := range a {
		if !sameRecord(a[i], b[i]) {
			t.Errorf("record %d:\nsaved  %+v\nloaded %+v", i, a[i], b[i])
		}
	}
	if l := back.Listed(); len(l) != 1 || l[0].Address != "10.0.0.1:4028" {
		t.Errorf("listed after load: %+v", l)
	}
	// One record a line, nothing left next to the file.
	data, _ := os.ReadFile(file)
	if n := strings.Count(string(data), "\n"); n != 5 {
		t.Errorf("file has %d lines, want 5 (head, 3 records, tail):\n%s", n, data)
	}
	entries, _ := os.ReadDir(filepath.Dir(file))
	if len(entries) != 1 {
		t.Errorf("files next to the inventory: %v", entries)
	}
}

func sameRecord(a, b Record) bool {
	if len(a.Labels) != len(b.Labels) {
		return false
	}
	for k, v := range a.Labels {
		if b.Labels[k] != v {
			return false
		}
	}
	return a.Address == b.Address && a.Site == b.Site && a.MAC == b.MAC && a.Model == b.Model && a.Firmware == b.Firmware &&
		a.Family == b.Family && a.Module == b.Module && a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen) &&
		a.Protocol == b.Protocol && a.Port == b.Port && a.Serial == b.Serial && a.Identified.Equal(b.Identified) &&
		a.NoJoinUntil.Equal(b.NoJoinUntil)
}

// The discovery state file of version 1 reads: its miners are listed, and known to have
// answered the cgminer API on their address's port, so their first probe needs no relearning.
func TestLoadVersion1(t *testing.T) {
	inv := New(Options{File: filepath.Join("testdata", "state-v1.json")})
	if err := inv.Load(); err != nil {
		t.Fatal(err)
	}
	got := inv.Listed()
	if len(got) != 3 {
		t.Fatalf("%d miners, want 3: %+v", len(got), got)
	}
	last := time.Date(2026, 12, 1, 9, 30, 0, 123456789, time.UTC)
	want := []Record{
		{Address: "10.20.0.11:4028", Site: "north", Model: "Antminer S19 Pro", Firmware: "stock", Family: "antminer", Module: "s19", Protocol: CGMiner, Port: 4028},
		{Address: "10.20.0.13:4028", Site: "north", MAC: "c6:02:14:00:1f:b3", Model: "Whatsminer M30S", Firmware: "stock", Family: "whatsminer", Module: "default", Protocol: CGMiner, Port: 4028},
		{Address: "10.20.1.200:4029", Site: "south", Model: "Antminer S19k Pro", Firmware: "luxos", Family: "luxos", Module: "default", Protocol: CGMiner, Port: 4029},
	}
	for i, w := range want {
		g := got[i]
		if g.Address != w.Address || g.Site != w.Site || g.MAC != w.MAC || g.Model != w.Model || g.Firmware != w.Firmware ||
			g.Family != w.Family || g.Module != w.Module || g.Protocol != w.Protocol || g.Port != w.Port {
			t.Errorf("miner %d: %+v, want %+v", i, g, w)
		}
		if !g.Identified.Equal(g.LastSeen) {
			t.Errorf("%s: identified %s, want its last_seen %s", g.Address, g.Identified, g.LastSeen)
		}
	}
	if !got[0].LastSeen.Equal(last) || got[0].Labels["region"] != "eu" || got[2].Labels != nil {
		t.Errorf("times or labels: %+v", got)
	}
}

func TestLoadBad(t *testing.T) {
	tests := []struct {
		name, data string
		err        bool
		loaded     int
	}{
		{name: "not JSON", data: "garbage", err: true},
		{name: "unknown version", data: `{"version":9,"miners":[]}`, err: true},
		{name: "no version", data: `{"miners":[{"address":"10.0.0.1:4028","protocol":"cgminer"}]}`, err: true},
		{name: "truncated", data: `{"version":2,"miners":[{"address":"10.0.0.1:4028"}`, err: true},
		{name: "malformed records skipped", loaded: 1, data: `{"version":2,"miners":[
{"address":"10.0.0.1:4028","protocol":"cgminer"},
{"address":"not an address"},
{"address":"10.0.0.2:0"},
{"address":"10.0.0.3:4028","protocol":"Bad Protocol!"},
{"address":"10.0.0.4:4028","model":"` + strings.Repeat("x", 2000) + `"},
{"address":"[fe80::1%lo]:4028"}
]}`},
		{name: "unknown keys skipped", loaded: 1, data: `{"version":2,"written_by":{"x":1},"miners":[{"address":"10.0.0.1:4028","future":[1,2]}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "inv.json")
			if err := os.WriteFile(file, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			inv := New(Options{File: file})
			err := inv.Load()
			if (err != nil) != tc.err {
				t.Errorf("err %v, want error %v", err, tc.err)
			}
			if n := inv.Len(); n != tc.loaded || int(inv.n.Load()) != n {
				t.Errorf("%d records (count %d), want %d", n, inv.n.Load(), tc.loaded)
			}
		})
	}
	// The cap holds for a file too.
	file := filepath.Join(t.TempDir(), "inv.json")
	big := New(Options{File: file})
	for i := range 300 {
		big.Observe(fmt.Sprintf("10.0.%d.%d:4028", i/256, i%256), Facts{Protocol: CGMiner}, t0)
	}
	if err := big.Save(); err != nil {
		t.Fatal(err)
	}
	small := New(Options{File: file, MaxRecords: 100})
	if err := small.Load(); err != nil || small.Len() != 100 {
		t.Errorf("loaded %d of 300 with a cap of 100 (err %v)", small.Len(), err)
	}
}

// The file is written in batches: an answer never writes it; Tick writes it when a fact changed,
// and when only times changed at most every ten intervals. A failed write leaves the old file
// and is retried at the next tick.
func TestBatchedSaves(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "inv.json")
	inv := New(Options{File: file})
	const every = time.Minute
	inv.Observe("10.0.0.1:4028", Facts{Protocol: CGMiner, Family: "antminer"}, t0)
	if _, err := os.Stat(file); err == nil {
		t.Fatal("an answer wrote the file")
	}
	now := time.Now()
	inv.Tick(now, every)
	first, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("Tick after a change did not write the file: %v", err)
	}
	saves := inv.lastSave.Load()
	inv.Observe("10.0.0.1:4028", Facts{Protocol: CGMiner, Family: "antminer"}, t0.Add(time.Minute)) // only times
	inv.Tick(now.Add(every), every)
	if inv.lastSave.Load() != saves {
		t.Error("a change of times alone was written at the next tick")
	}
	inv.Tick(now.Add(10*every), every)
	if inv.lastSave.Load() == saves {
		t.Error("a change of times was not written after ten intervals")
	}
	saves = inv.lastSave.Load()
	inv.Tick(now.Add(11*every), every)
	if inv.lastSave.Load() != saves {
		t.Error("a tick without changes wrote the file")
	}

	if data, _ := os.ReadFile(file); string(data) == string(first) {
		t.Error("the file did not change after ten intervals")
	}

	// A write that fails (here the rename: a directory is in the file's place) stays due and
	// leaves no temporary file behind.
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	bad := New(Options{File: blocked})
	bad.Observe("10.0.0.2:4028", Facts{Protocol: CGMiner}, t0)
	if err := bad.Save(); err == nil {
		t.Fatal("a save over a directory succeeded")
	}
	if !bad.dirty.Load() {
		t.Error("a failed save is no longer due")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("files left in the directory: %v", entries)
	}
}

func TestPrune(t *testing.T) {
	inv := New(Options{MaxAge: time.Hour})
	inv.Observe("10.0.0.1:4028", Facts{Protocol: CGMiner}, t0)
	inv.Observe("10.0.0.2:4028", Facts{Protocol: CGMiner}, t0)
	inv.List("10.0.0.2:4028", Listing{Site: "north"})
	inv.Observe("10.0.0.3:4028", Facts{Protocol: CGMiner}, t0.Add(2*time.Hour))
	inv.Tick(t0.Add(2*time.Hour), time.Minute)
	if _, ok := inv.Get("10.0.0.1:4028"); ok {
		t.Error("an unlisted record silent for 2h kept with a max age of 1h")
	}
	if _, ok := inv.Get("10.0.0.2:4028"); !ok {
		t.Error("a listed record pruned (discovery's forget_after decides for those)")
	}
	if _, ok := inv.Get("10.0.0.3:4028"); !ok || inv.Len() != 2 {
		t.Error("a fresh record pruned")
	}
}

// The file's hand-written JSON reads back as encoding/json reads it: every string, however
// hostile, and every field of a record.
func TestAppendJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "ctl \x00\x01\x1f\x7f", "bad utf-8 \xff\xfe end", "\u2028\u2029 ünïcödé 中文", strings.Repeat("x", 1000)} {
		var back string
		if err := json.Unmarshal(appendString(nil, s), &back); err != nil || back != strings.ToValidUTF8(s, "\uFFFD") && !strings.Contains(s, "\xff") {
			t.Errorf("%q: %q, %v", s, back, err)
		}
		if strings.Contains(s, "\xff") && back != "bad utf-8 \uFFFD\uFFFD end" {
			t.Errorf("%q: %q", s, back)
		}
	}
	e := &entry{protocol: intern(WhatsminerV3), family: intern("whatsminer-v3"), model: intern(`Whatsminer "M60S"`), firmware: intern("stock"),
		site: intern("north"), module: intern("default"), serial: "HKM60S0001", mac: "c6:02:14:00:1f:b3", labels: map[string]string{"b": "2", "a": "1"},
		port: 4433, first: t0.UnixNano(), last: t0.Add(time.Hour).UnixNano(), identified: t0.UnixNano(), noJoin: t0.Add(2 * time.Hour).UnixNano()}
	var got Record
	if err := json.Unmarshal(appendRecord(nil, "10.0.0.1:4028", e), &got); err != nil {
		t.Fatal(err)
	}
	if want := e.record("10.0.0.1:4028"); !sameRecord(got, want) {
		t.Errorf("\ngot  %+v\nwant %+v", got, want)
	}
}
