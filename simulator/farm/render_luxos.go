package farm

import (
	"math"
	"strconv"
)

// LuxOS (LUXminer). Templates: antminer-s19kpro-luxos-2025.4.8_{version,summary,pools,stats,devs,
// temps,fans,power}. The captures were re-serialized with sorted keys, the only shape known, so
// every LuxOS reply is written with sorted keys. Curtailment (sleep) shows as IsUserShutdown.
// events follows antminer-luxos-2025.9.8_events (Code 357): the injected faults as LuxOS events
// (codes.go).

const luxMinerVersion = "2025.4.8.220305"

func renderLuxOS(cmd string, sf func() *state) *reply {
	switch cmd {
	case "version":
		s := sf()
		return s.ok(22, "LUXminer versions").add("VERSION", true, []kv{S("API", "3.7"), S("CompileTime", "Tue Apr  8 22:05:35 UTC 2025"),
			S("LUXminer", s.model.Description[len("LUXminer "):]), S("Miner", luxMinerVersion), S("Type", s.model.Name)})
	case "summary":
		return luxSummary(sf())
	case "pools":
		return luxPools(sf())
	case "stats":
		return luxStats(sf())
	case "devs":
		return luxDevs(sf())
	case "temps":
		s := sf()
		var objs [][]kv
		for i := range s.boards {
			b := &s.boards[i]
			if !b.present {
				continue
			}
			exhaust, intake := math.Round(b.pcbTemp), math.Round(b.pcbTemp-13)
			objs = append(objs, []kv{G("BottomLeft", exhaust), G("BottomRight", intake), I("ID", int64(i)), I("TEMP", int64(len(objs))),
				G("TopLeft", exhaust), G("TopRight", intake)})
		}
		r := s.ok(201, strconv.Itoa(len(objs))+" Temp(s)").add("TEMPS", false, objs...)
		return r.add("METADATA", false, []kv{R("BottomLeft", `{"Label":"Board Exhaust (bottom)","Position":[1,0]}`),
			R("BottomRight", `{"Label":"Board Intake (bottom)","Position":[1,1]}`),
			R("TopLeft", `{"Label":"Board Exhaust (top)","Position":[0,0]}`),
			R("TopRight", `{"Label":"Board Intake (top)","Position":[0,1]}`)})
	case "fans":
		s := sf()
		objs := make([][]kv, len(s.fans))
		for i, rpm := range s.fans {
			objs[i] = []kv{S("FAN", "FAN"+itoa(i+1)), I("ID", int64(i)), N("RPM", rpm), N("Speed", math.Round(100*rpm/6000))}
		}
		r := s.ok(202, strconv.Itoa(len(objs))+" Fan(s)").add("FANS", false, objs...)
		return r.add("FANCTRL", false, []kv{I("MinFans", 3), I("PowerOffSpeed", 20)})
	case "power":
		s := sf()
		return s.ok(311, "Power usage").add("POWER", false, []kv{B("PSU", false), N("Watts", s.power)})
	case "events":
		return luxEvents(sf())
	}
	return nil
}

const luxDocs = "https://docs.luxor.tech/firmware/kb/eventstroubleshooting#"

func luxEvents(s *state) *reply {
	evs := s.luxosEvents()
	objs := make([][]kv, 0, len(evs))
	for _, e := range evs {
		o := []kv{S("Code", e.code), S("CreatedAt", e.since.UTC().Format("2006-01-02T15:04:05+00:00")),
			S("Description", e.description), S("DocUrl", luxDocs+e.anchor), S("Target", "MINER")}
		if e.board >= 0 {
			o[4] = S("Target", "BOARD")
			o = append(o, I("ID", int64(e.board)))
		}
		objs = append(objs, o)
	}
	return s.ok(357, "Miner Events").add("EVENTS", false, objs...)
}

func luxSummary(s *state) *reply {
	c := s.c
	o := []kv{N("Accepted", c.accepted), I("Best Share", s.bestShare()), G("Device Hardware%", math.Round(s.hwPct()*1e4)/1e4),
		G("Device Rejected%", math.Round(s.rejPct()*1e4)/1e4), N("Difficulty Accepted", math.Floor(c.accepted)*s.model.Diff),
		N("Difficulty Rejected", math.Floor(c.rejected)*s.model.Diff), I("Difficulty Stale", 0), I("Discarded", 0),
		I("Elapsed", int64(s.elapsed)), I("Found Blocks", 0), F("GHS 15m", s.rate15m, 2), F("GHS 1m", s.rate1m, 2),
		F("GHS 24h", s.rateAv, 2), F("GHS 30m", s.rate15m, 2), F("GHS 5m", s.rate5m, 2), F("GHS 5s", s.rate, 2),
		F("GHS av", s.rateAv, 2), I("Get Failures", 0), N("Getworks", c.getworks), N("Hardware Errors", c.hw),
		I("Last getwork", s.when), I("Local Work", 0), I("Network Blocks", 0), G("Pool Rejected%", math.Round(s.rejPct()*1e4)/1e4),
		G("Pool Stale%", 0), N("Rejected", c.rejected), I("Remote Failures", 0), I("Stale", 0),
		// sic: LuxOS's "Total MH" is the average hashrate in MH/s, not the work done.
		G("Total MH", s.rateAv*1e3), F("Utility", s.utility(), 2), F("Work Utility", s.workUtility()/1e3, 2)}
	return s.ok(11, "Summary").add("SUMMARY", true, o)
}

func luxPools(s *state) *reply {
	ps := s.pools()
	objs := make([][]kv, 0, len(ps))
	for i, p := range ps {
		lsd, diff := 0.0, "0"
		if p.accepted > 0 {
			lsd, diff = s.model.Diff, humanDiff(s.model.Diff)
		}
		ago := p.lastShare
		if ago < 0 {
			ago = s.elapsed // LuxOS counts from start when a pool never had a share
		}
		last := ""
		{
			t := int64(ago)
			last = strconv.FormatInt(100+t/3600, 10)[1:] + ":" + strconv.FormatInt(100+t/60%60, 10)[1:] + ":" + strconv.FormatInt(100+t%60, 10)[1:]
		}
		best := int64(0)
		if p.accepted > 0 {
			best = int64(s.model.Diff)
		}
		objs = append(objs, []kv{N("Accepted", p.accepted), B("AsicBoost", true), I("Bad Work", 0), I("Best Share", best),
			I("Current Block Height", 0), I("Current Block Version", 536870912), S("Diff", diff), N("Diff1 Shares", p.accepted*s.model.Diff),
			N("Difficulty Accepted", p.accepted*s.model.Diff), N("Difficulty Rejected", p.rejected*s.model.Diff),
			I("Difficulty Stale", 0), I("Discarded", 0), I("GROUP", 0), I("Get Failures", 0), N("Getworks", p.getworks),
			B("Has GBT", false), B("Has Stratum", true), B("Has Vmask", true), N("Last Share Difficulty", lsd),
			S("Last Share Time", last), S("Long Pool", "N"), I("POOL", int64(i)),
			G("Pool Rejected%", math.Round(pct(p.rejected, p.accepted+p.rejected)*1e4)/1e4), G("Pool Stale%", 0), I("Priority", p.prio),
			S("Proxy", ""), S("Proxy Type", ""), G("Quota", 1), N("Rejected", p.rejected), I("Remote Failures", 0), I("Stale", 0),
			S("Status", p.status), B("Stratum Active", p.active), N("Stratum Difficulty", lsd),
			S("Stratum URL", p.url[len("stratum+tcp://"):]), S("URL", p.url), S("User", p.user), N("Work Difficulty", lsd), I("Works", 0)})
	}
	return s.ok(7, strconv.Itoa(len(ps))+" Pool(s)").add("POOLS", false, objs...)
}

func luxStats(s *state) *reply {
	md := s.model
	const slots = 4
	board := func(i int) *boardState {
		if i < len(s.boards) {
			return &s.boards[i]
		}
		return &boardState{}
	}
	o := []kv{I("Calls", 0), I("Elapsed", int64(s.elapsed)), F("GHS 5s", s.rate, 2), F("GHS av", s.rateAv, 2), S("ID", "BTM_SOC0"),
		I("Max", 0), I("Min", 99999999), I("Mode", 2), I("STATS", 0), I("Wait", 0)}
	acn := 0
	for i := range slots {
		b := board(i)
		n := itoa(i + 1)
		acn += b.chips
		rate := "0"
		if b.present {
			rate = strconv.FormatFloat(b.rate, 'f', 2, 64)
		}
		freq := 0.0
		if b.present {
			freq = 300
		}
		o = append(o, I("chain_acn"+n, int64(b.chips)), S("chain_acs"+n, acs(b.chips, b.failed, 4, true)), N("chain_hw"+n, b.hw),
			S("chain_rate"+n, rate), G("freq"+n, freq), S("temp_chip"+n, dashed(b.chipTemp, b.present)),
			S("temp_pcb"+n, dashed(b.pcbTemp, b.present)), S("temp_pic"+n, dashed(b.pcbTemp, b.present)))
		if i < len(s.boards) && b.present {
			o = append(o, G("temp"+n, math.Round(b.pcbTemp)), G("temp2_"+n, math.Round(b.chipTemp)))
		}
	}
	for i, rpm := range s.fans {
		o = append(o, N("fan"+itoa(i+1), rpm))
	}
	o = append(o, I("fan_num", int64(md.Fans)), I("frequency", 300), I("miner_count", int64(presentBoards(s))),
		S("miner_id", minerID(s)[:12]), S("miner_version", luxMinerVersion), I("no_matching_work", 0),
		F("rate_30m", s.rate15m, 2), S("rate_unit", "GH"), G("temp_max", math.Round(s.maxChip)), I("temp_num", int64(presentBoards(s))),
		F("total rate", s.rateAv, 2), I("total_acn", int64(acn)), G("total_freqavg", 300), G("total_rateideal", md.NominalGHS))
	return s.ok(70, "LUXminer stats").add("STATS", false, []kv{S("CompileTime", "Tue Apr  8 22:05:35 UTC 2025"),
		S("Miner", luxMinerVersion), S("Type", md.Name)}, o)
}

func luxDevs(s *state) *reply {
	var objs [][]kv
	share := 1.0 / float64(max(1, presentBoards(s)))
	for i := range s.boards {
		b := &s.boards[i]
		if !b.present {
			continue
		}
		mhs := func(g float64) float64 { return g * 1e3 }
		objs = append(objs, []kv{I("ASC", int64(i)), N("Accepted", s.c.accepted*share), S("Board", "BHB56903"),
			S("Connector", "J"+itoa(7+i)), S("ControllerIPVersionHex", "0x18351835"), S("ControllerIPVersionStr", "N/A"),
			I("Device Elapsed", int64(s.elapsed)), I("Device Hardware%", 0), I("Device Rejected%", 0), N("Diff1 Work", s.c.diff1*share),
			N("Difficulty Accepted", math.Floor(s.c.accepted*share)*s.model.Diff),
			N("Difficulty Rejected", math.Floor(s.c.rejected*share)*s.model.Diff), S("Enabled", "Y"), I("Hardware Error MHS 15m", 0),
			N("Hardware Errors", b.hw), I("ID", int64(i)), B("IsRamping", s.elapsed < 60 && !s.sleeping),
			B("IsUserShutdown", s.sleeping), N("Last Share Difficulty", s.model.Diff), I("Last Share Pool", 0),
			I("Last Share Time", s.lastShareEpoch(s.lastShare)), I("Last Valid Work", s.when), G("MHS 15m", mhs(b.mean)),
			G("MHS 1m", mhs(b.mean)), G("MHS 30m", mhs(b.mean)), G("MHS 5m", mhs(b.mean)), G("MHS 5s", mhs(b.rate)),
			G("MHS 60m", mhs(b.mean)), G("MHS av", mhs(b.mean)), S("Name", ""), G("Nominal MHS", mhs(b.ideal)),
			S("Profile", "default"), N("Rejected", s.c.rejected*share), S("SerialNumber", "JYZZYRSBDJEBI06Z"+itoa(i)),
			S("Status", s.devStatus(i)), G("Temperature", math.Round(b.pcbTemp)), G("Total MH", mhs(b.mean)), I("Utility", 0)})
	}
	return s.ok(9, strconv.Itoa(len(objs))+" ASC(s)").add("DEVS", false, objs...)
}
