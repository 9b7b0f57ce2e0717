package miner

import (
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits bound what one snapshot may hold, whatever the miner sent: the dialects stop reading a
// list at its limit and Sanitize enforces every limit again. Each limit is the most a healthy
// miner of any known model has, with a wide margin. A zero field means its DefaultLimits value.
type Limits struct {
	// Boards caps the hashboard slots (chains, modules, devs read as boards). The largest known
	// models have 4; an Avalon controller with several modules a few more.
	Boards int
	// ChipsPerBoard is the most chips a board can plausibly report (today's boards have 60–160;
	// no model has a thousand). A chip count above it is dropped as implausible.
	ChipsPerBoard int
	// Fans caps the fans (Bitmain's firmware has 16 slots, fan1…fan16; most models spin 2 or 4).
	Fans int
	// BoardSensors caps the temperature sensors of one board (the dialects report up to 3 kinds).
	BoardSensors int
	// Sensors caps the miner-level temperature sensors (up to 6 on Avalon).
	Sensors int
	// Pools caps the pools (stock firmware offers 3, VNish adds a fee pool, Braiins a few groups).
	Pools int
	// Devices caps the entries of devs (one per hashboard on ASIC miners; USB rigs have more).
	Devices int
	// LabelBytes caps one label value (model, version, pool URL and worker, device ID, …), cut on
	// a rune boundary. Pool URLs and workers are far shorter than 128 bytes.
	LabelBytes int
	// Faults caps the firmware fault codes of one probe (cgminer_fault series). A broken
	// Whatsminer lists a handful; a PSU in trouble about five.
	Faults int
}

// DefaultLimits are the limits of a module that sets none.
var DefaultLimits = Limits{
	Boards: 16, ChipsPerBoard: 10000, Fans: 16, BoardSensors: 8, Sensors: 16, Pools: 16, Devices: 32, LabelBytes: 128,
	Faults: 32,
}

// MaxLimits are the highest limits a module may set: beyond them a probe could again be made to
// allocate and export without bound.
var MaxLimits = Limits{
	Boards: 256, ChipsPerBoard: 100000, Fans: 256, BoardSensors: 64, Sensors: 256, Pools: 256, Devices: 1024, LabelBytes: 1024,
	Faults: 256,
}

// OrDefault fills each zero limit from DefaultLimits and lowers each one above MaxLimits to it.
func (l Limits) OrDefault() Limits {
	fix := func(v *int, def, max int) {
		switch {
		case *v <= 0:
			*v = def
		case *v > max:
			*v = max
		}
	}
	d, m := DefaultLimits, MaxLimits
	fix(&l.Boards, d.Boards, m.Boards)
	fix(&l.ChipsPerBoard, d.ChipsPerBoard, m.ChipsPerBoard)
	fix(&l.Fans, d.Fans, m.Fans)
	fix(&l.BoardSensors, d.BoardSensors, m.BoardSensors)
	fix(&l.Sensors, d.Sensors, m.Sensors)
	fix(&l.Pools, d.Pools, m.Pools)
	fix(&l.Devices, d.Devices, m.Devices)
	fix(&l.LabelBytes, d.LabelBytes, m.LabelBytes)
	fix(&l.Faults, d.Faults, m.Faults)
	return l
}

// What a limit cut short, as cgminer_probe_truncated's `what` label.
const (
	CutBoards       = "boards"
	CutFans         = "fans"
	CutBoardSensors = "board_sensors"
	CutSensors      = "sensors"
	CutPools        = "pools"
	CutDevices      = "devices"
	CutLabelValue   = "label_value"
	// CutFields: a packed string (Avalon's MM ID) held more Key[value] fields than are read.
	CutFields = "fields"
	CutFaults = "faults"
)

// The kinds of reading Sanitize drops when implausible, as cgminer_probe_dropped_readings's
// `what` label.
const (
	DropHashrate    = "hashrate"    // H/s, miner and board, current, average, nominal: [0, 10 EH/s]
	DropTemperature = "temperature" // °C: (-60, 200)
	DropFanSpeed    = "fan_speed"   // RPM: [0, 50 000]
	DropPower       = "power"       // W: [0, 100 000]
	DropUptime      = "uptime"      // s: [0, 20 years]
	DropCounter     = "counter"     // shares, difficulty, hashes, hardware errors: finite, ≥ 0
	DropChips       = "chips"       // per board: [0, Limits.ChipsPerBoard]
	DropPriority    = "pool_priority"
	DropLastShare   = "pool_last_share" // unix seconds: 2001-09-09 to 2100-01-01
)

// The plausible ranges.
const (
	MaxHashrate     = 1e19 // 10 EH/s: a thousand times today's largest miner
	MinCelsius      = -60  // exclusive
	MaxCelsius      = 200  // exclusive
	MaxRPM          = 50000
	MaxWatts        = 100000
	MaxUptime       = 20 * 365.25 * 86400
	MaxPriority     = 1e6
	MinShareTime    = 1e9        // 2001-09-09, as lastShare reads epochs
	MaxShareTime    = 4102444800 // 2100-01-01
	maxFiniteDouble = math.MaxFloat64
)

// Truncate records that a limit cut what short (one of the Cut* names).
func (s *Snapshot) Truncate(what string) {
	i, found := slices.BinarySearch(s.Truncated, what)
	if !found {
		s.Truncated = slices.Insert(s.Truncated, i, what)
	}
}

func (s *Snapshot) drop(what string) {
	if s.Dropped == nil {
		s.Dropped = map[string]int{}
	}
	s.Dropped[what]++
}

// Sanitize enforces the limits on a snapshot and drops the readings no miner can have: each
// reading outside its plausible range (or not finite) becomes absent and is counted in Dropped
// by kind; each list longer than its limit is cut and named in Truncated; each label value is
// made valid UTF-8 and cut to LabelBytes on a rune boundary. Every dialect's snapshot goes
// through it, so the rule holds for every family and every field of the same kind.
func (s *Snapshot) Sanitize(l Limits) {
	l = l.OrDefault()
	s.Uptime = s.within(s.Uptime, 0, MaxUptime, DropUptime)
	for _, f := range []*F{&s.Hashrate, &s.HashrateAverage, &s.HashrateNominal} {
		*f = s.within(*f, 0, MaxHashrate, DropHashrate)
	}
	for _, f := range []*F{&s.HashesTotal, &s.SharesAccepted, &s.SharesRejected, &s.SharesStale, &s.HardwareErrors,
		&s.DifficultyAccepted, &s.DifficultyRejected} {
		*f = s.within(*f, 0, maxFiniteDouble, DropCounter)
	}
	s.Power = s.within(s.Power, 0, MaxWatts, DropPower)

	if len(s.Boards) > l.Boards {
		s.Boards = s.Boards[:l.Boards]
		s.Truncate(CutBoards)
	}
	for i := range s.Boards {
		b := &s.Boards[i]
		b.Name = s.label(b.Name, l.LabelBytes)
		b.Hashrate = s.within(b.Hashrate, 0, MaxHashrate, DropHashrate)
		b.HashrateNominal = s.within(b.HashrateNominal, 0, MaxHashrate, DropHashrate)
		b.Chips = s.within(b.Chips, 0, float64(l.ChipsPerBoard), DropChips)
		b.ChipsExpected = s.within(b.ChipsExpected, 0, float64(l.ChipsPerBoard), DropChips)
		b.ChipsFailed = s.within(b.ChipsFailed, 0, float64(l.ChipsPerBoard), DropChips)
		b.HardwareErrors = s.within(b.HardwareErrors, 0, maxFiniteDouble, DropCounter)
		b.Temperatures = s.temperatures(b.Temperatures, l.BoardSensors, CutBoardSensors, l.LabelBytes)
		b.Serial = s.label(b.Serial, l.LabelBytes)
	}
	s.Temperatures = s.temperatures(s.Temperatures, l.Sensors, CutSensors, l.LabelBytes)

	fans := s.Fans[:0]
	for _, f := range s.Fans {
		if !(f.RPM >= 0 && f.RPM <= MaxRPM) {
			s.drop(DropFanSpeed)
			continue
		}
		if len(fans) == l.Fans {
			s.Truncate(CutFans)
			break
		}
		f.Name = s.label(f.Name, l.LabelBytes)
		fans = append(fans, f)
	}
	s.Fans = fans

	if len(s.Devices) > l.Devices {
		s.Devices = s.Devices[:l.Devices]
		s.Truncate(CutDevices)
	}
	for i := range s.Devices {
		s.Devices[i].ID = s.label(s.Devices[i].ID, l.LabelBytes)
	}

	if len(s.Pools) > l.Pools {
		s.Pools = s.Pools[:l.Pools]
		s.Truncate(CutPools)
	}
	for i := range s.Pools {
		p := &s.Pools[i]
		p.Index = s.label(p.Index, l.LabelBytes)
		url, user := p.URL, p.User
		p.URL = s.label(p.URL, l.LabelBytes)
		p.User = s.label(p.User, l.LabelBytes)
		p.Cut = url != p.URL || user != p.User
		p.Priority = s.within(p.Priority, 0, MaxPriority, DropPriority)
		p.SharesAccepted = s.within(p.SharesAccepted, 0, maxFiniteDouble, DropCounter)
		p.SharesRejected = s.within(p.SharesRejected, 0, maxFiniteDouble, DropCounter)
		p.DifficultyAccepted = s.within(p.DifficultyAccepted, 0, maxFiniteDouble, DropCounter)
		p.LastShareTime = s.within(p.LastShareTime, MinShareTime, MaxShareTime, DropLastShare)
	}

	for _, str := range []*string{&s.Model, &s.Firmware, &s.Software, &s.SoftwareVersion, &s.APIVersion, &s.Serial, &s.MAC} {
		*str = s.label(*str, l.LabelBytes)
	}
	s.faults(l)
}

var (
	severities = map[string]bool{SeverityCritical: true, SeverityWarning: true, SeverityInfo: true}
	components = map[string]bool{ComponentFan: true, ComponentPSU: true, ComponentHashboard: true,
		ComponentTemperature: true, ComponentNetwork: true, ComponentPool: true, ComponentControlBoard: true,
		ComponentFirmware: true, ComponentOther: true}
)

// faults keeps at most l.Faults distinct faults (by their labels), in the order the firmware
// listed them: severity and component outside their lists become warning and other, an empty
// code is dropped, labels are cut to LabelBytes and the texts to MaxFaultText.
func (s *Snapshot) faults(l Limits) {
	if len(s.Faults) == 0 {
		s.Faults = nil
		return
	}
	out := s.Faults[:0]
	seen := make(map[Fault]bool, min(len(s.Faults), l.Faults))
	for _, f := range s.Faults {
		if !severities[f.Severity] {
			f.Severity = SeverityWarning
		}
		if !components[f.Component] {
			f.Component = ComponentOther
		}
		f.Code = s.label(f.Code, l.LabelBytes)
		if f.Code == "" {
			continue
		}
		f.Board = s.label(f.Board, l.LabelBytes)
		f.Vendor, f.Raw = text(f.Vendor, MaxFaultText), text(f.Raw, MaxFaultText)
		key := Fault{Code: f.Code, Severity: f.Severity, Component: f.Component, Board: f.Board}
		if seen[key] {
			continue
		}
		if len(out) == l.Faults {
			s.Truncate(CutFaults)
			break
		}
		seen[key] = true
		out = append(out, f)
	}
	s.Faults = out
}

// text makes v valid UTF-8 of at most max bytes, cut on a rune boundary, without counting a cut
// (texts are not labels).
func text(v string, max int) string {
	if len(v) <= max && utf8.ValidString(v) {
		return v
	}
	v = strings.ToValidUTF8(v, "\uFFFD")
	if len(v) <= max {
		return v
	}
	i := max
	for i > 0 && !utf8.RuneStart(v[i]) {
		i--
	}
	return strings.Clone(v[:i])
}

// within returns f when it is absent or in [lo, hi]; otherwise (NaN included) absent, counted.
func (s *Snapshot) within(f F, lo, hi float64, what string) F {
	if !f.Set || (f.V >= lo && f.V <= hi) {
		return f
	}
	s.drop(what)
	return F{}
}

// temperatures keeps the plausible readings of a sensor list, at most max of them.
func (s *Snapshot) temperatures(ts []Temperature, max int, cut string, labelBytes int) []Temperature {
	out := ts[:0]
	for _, t := range ts {
		if !(t.Celsius > MinCelsius && t.Celsius < MaxCelsius) {
			s.drop(DropTemperature)
			continue
		}
		if len(out) == max {
			s.Truncate(cut)
			break
		}
		t.Sensor = s.label(t.Sensor, labelBytes)
		out = append(out, t)
	}
	return out
}

// label makes v a valid UTF-8 label value of at most max bytes, cut on a rune boundary. A cut
// value is copied, so that it does not keep the miner's whole reply alive.
func (s *Snapshot) label(v string, max int) string {
	if len(v) <= max && utf8.ValidString(v) {
		return v
	}
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	if len(v) <= max {
		return v
	}
	i := max
	for i > 0 && !utf8.RuneStart(v[i]) {
		i--
	}
	s.Truncate(CutLabelValue)
	return strings.Clone(v[:i])
}
