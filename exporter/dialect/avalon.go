package dialect

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// bracket matches Canaan's `Key[value]` tokens inside an "MM ID" string.
var bracket = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\[([^\]]*)\]`)

// maxMMFields bounds the Key[value] fields read from one packed string: the richest capture
// (Avalon Q) has 67.
const maxMMFields = 1024

// mmFields parses one "MM ID" string into its tokens (first occurrence of a key wins), at most
// maxMMFields of them (Snapshot.Truncated says "fields" when there were more).
func mmFields(str string, s *miner.Snapshot) map[string]string {
	ms := bracket.FindAllStringSubmatchIndex(str, maxMMFields+1)
	if len(ms) > maxMMFields {
		ms = ms[:maxMMFields]
		s.Truncate(miner.CutFields)
	}
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		k := str[m[2]:m[3]]
		if _, dup := out[k]; !dup {
			out[k] = strings.TrimSpace(str[m[4]:m[5]])
		}
	}
	return out
}

func mmFloat(f map[string]string, key string) miner.F {
	v, ok := f[key]
	if !ok {
		return miner.F{}
	}
	v = strings.TrimSuffix(strings.TrimSpace(v), "%")
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return miner.F{}
	}
	return miner.Some(n)
}

// mmList reads a space-separated list of numbers ("MGHS[12362.61 12812.16]"), at most max of
// them; more reports whether the list went on beyond.
func mmList(f map[string]string, key string, max int) (out []float64, more bool) {
	for p := range strings.FieldsSeq(f[key]) {
		n, err := strconv.ParseFloat(p, 64)
		if err != nil {
			continue
		}
		if len(out) == max {
			return out, true
		}
		out = append(out, n)
	}
	return out, false
}

// countFields counts the space-separated fields of s, stopping at max.
func countFields(s string, max int) int {
	n := 0
	for range strings.FieldsSeq(s) {
		if n++; n == max {
			break
		}
	}
	return n
}

type mmModule struct {
	key    string
	num    int  // the number after "MM ID"
	numOK  bool // whether it is one
	raw    string
	fields map[string]string
	hb     string // the HBinfo string of the same stats entry, when separate
}

// avalonModules collects the MM ID strings of stats and estats, in key order, and parses the
// first limit of them (Snapshot.Truncated says "boards" when there were more).
func avalonModules(r replies, s *miner.Snapshot, limit int) []mmModule {
	var mods []mmModule
	seen := map[string]bool{}
	for _, c := range []cgminer.Command{cgminer.EStats, cgminer.Stats} {
		for _, st := range r.section(c, "STATS") {
			hb := st.StrKey("HBinfo")
			for _, m := range st.Members() {
				if !strings.HasPrefix(m.Key, "MM ID") || m.Value.Kind() != cgminer.String {
					continue
				}
				id := strings.TrimSuffix(m.Key, ":Summary")
				if seen[id] {
					continue
				}
				seen[id] = true
				num, err := strconv.Atoi(strings.TrimPrefix(id, "MM ID"))
				mods = append(mods, mmModule{key: id, num: num, numOK: err == nil, raw: m.Value.Str(), hb: hb})
			}
		}
		if len(mods) > 0 {
			break
		}
	}
	sort.SliceStable(mods, func(i, j int) bool {
		a, b := mods[i], mods[j]
		if a.numOK && b.numOK {
			return a.num < b.num
		}
		return strings.TrimPrefix(a.key, "MM ID") < strings.TrimPrefix(b.key, "MM ID")
	})
	if len(mods) > limit {
		mods = mods[:limit]
		s.Truncate(miner.CutBoards)
	}
	for i := range mods {
		mods[i].fields = mmFields(mods[i].raw, s)
	}
	return mods
}

// avalonModel names the model from version's PROD ("Avalon Q", "AvalonMiner 1047") or the
// module's Ver ("1047-20051101_…" → Avalon 1047, "7411706-…" → Avalon 741).
func avalonModel(r replies, mods []mmModule) string {
	v := r.first(cgminer.Version, "VERSION")
	if p := v.StrKey("PROD"); p != "" {
		p = strings.TrimSpace(strings.Replace(p, "AvalonMiner", "Avalon", 1))
		return p
	}
	if len(mods) == 0 {
		return ""
	}
	ver := mods[0].fields["Ver"]
	head := ver
	if i := strings.IndexAny(ver, "-_"); i > 0 {
		head = ver[:i]
	}
	if len(head) == 7 { // 7411706: model 741, built 2017-06
		head = head[:3]
	}
	if head == "" {
		return "Avalon"
	}
	return "Avalon " + head
}

// readAvalon reads Canaan's cgminer: everything about the hardware is packed into "MM ID"
// strings of Key[value] tokens (hashrate per board in MGHS, chip temperatures per board in
// MTmax, fans, inlet temperature, the work state in SYSTEMSTATU).
func readAvalon(r replies, s *miner.Snapshot) {
	s.Firmware = "stock"
	id := r.first(cgminer.Version, "VERSION")
	s.Software, s.SoftwareVersion = "cgminer", id.StrKey("CGMiner")
	if s.SoftwareVersion == "" {
		desc := r.description(cgminer.Summary, cgminer.Stats)
		s.Software, s.SoftwareVersion = softwareFromDescription(desc), versionFromDescription(desc)
	}
	mods := avalonModules(r, s, r.lim.Boards)
	s.Model = avalonModel(r, mods)
	readCommon(r, s, defaultUnits)
	// Canaan reports no sticker serial; its DNA is the controller's unique hardware ID: in
	// version, else in the MM ID0 string of a one-controller miner (with several modules each
	// DNA is a module's).
	s.Serial = serialNumber(id.StrKey("DNA"))
	if s.Serial == "" && len(mods) == 1 {
		s.Serial = serialNumber(mods[0].fields["DNA"])
	}
	if len(mods) == 0 {
		return
	}
	first := mods[0].fields
	if len(mods) == 1 {
		// One controller: boards are the entries of MGHS.
		ghs, more := mmList(first, "MGHS", r.lim.Boards)
		if more {
			s.Truncate(miner.CutBoards)
		}
		tmax, _ := mmList(first, "MTmax", len(ghs))
		var hb map[string]string // HBinfo's fields, parsed once when a board needs them
		for i, g := range ghs {
			// Numbered from 0, as the same string numbers the boards' fields (PVT_T0, MW0, SF0).
			b := miner.Board{Index: i, Name: strconv.Itoa(i), Present: true, Hashrate: miner.Some(g * 1e9)}
			if i < len(tmax) && tmax[i] > 0 {
				b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "chip", Celsius: tmax[i]})
			}
			pvt := first["PVT_T"+strconv.Itoa(i)]
			if pvt == "" && mods[0].hb != "" {
				if hb == nil {
					hb = mmFields(mods[0].hb, s)
				}
				pvt = hb["PVT_T"+strconv.Itoa(i)]
			}
			// One temperature per chip: the count is the chips (above the limit it is dropped
			// as implausible, so counting stops just past it).
			if n := countFields(pvt, r.lim.ChipsPerBoard+1); n > 0 {
				b.Chips = miner.Some(float64(n))
			}
			s.Boards = append(s.Boards, b)
		}
	} else {
		// Several modules on one controller (Avalon 7/8 chains): each module is a board.
		for i, m := range mods {
			// A module is named by its MM ID number, as the controller numbers it.
			name := strconv.Itoa(i)
			if m.numOK && m.num >= 0 && m.num <= maxNumber {
				name = strconv.Itoa(m.num)
			}
			b := miner.Board{Index: i, Name: name, Present: true}
			if g := mmFloat(m.fields, "GHSmm"); g.Set {
				b.Hashrate = miner.Some(g.V * 1e9)
			}
			if t := mmFloat(m.fields, "TMax"); t.Set && t.V > 0 {
				b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "chip", Celsius: t.V})
			}
			if t := mmFloat(m.fields, "Temp"); t.Set && t.V > -273 {
				b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "inlet", Celsius: t.V})
			}
			s.Boards = append(s.Boards, b)
		}
	}
	// Miner-level sensors; an absent inlet sensor reads -273.
	for _, ks := range [][2]string{{"Temp", "inlet"}, {"ITemp", "inlet"}, {"HBITemp", "board_inlet"}, {"HBOTemp", "board_outlet"}, {"TMax", "max"}, {"TAvg", "avg"}} {
		key, sensor := ks[0], ks[1]
		if t := mmFloat(first, key); t.Set && t.V > -273 && (t.V != 0 || sensor == "inlet") {
			if sensor == "inlet" && hasSensor(s.Temperatures, "inlet") {
				continue
			}
			s.Temperatures = append(s.Temperatures, miner.Temperature{Sensor: sensor, Celsius: t.V})
		}
	}
	sort.Slice(s.Temperatures, func(i, j int) bool { return s.Temperatures[i].Sensor < s.Temperatures[j].Sensor })
	for n := 1; n <= 8; n++ {
		if f := mmFloat(first, "Fan"+strconv.Itoa(n)); f.Set {
			s.Fans = append(s.Fans, miner.Fan{Name: strconv.Itoa(n), RPM: f.V}) // Fan1 is fan "1"
		}
	}
	if p := mmFloat(first, "WALLPOWER"); p.Set && p.V > 0 {
		s.Power = p
	}
	if st := strings.ToLower(first["SYSTEMSTATU"]); st != "" {
		s.Sleeping = boolF(strings.Contains(st, "in idle") || strings.Contains(st, "in sleep"))
	}
	// Canaan reports no rated hashrate; the model table fills it in.
}

func hasSensor(ts []miner.Temperature, name string) bool {
	for _, t := range ts {
		if t.Sensor == name {
			return true
		}
	}
	return false
}
