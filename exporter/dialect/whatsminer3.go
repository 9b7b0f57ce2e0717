package dialect

import (
	"math"
	"strconv"
	"strings"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/miner"
	"github.com/minefarm/cgminer-stack/exporter/wm3"
)

// FamilyWhatsminerV3 is the Snapshot.Family of a miner read through the API v3 (TCP 4433).
const FamilyWhatsminerV3 = "whatsminer-v3"

// ReadWhatsminerV3 maps a Whatsminer API v3 probe onto a snapshot within lim, the same contract
// metrics as the legacy btminer dialect: get.device.info gives the identity (model from
// miner.type, firmware and API version, miner-sn and MAC for cgminer_device_info, board serials
// pcbsnN, the boards it should have in board-num), the PSU fan and the error codes;
// get.miner.status gives summary (hashrates in TH/s, factory hash, power, environment and chip
// temperatures, fans), pools and edevs (one entry per hashboard slot: hashrate, factory hash,
// effective chips, chip temperatures min/avg/max). Curtailment is Sleeping: mining switched off
// (miner.working "false"), or low-power mode (power-mode "low" in get.miner.setting or summary)
// while the miner hashes nothing; a miner that hashes is never asleep.
// Everything goes through Sanitize, then the model table and the default fee pools, as
// ReadLimited does for the 4028 families.
func ReadWhatsminerV3(res *wm3.Result, lim miner.Limits) miner.Snapshot {
	lim = lim.OrDefault()
	s := miner.Snapshot{Family: FamilyWhatsminerV3, Software: "btminer", Firmware: "stock"}
	info := msg(res, wm3.DeviceInfo)
	sum := statusPart(res, "summary", wm3.MinerStatusSummary)
	pools := statusPart(res, "pools", wm3.MinerStatusPools)
	edevs := statusPart(res, "edevs", wm3.MinerStatusEDevs)
	setting := msg(res, wm3.MinerSetting)

	mi, sys, psu := info.Get("miner"), info.Get("system"), info.Get("power")
	s.Model = whatsminerModel(mi.StrKey("type"))
	if s.Model == "" {
		s.Model = "Whatsminer"
	}
	s.SoftwareVersion = strings.TrimSpace(sys.StrKey("fwversion"))
	s.APIVersion = strings.TrimSpace(sys.StrKey("api"))
	s.Serial = serialNumber(mi.StrKey("miner-sn"))
	s.MAC = macAddress(info.Get("network").StrKey("mac"))

	if sum.Kind() == cgminer.Object {
		s.Uptime = num(sum, "elapsed")
		s.Hashrate = scaled(num(sum, "hash-realtime", "hash-1min", "hash-15min"), 1e12)
		s.HashrateAverage = scaled(num(sum, "hash-average"), 1e12)
		// factory-hash is -0.001 per board while the firmware has not measured it yet.
		s.HashrateNominal = scaled(positive(sum, "factory-hash"), 1e12)
		s.Power = positive(sum, "power-realtime", "power-5min")
		if t := num(sum, "environment-temperature"); t.Set {
			s.Temperatures = append(s.Temperatures, miner.Temperature{Sensor: "env", Celsius: t.V})
		}
		for _, k := range []struct{ key, sensor string }{{"chip-temp-max", "chip_max"}, {"chip-temp-avg", "chip_avg"}, {"chip-temp-min", "chip_min"}} {
			if t := positive(sum, k.key); t.Set {
				s.Temperatures = append(s.Temperatures, miner.Temperature{Sensor: k.sensor, Celsius: t.V})
			}
		}
		if f := num(sum, "fan-speed-in"); f.Set {
			s.Fans = append(s.Fans, miner.Fan{Name: "in", RPM: f.V})
		}
		if f := num(sum, "fan-speed-out"); f.Set {
			s.Fans = append(s.Fans, miner.Fan{Name: "out", RPM: f.V})
		}
	}
	if f := num(psu, "fanspeed"); f.Set {
		s.Fans = append(s.Fans, miner.Fan{Name: "psu", RPM: f.V})
	}

	readV3Boards(&s, mi, sum, edevs, lim)
	readV3Pools(&s, pools, lim)

	if b, ok := mi.Get("working").Truth(); ok {
		s.Sleeping = boolF(!b)
		// As with btmineroff: a miner that hashes is not asleep, whatever the flag says.
		if !b && s.Hashrate.Set && s.Hashrate.V > 0 {
			s.Sleeping = miner.Some(0)
		}
	}
	mode := strings.ToLower(strings.TrimSpace(setting.StrKey("power-mode")))
	if mode == "" {
		mode = strings.ToLower(strings.TrimSpace(sum.StrKey("power-mode")))
	}
	switch {
	case mode == "low" && !(s.Hashrate.Set && s.Hashrate.V > 0):
		// Low power that stopped hashing is curtailment. Low power that still hashes is not asleep:
		// its fans, temperatures and pools must stay watched (a thief could otherwise switch a
		// miner to low power to hide a foreign pool); set the module's nominal_hashrate for a farm
		// that runs in low power.
		s.Sleeping = miner.Some(1)
	case mode != "" && !s.Sleeping.Set:
		s.Sleeping = miner.Some(0)
	}

	whatsminerErrorCodes(info.Get("error-code"), newFaults(&s, lim.Faults))

	s.Sanitize(lim)
	applyModel(&s)
	defaultFeePools.Mark(&s)
	return s
}

// msg is the msg object of a command's successful reply, or null.
func msg(res *wm3.Result, c wm3.Command) cgminer.Value {
	if rep := res.Reply(c); rep != nil {
		return rep.Msg
	}
	return cgminer.Value{}
}

// statusPart is one part of get.miner.status: from the joined reply, else the part's own.
func statusPart(res *wm3.Result, key string, alone wm3.Command) cgminer.Value {
	if v, ok := msg(res, wm3.MinerStatus).Lookup(key); ok {
		return v
	}
	return msg(res, alone).Get(key)
}

// readV3Boards reads edevs as hashboard slots 0… (the SM0–SM2 of MicroBT's error codes), with
// the slots the miner should have (board-num, or the model table) kept as missing boards.
func readV3Boards(s *miner.Snapshot, mi, sum, edevs cgminer.Value, lim miner.Limits) {
	model, known := LookupModel(whatsminerModel(mi.StrKey("type")))
	expected := 0
	if known && model.Boards > 0 {
		expected = model.Boards
	} else if n, ok := faultNumber(mi.StrKey("board-num"), lim.Boards); ok && n > 0 {
		expected = n
		s.BoardsExpected = miner.Some(float64(n))
	}
	bySlot := map[int]cgminer.Value{}
	maxSlot := expected - 1
	for i, d := range edevs.Elems() {
		if d.Kind() != cgminer.Object {
			continue
		}
		f, ok := d.FloatKey("slot")
		if !ok {
			if f, ok = d.FloatKey("id"); !ok {
				f = float64(i)
			}
		}
		if f >= float64(lim.Boards) {
			s.Truncate(miner.CutBoards)
			continue
		}
		if f < 0 || f != math.Trunc(f) {
			continue
		}
		slot := int(f)
		if _, dup := bySlot[slot]; dup {
			continue
		}
		bySlot[slot] = d
		maxSlot = max(maxSlot, slot)
	}
	if edevs.Kind() != cgminer.Array {
		// edevs not answered: what the boards are is unknown (not "all missing").
		return
	}
	pcb := sum.Get("board-temperature").Elems()
	for slot := 0; slot <= maxSlot; slot++ {
		d, ok := bySlot[slot]
		b := miner.Board{Index: slot, Name: strconv.Itoa(slot), Present: ok}
		if ok {
			b.Hashrate = scaled(num(d, "hash-realtime", "hash-1min", "hash-15min", "hash-average"), 1e12)
			b.HashrateNominal = scaled(positive(d, "factory-hash"), 1e12)
			b.Chips = num(d, "effective-chips")
			for _, k := range []struct{ key, sensor string }{{"chip-temp-max", "chip"}, {"chip-temp-avg", "chip_avg"}, {"chip-temp-min", "chip_min"}} {
				if t := positive(d, k.key); t.Set {
					b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: k.sensor, Celsius: t.V})
				}
			}
			if slot < len(pcb) {
				if t, ok := pcb[slot].Float(); ok && t > 0 {
					b.Temperatures = append(b.Temperatures, miner.Temperature{Sensor: "pcb", Celsius: t})
				}
			}
			b.Serial = serialNumber(mi.StrKey("pcbsn" + strconv.Itoa(slot)))
		}
		s.Boards = append(s.Boards, b)
	}
}

func readV3Pools(s *miner.Snapshot, pools cgminer.Value, lim miner.Limits) {
	for i, p := range pools.Elems() {
		url := p.StrKey("url")
		if p.Kind() != cgminer.Object || strings.TrimSpace(url) == "" {
			continue
		}
		if len(s.Pools) == lim.Pools {
			s.Truncate(miner.CutPools)
			return
		}
		pool := miner.Pool{
			Index:    numberOr(p, i, "id"),
			URL:      url,
			User:     p.StrKey("account"),
			Priority: num(p, "pool-priority"),
		}
		if st := p.StrKey("status"); st != "" {
			pool.Up = boolF(strings.EqualFold(st, "alive"))
		}
		if b, ok := p.Get("stratum-active").Truth(); ok {
			pool.Active = boolF(b)
		}
		if t, ok := p.FloatKey("last-share-time"); ok && t > 1e9 {
			pool.LastShareTime = miner.Some(t)
		}
		s.Pools = append(s.Pools, pool)
	}
}
