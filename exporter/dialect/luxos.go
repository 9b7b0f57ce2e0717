package dialect

import (
	"strconv"
	"strings"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// readLuxOS reads LuxOS: Bitmain-shaped stats (read as an Antminer's) whose version block
// pretends to be stock, plus `temps` with intake and exhaust sensors per board, `fans`, `power`,
// per-board "Nominal MHS" in devs, IsUserShutdown and the SLEEP/IDLE events for curtailment,
// and `events` for the firmware's faults.
func readLuxOS(r replies, s *miner.Snapshot) {
	readAntminer(r, s)
	s.Firmware = "luxos"
	id := r.identity()
	s.Software, s.SoftwareVersion = "luxminer", id.StrKey("LUXminer")
	if s.SoftwareVersion == "" {
		s.SoftwareVersion = versionFromDescription(r.description(cgminer.Version, cgminer.Summary))
	}
	// LuxOS's "Total MH" repeats the average hashrate in MH/s instead of counting work done.
	s.HashesTotal = miner.F{}

	// temps: each board's sensors, labelled in METADATA ("Board Intake (top)", "Board Exhaust …").
	kinds := map[string]string{}
	for _, md := range r.section(cgminer.Temps, "METADATA") {
		for _, m := range md.Members() {
			label := strings.ToLower(m.Value.StrKey("Label"))
			switch {
			case strings.Contains(label, "intake") || strings.Contains(label, "inlet"):
				kinds[m.Key] = "inlet"
			case strings.Contains(label, "exhaust") || strings.Contains(label, "outlet"):
				kinds[m.Key] = "outlet"
			}
		}
	}
	for i, t := range r.section(cgminer.Temps, "TEMPS") {
		idx, ok := i, true
		if f, set := t.FloatKey("ID"); set {
			idx, ok = slotIndex(f, len(s.Boards))
		}
		if !ok || idx >= len(s.Boards) {
			continue
		}
		hottest := map[string]float64{}
		for _, m := range t.Members() {
			kind, ok := kinds[m.Key]
			if !ok {
				continue
			}
			if f, ok := m.Value.Float(); ok && f > 0 && f > hottest[kind] {
				hottest[kind] = f
			}
		}
		for _, kind := range []string{"inlet", "outlet"} {
			if f, ok := hottest[kind]; ok {
				s.Boards[idx].Temperatures = append(s.Boards[idx].Temperatures, miner.Temperature{Sensor: kind, Celsius: f})
			}
		}
	}
	if fans := r.section(cgminer.Fans, "FANS"); len(fans) > 0 {
		s.Fans = s.Fans[:0]
		for i, f := range fans {
			if len(s.Fans) == r.lim.Fans {
				s.Truncate(miner.CutFans)
				break
			}
			// `fans` numbers them from 0 (ID; early LuxOS also FAN), and ID n is the stats
			// block's fan n+1: named n+1, as stock firmware names the same fan. (FAN is a
			// connector name in later releases, "FAN4" or "J12 | J14", not a number.)
			name := strconv.Itoa(i + 1)
			if id, ok := number(f, "ID", "FAN"); ok {
				n, _ := strconv.Atoi(id)
				name = strconv.Itoa(n + 1)
			}
			if rpm := num(f, "RPM"); rpm.Set {
				s.Fans = append(s.Fans, miner.Fan{Name: name, RPM: rpm.V})
			}
		}
	}
	if p := positive(r.first(cgminer.Power, "POWER"), "Watts"); p.Set {
		s.Power = p
	}
	devs := r.section(cgminer.Devs, "DEVS")
	shut, n := 0, 0
	for _, d := range devs {
		n++
		if b, ok := d.Get("IsUserShutdown").Truth(); ok && b {
			shut++
		}
		// Devs' "Nominal MHS" per board, by ASC number (0-based like our boards).
		if f, ok := d.FloatKey("ASC"); ok {
			if idx, ok := slotIndex(f, len(s.Boards)); ok {
				if f := positive(d, "Nominal MHS"); f.Set && !s.Boards[idx].HashrateNominal.Set {
					s.Boards[idx].HashrateNominal = scaled(f, 1e6)
				}
			}
		}
	}
	if n > 0 && shut == n {
		s.Sleeping = miner.Some(1)
	}
	readLuxOSEvents(r, s)
}

// readLuxOSEvents reads `events`: {Code, Target MINER or BOARD, ID (the board's index, as temps'
// and devs' numbers are), Description, DocUrl}. SLEEP and IDLE mean the miner is curtailed; the
// other codes are faults (faults.go). A code that is not a symbolic name is skipped.
func readLuxOSEvents(r replies, s *miner.Snapshot) {
	fs := newFaults(s, r.lim.Faults)
	for _, e := range r.section(cgminer.Events, "EVENTS") {
		code, ok := luxosEventCode(e.StrKey("Code"))
		if !ok {
			continue
		}
		if code == "SLEEP" || code == "IDLE" {
			s.Sleeping = miner.Some(1)
			continue
		}
		board := ""
		if strings.EqualFold(strings.TrimSpace(e.StrKey("Target")), "BOARD") {
			if f, ok := e.FloatKey("ID"); ok && f >= 0 && f < maxNumber && f == float64(int(f)) {
				if idx := int(f); idx < len(s.Boards) {
					board = s.Boards[idx].Label()
				} else {
					board = strconv.Itoa(idx + 1) // Bitmain's chain numbers, as the boards are named
				}
			}
		}
		raw := strings.TrimSpace(e.StrKey("Description") + " " + e.StrKey("DocUrl"))
		if !fs.add(luxosFault(code, board, raw)) {
			return
		}
	}
}

// slotIndex turns a slot number the miner sent into an index below n, without converting a
// number outside that range (whose int conversion is not defined).
func slotIndex(f float64, n int) (int, bool) {
	if f < 0 || f >= float64(n) {
		return 0, false
	}
	return int(f), true
}
