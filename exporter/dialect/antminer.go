package dialect

import (
	"strconv"
	"strings"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// readAntminer reads Bitmain's bmminer/cgminer and the firmware built on it (VNish, Hiveon,
// asicseer, MSKminer): identity from the stats version block, boards from the chain_* fields.
func readAntminer(r replies, s *miner.Snapshot) {
	id := r.identity()
	model, fw := splitType(r.statsType())
	s.Model = model
	sw, swVersion := bitmainSoftware(r)
	s.Software, s.SoftwareVersion = sw, swVersion
	lower := strings.ToLower(swVersion)
	switch {
	case fw != "":
	case strings.Contains(lower, "asicseer"):
		fw = "asicseer"
	case hasStatsKey(r, "Cgminer") || hasDevFee(r):
		// VNish's stats version block spells it "Cgminer"; its DevFee pool gives it away too.
		fw = "vnish"
	case strings.Contains(lower, "rwglr") || strings.Contains(lower, "mskminer"):
		fw = "custom"
	case strings.HasPrefix(strings.ToLower(id.StrKey("BMMiner")), "bos_"):
		fw = "braiins"
	default:
		fw = "stock"
	}
	s.Firmware = fw
	u := unitsFor(model)
	drv := bitmainDriver(r)
	if ru := drv.StrKey("rate_unit"); ru != "" {
		if m := u.of(ru[:1]); m > 0 {
			u.ghs = m
		}
	}
	readCommon(r, s, u)
	readBitmainStats(drv, s, u, r.lim)
}

// bitmainSoftware names the software from the version block: BMMiner, CGMiner (VNish writes
// Cgminer), or the STATUS Description.
func bitmainSoftware(r replies) (name, version string) {
	for _, v := range []cgminer.Value{r.first(cgminer.Version, "VERSION"), r.identity()} {
		for _, k := range []string{"BMMiner", "CGMiner", "Cgminer", "cgminer"} {
			if s := v.StrKey(k); s != "" {
				return strings.ToLower(k), s
			}
		}
	}
	for _, st := range r.section(cgminer.Stats, "STATS") {
		for _, k := range []string{"BMMiner", "CGMiner", "Cgminer"} {
			if s := st.StrKey(k); s != "" {
				return strings.ToLower(k), s
			}
		}
	}
	desc := r.description(cgminer.Version, cgminer.Stats, cgminer.Summary)
	return softwareFromDescription(desc), versionFromDescription(desc)
}

func hasStatsKey(r replies, key string) bool {
	for _, st := range r.section(cgminer.Stats, "STATS") {
		if _, ok := st.Lookup(key); ok {
			return true
		}
	}
	return false
}

// hasDevFee finds VNish's DevFee placeholder pool: URL and worker both "DevFee", a URL no pool a
// user adds can mine on. A worker called DevFee on a real pool says nothing about the firmware.
func hasDevFee(r replies) bool {
	for _, p := range r.section(cgminer.Pools, "POOLS") {
		if strings.EqualFold(strings.TrimSpace(p.StrKey("URL")), "DevFee") && strings.EqualFold(p.StrKey("User"), "DevFee") {
			return true
		}
	}
	return false
}

// bitmainDriver is the stats entry of the mining driver (STATS[1] on Bitmain firmware): the one
// with the chain_* or GHS fields.
func bitmainDriver(r replies) cgminer.Value {
	for _, st := range r.section(cgminer.Stats, "STATS") {
		for _, m := range st.Members() {
			if strings.HasPrefix(m.Key, "chain_") || strings.HasPrefix(m.Key, "GHS ") {
				return st
			}
		}
	}
	return cgminer.Value{}
}

// maxChainNumber bounds the chain numbers read from chain_*N keys: Bitmain numbers chains from
// 1 (S9-era from 6). A larger number is not a chain, and the slot arithmetic stays far from
// overflow.
const maxChainNumber = 1 << 20

// chainPrefixes are the per-chain keys of the driver block, longest first where one is the
// prefix of another.
var chainPrefixes = []string{"chain_acn", "chain_acs", "chain_rateideal", "chain_rate", "chain_hw"}

// chainKey splits a chain_*N key into its prefix and N (ok is false for any other key).
func chainKey(key string) (prefix string, n int, ok bool) {
	if !strings.HasPrefix(key, "chain_") {
		return "", 0, false
	}
	for _, p := range chainPrefixes {
		if strings.HasPrefix(key, p) {
			n, err := strconv.Atoi(key[len(p):])
			return p, n, err == nil && n > 0
		}
	}
	return "", 0, false
}

// chainSpan reads the chain numbers of the driver block in one pass: the smallest any chain_*N
// key mentions, and the smallest and largest of a populated chain (chips counted, hashrate, or
// o/x in chain_acs), all 0 when there is none; skipped reports keys whose N is beyond
// maxChainNumber. (Where firmware repeats a key, any of its values can make the chain populated.)
func chainSpan(drv cgminer.Value) (first, lo, hi int, skipped bool) {
	for _, m := range drv.Members() {
		p, n, ok := chainKey(m.Key)
		if !ok {
			continue
		}
		if n > maxChainNumber {
			skipped = true
			continue
		}
		if first == 0 || n < first {
			first = n
		}
		populated := false
		switch p {
		case "chain_acn", "chain_rate":
			f, ok := m.Value.Float()
			populated = ok && f > 0
		case "chain_acs":
			populated = strings.ContainsAny(m.Value.Str(), "ox")
		}
		if populated {
			if lo == 0 || n < lo {
				lo = n
			}
			hi = max(hi, n)
		}
	}
	return first, lo, hi, skipped
}

// hasChainKeys reports whether the driver block has any chain_*N key.
func hasChainKeys(drv cgminer.Value) bool {
	first, _, _, _ := chainSpan(drv)
	return first > 0
}

// readBitmainStats maps the driver block: chains to boards, fans, temperatures, mode.
func readBitmainStats(drv cgminer.Value, s *miner.Snapshot, u units, lim miner.Limits) {
	if drv.Kind() != cgminer.Object {
		return
	}
	if !s.Hashrate.Set || !s.HashrateAverage.Set {
		cur, avg := rateFields(drv, u)
		if !s.Hashrate.Set {
			s.Hashrate = cur
		}
		if !s.HashrateAverage.Set {
			s.HashrateAverage = avg
		}
	}
	if !s.Uptime.Set {
		s.Uptime = num(drv, "Elapsed")
	}
	if f := positive(drv, "total_rateideal"); f.Set {
		s.HashrateNominal = scaled(f, u.ghs)
	}
	model, _ := LookupModel(s.Model)
	readChains(drv, s, u, model.Boards, lim.Boards)
	readBitmainFans(drv, s, model.Fans, lim.Fans)
	if t := positive(drv, "temp_max"); t.Set {
		s.Temperatures = append(s.Temperatures, miner.Temperature{Sensor: "max", Celsius: t.V})
	}
	if p := positive(drv, "chain_power"); p.Set {
		s.Power = p
	}
	s.Sleeping = bitmainSleeping(drv, s)
}

func chainPopulated(drv cgminer.Value, n int) bool {
	ns := strconv.Itoa(n)
	if f, ok := drv.FloatKey("chain_acn" + ns); ok && f > 0 {
		return true
	}
	if f, ok := drv.FloatKey("chain_rate" + ns); ok && f > 0 {
		return true
	}
	return strings.ContainsAny(drv.StrKey("chain_acs"+ns), "ox")
}

func readChains(drv cgminer.Value, s *miner.Snapshot, u units, expected, limit int) {
	first, lo, hi, skipped := chainSpan(drv)
	if skipped {
		s.Truncate(miner.CutBoards)
	}
	if first == 0 {
		return
	}
	// Chain numbers start at a model-dependent offset (S9-era: 6–8): boards are numbered from the
	// first block of five that holds a board; empty slots inside the model's count stay listed.
	base, last := first, 0
	if lo > 0 {
		base, last = (lo-1)/5*5+1, hi
	}
	if expected > 0 && base+expected-1 > last {
		last = base + expected - 1
	}
	if last-base >= limit {
		last = base + limit - 1
		s.Truncate(miner.CutBoards)
	}
	for n := base; n <= last; n++ {
		k := strconv.Itoa(n)
		// The board is the chain's own number, as Bitmain's status page shows it ("Chain#"):
		// S9-era chains stay 6–8.
		b := miner.Board{Index: n - base, Name: k, Present: chainPopulated(drv, n)}
		if b.Present {
			b.Chips = num(drv, "chain_acn"+k)
			if acs := drv.StrKey("chain_acs" + k); strings.ContainsAny(acs, "ox") {
				b.ChipsFailed = miner.Some(float64(strings.Count(acs, "x")))
				if !b.Chips.Set {
					b.Chips = miner.Some(float64(strings.Count(acs, "o") + strings.Count(acs, "x")))
				}
			}
			b.Hashrate = scaled(num(drv, "chain_rate"+k), u.ghs)
			b.HashrateNominal = scaled(positive(drv, "chain_rateideal"+k), u.ghs)
			b.HardwareErrors = num(drv, "chain_hw"+k)
			if t := maxDashed(drv.StrKey("temp_chip" + k)); t.Set {
				b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "chip", Celsius: t.V})
			} else if t := positive(drv, "temp2_"+k); t.Set {
				b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "chip", Celsius: t.V})
			}
			if t := maxDashed(drv.StrKey("temp_pcb" + k)); t.Set {
				b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "pcb", Celsius: t.V})
			} else if t := positive(drv, "temp"+k); t.Set {
				b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "pcb", Celsius: t.V})
			}
		}
		s.Boards = append(s.Boards, b)
	}
}

// maxDashed reads Bitmain's dash-joined sensor strings ("73-45-64-65"): the hottest sensor, or
// absent when every sensor reads 0 ("0-0-0-0" is an empty slot).
func maxDashed(v string) miner.F {
	var out miner.F
	for len(v) > 0 {
		p := v
		if i := strings.IndexByte(v, '-'); i >= 0 {
			p, v = v[:i], v[i+1:]
		} else {
			v = ""
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f <= 0 {
			continue
		}
		if !out.Set || f > out.V {
			out = miner.Some(f)
		}
	}
	return out
}

// fanNumber reads the N of a fanN key (0 for any other key).
func fanNumber(key string) int {
	if !strings.HasPrefix(key, "fan") {
		return 0
	}
	n, err := strconv.Atoi(key[3:])
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// readBitmainFans picks the model's fans out of fan1…fan16: they sit in a block of four starting
// at a model-dependent number (S9: fan5, fan6); the first block with a spinning fan is theirs.
// Only the fanN keys present are read, and at most limit fans from the block's start: neither
// fan_num nor a key's number sizes a loop.
func readBitmainFans(drv cgminer.Value, s *miner.Snapshot, expected, limit int) {
	found, minSpin, maxSpin := false, 0, 0
	for _, m := range drv.Members() {
		n := fanNumber(m.Key)
		if n == 0 {
			continue
		}
		f, ok := m.Value.Float()
		if !ok {
			continue
		}
		found = true
		if f > 0 {
			if minSpin == 0 || n < minSpin {
				minSpin = n
			}
			if n > maxSpin {
				maxSpin = n
			}
		}
	}
	if !found {
		return
	}
	base := 0
	if minSpin > 0 {
		base = (minSpin-1)/4*4 + 1
	}
	count := expected
	if count == 0 {
		if f, ok := drv.FloatKey("fan_num"); ok && f >= 1 {
			count = int(min(f, float64(limit+1)))
		}
	}
	if base == 0 {
		if count == 0 {
			return
		}
		base = 1
	}
	if count == 0 {
		count = maxSpin - base + 1 // up to the highest spinning fan
	}
	if count > limit {
		count = limit
		s.Truncate(miner.CutFans)
	}
	rpm := make([]miner.F, count)
	for _, m := range drv.Members() {
		n := fanNumber(m.Key)
		if n < base || n-base >= count {
			continue
		}
		if f, ok := m.Value.Float(); ok {
			rpm[n-base] = miner.Some(f) // a repeated key: the last wins
		}
	}
	// A fan is named by its fanN, as Bitmain's status page heads it (Fan1…Fan8: the S9's
	// fans are Fan5 and Fan6).
	for i, f := range rpm {
		if f.Set {
			s.Fans = append(s.Fans, miner.Fan{Name: strconv.Itoa(base + i), RPM: f.V})
		}
	}
}

// bitmainSleeping tells deliberate sleep from failure. Stock firmware in sleep mode reports
// Mode 254 (S17/T17 generation) or, on the S19 generation, every detected chain with all chips
// marked x and no hashrate while the fans idle; VNish says it in "state".
func bitmainSleeping(drv cgminer.Value, s *miner.Snapshot) miner.F {
	if m, ok := drv.FloatKey("Mode"); ok && m == 254 {
		return miner.Some(1)
	}
	if st := strings.ToLower(drv.StrKey("state")); st != "" {
		switch {
		case st == "mining" || st == "running" || st == "starting" || st == "initializing":
			return miner.Some(0)
		case strings.Contains(st, "sleep") || strings.Contains(st, "idle") || strings.Contains(st, "stop") ||
			strings.Contains(st, "pause") || strings.Contains(st, "suspend"):
			return miner.Some(1)
		}
	}
	present, allX := 0, true
	for _, b := range s.Boards {
		if !b.Present {
			continue
		}
		present++
		if !b.Chips.Set || !b.ChipsFailed.Set || b.ChipsFailed.V < b.Chips.V || (b.Hashrate.Set && b.Hashrate.V > 0) {
			allX = false
		}
	}
	if present > 0 && allX && (!s.Hashrate.Set || s.Hashrate.V == 0) {
		return miner.Some(1)
	}
	return miner.Some(0)
}
