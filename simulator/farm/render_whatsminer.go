package farm

import (
	"math"
	"strconv"
)

// MicroBT btminer (a cgminer 4.9.2 fork). Templates: whatsminer-m30s_{summary,pools,edevs},
// whatsminer-m31s-sleeping_status and whatsminer-m30s-20210322_{get-version,get-psu} (flat STATUS).
// devdetails and version are not captured; they follow cgminer 4.9.2 with btminer's device
// name and driver (README.md says so). btminer has no stats (Code 14). get_error_code (not
// captured; the shape the public libraries read from btminer 2.x) lists the injected faults'
// MicroBT codes, the same ones API v3 lists (codes.go).

const (
	btminerAPI      = "whatsminer v1.4.0"
	btminerFirmware = "'20200512.13.REL'"
)

func renderWhatsminer(cmd string, sf func() *state) *reply {
	switch cmd {
	case "summary":
		return whatsminerSummary(sf())
	case "pools":
		return cgminerPools(sf(), false)
	case "devs", "edevs":
		return whatsminerDevs(sf())
	case "devdetails":
		return whatsminerDevDetails(sf())
	case "version":
		s := sf()
		return s.ok(22, "CGMiner versions").add("VERSION", true, []kv{S("CGMiner", "4.9.2"), S("API", "3.7")})
	case "status":
		s := sf()
		off := "false"
		if s.sleeping {
			off = "true"
		}
		return flat(s, O("Msg", S("btmineroff", off), S("Firmware Version", btminerFirmware)))
	case "get_version":
		s := sf()
		return flat(s, O("Msg", S("api_ver", btminerAPI), S("fw_ver", "20200512.13.REL")))
	case "get_psu":
		s := sf()
		return flat(s, O("Msg", S("name", "P21"), S("hw_version", ""), S("sw_version", "102220.009"), S("model", "P21-12-3600-E")))
	case "get_error_code":
		s := sf()
		codes := s.whatsminerCodes()
		elems := make([]kv, 0, len(codes))
		for _, c := range codes {
			elems = append(elems, O("", S(strconv.Itoa(c.code), wmTime(c.since))))
		}
		r := flat(s, O("Msg", A("error_code", elems...)))
		r.status[2] = I("Code", 133)
		return r
	}
	return nil
}

// flat is btminer's own envelope: STATUS and the rest at the top level, Msg an object, no id.
func flat(s *state, msg kv) *reply {
	return &reply{flat: true, status: []kv{S("STATUS", "S"), I("When", s.when), I("Code", 131), msg, S("Description", btminerAPI)}}
}

// whatsminerDenied answers btminer's write commands, which need a token this simulator never
// grants.
func whatsminerDenied(s *state) *reply {
	return &reply{flat: true, status: []kv{S("STATUS", "E"), I("When", s.when), I("Code", 45), S("Msg", "Permission denied"),
		S("Description", btminerAPI)}}
}

func (s *state) pcbMax() float64 {
	t := 0.0
	for i := range s.boards {
		if s.boards[i].present {
			t = math.Max(t, s.boards[i].pcbTemp)
		}
	}
	return t
}

func whatsminerSummary(s *state) *reply {
	mhs := func(g float64) float64 { return g * 1e3 }
	o := cgminerSummaryHead(s, []kv{F("MHS av", mhs(s.rateAv), 2), F("MHS 5s", mhs(s.rate), 2), F("MHS 1m", mhs(s.rate1m), 2),
		F("MHS 5m", mhs(s.rate5m), 2), F("MHS 15m", mhs(s.rate15m), 2)})
	fanIn, fanOut := 0.0, 0.0
	if len(s.fans) > 1 {
		fanIn, fanOut = s.fans[0], s.fans[1]
	}
	chipMin, chipAvg := s.maxChip, s.maxChip
	if s.maxChip > 0 {
		chipMin, chipAvg = s.maxChip-25, s.maxChip-8
	}
	o = append(o, F("Temperature", s.pcbMax(), 2), I("freq_avg", 528), N("Fan Speed In", fanIn), N("Fan Speed Out", fanOut),
		I("Voltage", 1238), N("Power", s.power), N("Power_RT", s.power+2), F("Device Hardware%", s.hwPct(), 4),
		F("Device Rejected%", s.rejPct(), 4), F("Pool Rejected%", s.rejPct(), 4), F("Pool Stale%", 0, 4), I("Last getwork", 0),
		N("Uptime", s.uptime), S("Chip Data", "HP5A05-20043018 D02 BINV02-193005B"), N("Power Current", s.power*77),
		I("Power Fanspeed", 7576), I("Error Code Count", int64(len(s.whatsminerCodes()))), I("Factory Error Code Count", 0), I("Security Mode", 0),
		B("Liquid Cooling", false), B("Hash Stable", s.elapsed > 900), N("Hash Stable Cost Seconds", math.Min(s.elapsed, 900)),
		F("Hash Deviation%", pct(s.rate-s.rateAv, math.Max(1, s.rateAv)), 4), I("Target Freq", 527), N("Target MHS", mhs(s.ideal)*0.995),
		F("Env Temp", s.envTemp, 2), S("Power Mode", powerMode(s)), S("Firmware Version", btminerFirmware),
		S("MAC", whatsminerMAC(s)), N("Factory GHS", s.ideal), I("Power Limit", 3600), F("Power Voltage Input", 228.75, 2),
		F("Power Current Input", s.power/228.75, 2), F("Chip Temp Min", chipMin, 2), F("Chip Temp Max", s.maxChip, 2),
		F("Chip Temp Avg", chipAvg, 2))
	return s.ok(11, "Summary").add("SUMMARY", true, o)
}

// powerMode is btminer's summary "Power Mode": "Low" in low-power mode (low_power).
func powerMode(s *state) string {
	if s.lowPower {
		return "Low"
	}
	return "Normal"
}

func whatsminerMAC(s *state) string {
	h := hash(s.m.seed, 0x3ac)
	const hex = "0123456789ABCDEF"
	b := []byte("C6:02:14:00:00:00")
	for i, pos := range []int{9, 10, 12, 13, 15, 16} {
		b[pos] = hex[(h>>(4*i))&15]
	}
	return string(b)
}

// whatsminerDevs lists the boards that answer: a missing board has no entry.
func whatsminerDevs(s *state) *reply {
	var objs [][]kv
	share := 1.0 / float64(max(1, presentBoards(s)))
	fanIn, fanOut := 0.0, 0.0
	if len(s.fans) > 1 {
		fanIn, fanOut = s.fans[0], s.fans[1]
	}
	for i := range s.boards {
		b := &s.boards[i]
		if !b.present {
			continue
		}
		acc, rej := math.Floor(s.c.accepted*share), math.Floor(s.c.rejected*share)
		eff := b.chips - b.failed
		mhs := func(g float64) float64 { return g * 1e3 }
		objs = append(objs, []kv{I("ASC", int64(i)), S("Name", "SM"), I("ID", int64(i)), I("Slot", int64(i)), S("Enabled", "Y"),
			S("Status", s.devStatus(i)), F("Temperature", b.pcbTemp, 2), I("Chip Frequency", 546), N("Fan Speed In", fanIn),
			N("Fan Speed Out", fanOut), F("MHS av", mhs(b.mean), 2), F("MHS 5s", mhs(b.rate), 2), F("MHS 1m", mhs(b.mean), 2),
			F("MHS 5m", mhs(b.mean), 2), F("MHS 15m", mhs(b.mean), 2), N("Accepted", acc), N("Rejected", rej),
			N("Hardware Errors", b.hw), F("Utility", s.utility()*share, 2), I("Last Share Pool", 0),
			I("Last Share Time", s.lastShareEpoch(s.lastShare)), F("Total MH", math.Floor(s.c.totalMH*share), 4),
			N("Diff1 Work", s.c.diff1*share), F("Difficulty Accepted", acc*s.model.Diff, 8), F("Difficulty Rejected", rej*s.model.Diff, 8),
			F("Last Share Difficulty", s.model.Diff, 8), I("Last Valid Work", s.when), F("Device Hardware%", s.hwPct(), 4),
			F("Device Rejected%", s.rejPct(), 4), I("Device Elapsed", int64(s.elapsed)), I("Upfreq Complete", 1),
			I("Effective Chips", int64(eff)), S("PCB SN", "H5M1ES9C200507X1"+strconv.Itoa(1000+i)),
			F("Chip Temp Min", b.chipTemp-25, 2), F("Chip Temp Max", b.chipTemp, 2), F("Chip Temp Avg", b.chipTemp-8, 2),
			I("chip_vol_diff", 11)})
	}
	return s.ok(9, strconv.Itoa(len(objs))+" ASC(s)").add("DEVS", false, objs...)
}

func whatsminerDevDetails(s *state) *reply {
	var objs [][]kv
	for i := range s.boards {
		if !s.boards[i].present {
			continue
		}
		objs = append(objs, []kv{I("DEVDETAILS", int64(len(objs))), S("Name", "SM"), I("ID", int64(i)), S("Driver", "bitmicro"),
			S("Kernel", ""), S("Model", "M30SVE10")})
	}
	return s.ok(69, "Device Details").add("DEVDETAILS", false, objs...)
}
