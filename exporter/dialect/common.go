package dialect

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// units says what the miner's unit-named fields really hold. Most firmware is honest; Bitmain's
// scrypt, X11 and Ethash models (L3+, D3, E3) label MH/s values "GHS".
type units struct {
	ghs float64 // multiplier for fields named GHS (1e9, or 1e6 for the liars)
}

var defaultUnits = units{ghs: 1e9}

func (u units) of(prefix string) float64 {
	switch strings.ToUpper(prefix) {
	case "H":
		return 1
	case "K":
		return 1e3
	case "M":
		return 1e6
	case "G":
		return u.ghs
	case "T":
		return 1e12
	case "P":
		return 1e15
	}
	return 0
}

// rateFields finds the hashrate fields of an object ("GHS 5s", "MHS av", "MHS 30s", "THS 1m") and
// returns the shortest window's value and the average, both in H/s.
func rateFields(v cgminer.Value, u units) (current, average miner.F) {
	best := -1.0
	for _, m := range v.Members() {
		k := m.Key
		if len(k) < 5 || k[1:4] != "HS " {
			continue
		}
		mult := u.of(k[:1])
		if mult == 0 {
			continue
		}
		f, ok := m.Value.Float()
		if !ok {
			continue
		}
		w := k[4:]
		if w == "av" {
			if !average.Set {
				average = miner.Some(f * mult)
			}
			continue
		}
		secs, ok := window(w)
		if !ok {
			continue
		}
		if best < 0 || secs < best {
			best = secs
			current = miner.Some(f * mult)
		}
	}
	return current, average
}

// window parses "5s", "30s", "1m", "15m", "24h".
func window(w string) (float64, bool) {
	if len(w) < 2 {
		return 0, false
	}
	n, err := strconv.ParseFloat(w[:len(w)-1], 64)
	if err != nil {
		return 0, false
	}
	switch w[len(w)-1] {
	case 's':
		return n, true
	case 'm':
		return n * 60, true
	case 'h':
		return n * 3600, true
	}
	return 0, false
}

// maxNumber bounds a board or fan number read from a miner (firmware numbers them below 20),
// keeping the label short and the arithmetic on it far from overflow.
const maxNumber = 1 << 20

// number reads the first of keys that holds a whole number from 0 to maxNumber (a JSON number or
// a numeric string) as its canonical decimal text: the firmware's own number for a board or a fan,
// written the same way whatever the miner's spelling ("06", 6.0).
func number(v cgminer.Value, keys ...string) (string, bool) {
	for _, k := range keys {
		if f, ok := v.FloatKey(k); ok && f >= 0 && f <= maxNumber && f == math.Trunc(f) {
			return strconv.Itoa(int(f)), true
		}
	}
	return "", false
}

// numberOr is number, or the position i when none of keys holds one.
func numberOr(v cgminer.Value, i int, keys ...string) string {
	if n, ok := number(v, keys...); ok {
		return n
	}
	return strconv.Itoa(i)
}

func num(v cgminer.Value, keys ...string) miner.F {
	for _, k := range keys {
		if f, ok := v.FloatKey(k); ok {
			return miner.Some(f)
		}
	}
	return miner.F{}
}

// positive is num that treats 0 and below as absent: firmware writes 0 for a sensor it lacks.
func positive(v cgminer.Value, keys ...string) miner.F {
	f := num(v, keys...)
	if f.Set && f.V <= 0 {
		return miner.F{}
	}
	return f
}

func scaled(f miner.F, mult float64) miner.F {
	if f.Set {
		f.V *= mult
	}
	return f
}

func boolF(b bool) miner.F {
	if b {
		return miner.Some(1)
	}
	return miner.Some(0)
}

// readCommon fills what every cgminer-style API says the same way: summary counters and
// hashrates, pools, devs, the API version and the MAC address where the firmware gives one
// (Canaan in version, MicroBT in summary).
func readCommon(r replies, s *miner.Snapshot, u units) {
	ver := r.first(cgminer.Version, "VERSION")
	if ver.Kind() == cgminer.Object {
		s.APIVersion = ver.StrKey("API")
	}
	sum := r.first(cgminer.Summary, "SUMMARY")
	if s.MAC = macAddress(ver.StrKey("MAC")); s.MAC == "" {
		s.MAC = macAddress(sum.StrKey("MAC"))
	}
	if sum.Kind() == cgminer.Object {
		s.Uptime = num(sum, "Elapsed")
		s.Hashrate, s.HashrateAverage = rateFields(sum, u)
		if mh, ok := sum.FloatKey("Total MH"); ok && mh > 0 {
			s.HashesTotal = miner.Some(mh * 1e6)
		}
		s.SharesAccepted = num(sum, "Accepted")
		s.SharesRejected = num(sum, "Rejected")
		s.SharesStale = num(sum, "Stale")
		s.HardwareErrors = num(sum, "Hardware Errors")
		s.DifficultyAccepted = num(sum, "Difficulty Accepted")
		s.DifficultyRejected = num(sum, "Difficulty Rejected")
	}
	readPools(r, s)
	readDevs(r, s)
}

func readPools(r replies, s *miner.Snapshot) {
	rep := r.get(cgminer.Pools)
	if rep == nil {
		return
	}
	var when float64
	if len(rep.Status) > 0 {
		when = float64(rep.Status[0].When)
	}
	for i, p := range rep.Section("POOLS") {
		if strings.TrimSpace(p.StrKey("URL")) == "" {
			continue // an unused pool slot (VNish lists them)
		}
		if len(s.Pools) == r.lim.Pools {
			s.Truncate(miner.CutPools)
			break
		}
		idx := p.StrKey("POOL")
		if idx == "" {
			idx = strconv.Itoa(i)
		}
		pool := miner.Pool{
			Index:              idx,
			URL:                p.StrKey("URL"),
			User:               p.StrKey("User"),
			Priority:           num(p, "Priority"),
			SharesAccepted:     num(p, "Accepted"),
			SharesRejected:     num(p, "Rejected"),
			DifficultyAccepted: num(p, "Difficulty Accepted"),
			LastShareTime:      lastShare(p.Get("Last Share Time"), when),
		}
		if st := p.StrKey("Status"); st != "" {
			pool.Up = boolF(strings.EqualFold(st, "Alive"))
		}
		if b, ok := p.Get("Stratum Active").Truth(); ok {
			pool.Active = boolF(b)
		}
		s.Pools = append(s.Pools, pool)
	}
}

// lastShare reads a pool's Last Share Time: an epoch (cgminer, btminer, bosminer) or the time
// since the share as "H:MM:SS" (bmminer, LuxOS), which needs the reply's When. 0 means never.
func lastShare(v cgminer.Value, when float64) miner.F {
	if f, ok := v.Float(); ok {
		if f > 1e9 {
			return miner.Some(f)
		}
		return miner.F{}
	}
	str := strings.TrimSpace(v.Str())
	parts := strings.Split(str, ":")
	if len(parts) != 3 || when < 1e9 {
		return miner.F{}
	}
	var secs float64
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return miner.F{}
		}
		secs = secs*60 + float64(n)
	}
	return miner.Some(when - secs)
}

func readDevs(r replies, s *miner.Snapshot) {
	for i, d := range r.section(cgminer.Devs, "DEVS") {
		if i == r.lim.Devices {
			s.Truncate(miner.CutDevices)
			break
		}
		id := d.StrKey("ID")
		if id == "" {
			id = d.StrKey("ASC")
		}
		if id == "" {
			id = strconv.Itoa(i)
		}
		dev := miner.Device{ID: id}
		if st := d.StrKey("Status"); st != "" {
			dev.Alive = boolF(strings.EqualFold(st, "Alive"))
		}
		if b, ok := d.Get("Enabled").Truth(); ok {
			dev.Enabled = boolF(b)
		}
		s.Devices = append(s.Devices, dev)
	}
	sort.SliceStable(s.Devices, func(i, j int) bool { return lessNumeric(s.Devices[i].ID, s.Devices[j].ID) })
}

func lessNumeric(a, b string) bool {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return x < y
	}
	return a < b
}

// softwareFromDescription takes the software name from a STATUS Description such as
// "cgminer 4.11.1", "bmminer 2.4.0-asicseer" or "sgminer 5.5.6".
func softwareFromDescription(desc string) string {
	f := strings.Fields(desc)
	if len(f) == 0 {
		return ""
	}
	return strings.ToLower(f[0])
}

func versionFromDescription(desc string) string {
	f := strings.Fields(desc)
	if len(f) < 2 {
		return ""
	}
	return strings.Join(f[1:], " ")
}

// readGeneric serves vendor cgminer forks and sgminer-likes: the common fields, the model from
// devdetails or stats where the fork gives one, and devs as boards when they look like boards.
func readGeneric(r replies, s *miner.Snapshot) {
	desc := r.description(cgminer.Version, cgminer.Summary, cgminer.Devs)
	s.Software = softwareFromDescription(desc)
	s.SoftwareVersion = versionFromDescription(desc)
	id := r.identity()
	for _, k := range []string{"CGMiner", "SGMiner", "BFGMiner", "GCMiner", "Miner"} {
		if v := id.StrKey(k); v != "" && k != "Miner" {
			s.SoftwareVersion = v
			break
		}
	}
	s.Firmware = "stock"
	s.Model = firstNonEmpty(id.StrKey("Type"), id.StrKey("Model"), id.StrKey("PROD"),
		r.first(cgminer.DevDetails, "DEVDETAILS").StrKey("Model"))
	readCommon(r, s, defaultUnits)
	// Per-device hashrate and temperature: the devs of these forks are the hashboards, numbered
	// as the device label numbers them (ID, else the ASC/PGA/GPU number).
	for i, d := range r.section(cgminer.Devs, "DEVS") {
		if i == r.lim.Boards {
			s.Truncate(miner.CutBoards)
			break
		}
		b := miner.Board{Index: i, Name: numberOr(d, i, "ID", "ASC", "PGA", "GPU"), Present: true}
		b.Hashrate, _ = rateFields(d, defaultUnits)
		if t := positive(d, "Temperature"); t.Set {
			b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "board", Celsius: t.V})
		}
		b.HardwareErrors = num(d, "Hardware Errors")
		s.Boards = append(s.Boards, b)
	}
}

// firstNonEmpty returns the first value that names something: some forks write a device index
// ("0") where the model belongs.
func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if _, err := strconv.Atoi(s); err == nil {
			continue
		}
		return s
	}
	return ""
}
