package dialect

import (
	"regexp"
	"sort"
	"strings"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

var braiinsHW = regexp.MustCompile(`(?i)am\d+-(s\d+[a-z]*)`)

// readBraiins reads Braiins OS: BOSminer/BOSer's cgminer-compatible API, with hashboards as
// devs (each with "Nominal MHS"), per-board temperatures in `temps`, fans in `fans`, chips and
// model in `devdetails`, and the power estimate in `tunerstatus`. The 2018 bOS ran bmminer and is
// read as an Antminer.
func readBraiins(r replies, s *miner.Snapshot) {
	id := r.identity()
	if strings.HasPrefix(strings.ToLower(id.StrKey("BMMiner")), "bos_") || hasChainKeys(bitmainDriver(r)) {
		readAntminer(r, s)
		s.Firmware = "braiins"
		return
	}
	s.Firmware = "braiins"
	switch {
	case id.StrKey("BOSer") != "":
		s.Software, s.SoftwareVersion = "boser", id.StrKey("BOSer")
	case id.StrKey("BOSminer+") != "":
		s.Software, s.SoftwareVersion = "bosminer+", id.StrKey("BOSminer+")
	case id.StrKey("BOSminer") != "":
		s.Software, s.SoftwareVersion = "bosminer", id.StrKey("BOSminer")
	default:
		desc := r.description(cgminer.Summary, cgminer.Devs, cgminer.Pools)
		s.Software, s.SoftwareVersion = softwareFromDescription(desc), versionFromDescription(desc)
	}
	details := r.section(cgminer.DevDetails, "DEVDETAILS")
	for _, d := range details {
		if m := d.StrKey("Model"); m != "" {
			s.Model = m
			break
		}
	}
	if s.Model == "" {
		if m := braiinsHW.FindStringSubmatch(r.description(cgminer.Version, cgminer.Summary, cgminer.Devs)); m != nil {
			s.Model = "Antminer " + strings.ToUpper(m[1])
		}
	}
	readCommon(r, s, defaultUnits)

	chips := map[string]miner.F{}
	for _, d := range details {
		chips[d.StrKey("ID")] = num(d, "Chips")
	}
	temps := map[string]cgminer.Value{}
	for _, t := range r.section(cgminer.Temps, "TEMPS") {
		temps[t.StrKey("ID")] = t
	}
	devs := r.section(cgminer.Devs, "DEVS")
	if len(devs) > r.lim.Boards {
		devs = devs[:r.lim.Boards]
		s.Truncate(miner.CutBoards)
	}
	devs = append([]cgminer.Value(nil), devs...)
	sort.SliceStable(devs, func(i, j int) bool { return lessNumeric(devs[i].StrKey("ID"), devs[j].StrKey("ID")) })
	var nominal float64
	nominalSet := false
	for i, d := range devs {
		id := d.StrKey("ID")
		// The devs ID is the hash chain's number on the control board (S9: 6–8).
		b := miner.Board{Index: i, Name: numberOr(d, i, "ID"), Present: true}
		b.Hashrate, _ = rateFields(d, defaultUnits)
		if f := positive(d, "Nominal MHS"); f.Set {
			b.HashrateNominal = scaled(f, 1e6)
			nominal += b.HashrateNominal.V
			nominalSet = true
		}
		b.HardwareErrors = num(d, "Hardware Errors")
		b.Chips = chips[id]
		if t, ok := temps[id]; ok {
			if c := positive(t, "Chip"); c.Set {
				b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "chip", Celsius: c.V})
			}
			if c := positive(t, "Board"); c.Set {
				b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "pcb", Celsius: c.V})
			}
		}
		s.Boards = append(s.Boards, b)
	}
	if len(devs) == 0 {
		// No devs in this probe: the boards still show in temps.
		for i, t := range r.section(cgminer.Temps, "TEMPS") {
			if i == r.lim.Boards {
				s.Truncate(miner.CutBoards)
				break
			}
			b := miner.Board{Index: i, Name: numberOr(t, i, "ID"), Present: true, Chips: chips[t.StrKey("ID")]}
			if c := positive(t, "Chip"); c.Set {
				b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "chip", Celsius: c.V})
			}
			if c := positive(t, "Board"); c.Set {
				b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "pcb", Celsius: c.V})
			}
			s.Boards = append(s.Boards, b)
		}
	}
	if nominalSet {
		s.HashrateNominal = miner.Some(nominal)
	}
	for i, f := range r.section(cgminer.Fans, "FANS") {
		if len(s.Fans) == r.lim.Fans {
			s.Truncate(miner.CutFans)
			break
		}
		// Braiins numbers fans from 0 (its API's fan names and positions too).
		name := numberOr(f, i, "ID", "FAN")
		if rpm := num(f, "RPM"); rpm.Set {
			s.Fans = append(s.Fans, miner.Fan{Name: name, RPM: rpm.V})
		}
	}
	ts := r.first(cgminer.TunerStatus, "TUNERSTATUS")
	s.Power = positive(ts, "ApproximateMinerPowerConsumption")
}
