package dialect

import (
	"strconv"
	"strings"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// readWhatsminer reads MicroBT's btminer: a cgminer 4.9.2 fork whose summary carries power,
// fans, the environment temperature, the factory hashrate and (before API 2.0.4) the error codes,
// whose devs/edevs are the hashboard slots, whose non-joinable `status` says whether mining was
// switched off (btmineroff) and `get_error_code` lists the firmware's error codes.
func readWhatsminer(r replies, s *miner.Snapshot) {
	s.Software = "btminer"
	s.Firmware = "stock"
	dd := r.first(cgminer.DevDetails, "DEVDETAILS")
	s.Model = whatsminerModel(dd.StrKey("Model"))
	if s.Model == "" {
		s.Model = "Whatsminer"
	}
	sum := r.first(cgminer.Summary, "SUMMARY")
	s.SoftwareVersion = strings.Trim(sum.StrKey("Firmware Version"), "'")
	if gv := r.get(cgminer.GetVersion); gv != nil && len(gv.Status) > 0 {
		msg := gv.Status[0].MsgValue
		if fw := strings.Trim(msg.StrKey("fw_ver"), "'"); fw != "" {
			s.SoftwareVersion = fw
		}
		if api := msg.StrKey("api_ver"); api != "" {
			s.APIVersion = api
		}
	}
	readCommon(r, s, defaultUnits)
	if sum.Kind() == cgminer.Object {
		if f := positive(sum, "Factory GHS"); f.Set {
			s.HashrateNominal = scaled(f, 1e9)
		} else if f := positive(sum, "Target MHS"); f.Set {
			s.HashrateNominal = scaled(f, 1e6)
		}
		s.Power = positive(sum, "Power", "Power_RT")
		if t := num(sum, "Env Temp"); t.Set {
			s.Temperatures = append(s.Temperatures, miner.Temperature{Sensor: "env", Celsius: t.V})
		}
		if t := positive(sum, "Temperature"); t.Set {
			s.Temperatures = append(s.Temperatures, miner.Temperature{Sensor: "max", Celsius: t.V})
		}
		if t := positive(sum, "Chip Temp Max"); t.Set {
			s.Temperatures = append(s.Temperatures, miner.Temperature{Sensor: "chip_max", Celsius: t.V})
		}
		if f := num(sum, "Fan Speed In"); f.Set {
			s.Fans = append(s.Fans, miner.Fan{Name: "in", RPM: f.V})
		}
		if f := num(sum, "Fan Speed Out"); f.Set {
			s.Fans = append(s.Fans, miner.Fan{Name: "out", RPM: f.V})
		}
	}
	// Boards: edevs when the firmware has it (it skips disabled slots), else devs.
	devs := r.section(cgminer.EDevs, "DEVS")
	if len(devs) == 0 {
		devs = r.section(cgminer.Devs, "DEVS")
	}
	model, _ := LookupModel(s.Model)
	bySlot := map[int]cgminer.Value{}
	maxSlot := -1
	for i, d := range devs {
		f, ok := d.FloatKey("Slot")
		if !ok {
			if f, ok = d.FloatKey("ASC"); !ok {
				f = float64(i)
			}
		}
		if f < 0 {
			continue
		}
		if f >= float64(r.lim.Boards) {
			s.Truncate(miner.CutBoards)
			continue
		}
		slot := int(f)
		bySlot[slot] = d
		if slot > maxSlot {
			maxSlot = slot
		}
	}
	if model.Boards-1 > maxSlot {
		maxSlot = model.Boards - 1
	}
	for slot := 0; slot <= maxSlot; slot++ {
		d, ok := bySlot[slot]
		// Slots as btminer numbers them, from 0: its error codes and tools call them SM0–SM2.
		b := miner.Board{Index: slot, Name: strconv.Itoa(slot), Present: ok}
		if ok {
			b.Hashrate, _ = rateFields(d, defaultUnits)
			b.Chips = num(d, "Effective Chips")
			b.HardwareErrors = num(d, "Hardware Errors")
			if t := positive(d, "Chip Temp Max"); t.Set {
				b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "chip", Celsius: t.V})
			}
			if t := positive(d, "Temperature"); t.Set {
				b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "pcb", Celsius: t.V})
			}
		}
		s.Boards = append(s.Boards, b)
	}
	s.Sleeping = whatsminerSleeping(r)
	// Some firmware leaves btmineroff "true" while it hashes (a capture in testdata shows 70 TH/s
	// with it set): a miner that hashes is not asleep.
	if s.Sleeping.Set && s.Sleeping.V == 1 && s.Hashrate.Set && s.Hashrate.V > 0 {
		s.Sleeping = miner.Some(0)
	}
	// Low-power mode that stopped hashing is curtailment, as on API v3; one that hashes is awake
	// (its fans, temperatures and pools stay watched).
	if strings.EqualFold(strings.TrimSpace(sum.StrKey("Power Mode")), "low") && !(s.Hashrate.Set && s.Hashrate.V > 0) {
		s.Sleeping = miner.Some(1)
	}
	whatsminerFaults(r, sum, newFaults(s, r.lim.Faults))
}

// whatsminerFaults reads the error codes: summary's "Error Code 0", "Error Code 1", … (firmware
// before API 2.0.4; "Error Code Count" is not trusted, nor are the "Factory Error Code"s, which
// are the factory test's) and get_error_code's Msg.error_code.
func whatsminerFaults(r replies, sum cgminer.Value, fs *faults) {
	for _, m := range sum.Members() {
		n, ok := strings.CutPrefix(m.Key, "Error Code ")
		if !ok {
			continue
		}
		if _, ok := faultNumber(n, 1<<20); !ok {
			continue
		}
		if f, ok := whatsminerFault(m.Value.Str(), ""); ok && !fs.add(f) {
			return
		}
	}
	if rep := r.get(cgminer.GetErrorCode); rep != nil && len(rep.Status) > 0 {
		whatsminerErrorCodes(rep.Status[0].MsgValue.Get("error_code"), fs)
	}
}

// whatsminerSleeping reads `status`: {"Msg":{"btmineroff":"true"}} while mining is switched off.
func whatsminerSleeping(r replies) miner.F {
	rep := r.get(cgminer.BTStatus)
	if rep == nil || len(rep.Status) == 0 {
		return miner.F{}
	}
	if b, ok := rep.Status[0].MsgValue.Get("btmineroff").Truth(); ok {
		return boolF(b)
	}
	return miner.F{}
}
