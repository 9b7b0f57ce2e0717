package farm

import (
	"math"
	"strconv"
)

// Braiins OS (BOSer). Templates: braiins-os-24.09-boser_version; s9-bosminer-0.2.0_{summary,pools,temps}
// and s9-bosminer-plus-am1-s9-0.4.0_devs (BOSminer writes every object's keys sorted, floats in
// shortest form). devdetails and fans are not captured: they follow the same conventions with the
// fields the Braiins API documents (README.md). A paused miner shows no sleep flag in this API.

func renderBraiins(cmd string, sf func() *state) *reply {
	switch cmd {
	case "version":
		s := sf()
		return s.ok(22, "BOSer versions").add("VERSION", true, []kv{S("API", "3.7"), S("BOSer", "boser-buildroot 0.1.0-75912fc7")})
	case "summary":
		return braiinsSummary(sf())
	case "pools":
		return braiinsPools(sf())
	case "devs":
		return braiinsDevs(sf())
	case "devdetails":
		return braiinsDevDetails(sf())
	case "temps":
		s := sf()
		var objs [][]kv
		for i := range s.boards {
			b := &s.boards[i]
			if b.present {
				objs = append(objs, sortedKV([]kv{G("Board", math.Round(b.pcbTemp*10)/10), G("Chip", math.Round(b.chipTemp*10)/10),
					I("ID", int64(i+1)), I("TEMP", int64(len(objs)))}))
			}
		}
		return s.ok(201, strconv.Itoa(len(objs))+" Temp(s)").add("TEMPS", false, objs...)
	case "fans":
		s := sf()
		objs := make([][]kv, len(s.fans))
		for i, rpm := range s.fans {
			objs[i] = []kv{I("FAN", int64(i)), I("ID", int64(i)), N("RPM", rpm), N("Speed", math.Round(100*rpm/6000))}
		}
		return s.ok(202, strconv.Itoa(len(objs))+" Fan(s)").add("FANS", false, objs...)
	}
	return nil
}

func braiinsSummary(s *state) *reply {
	c := s.c
	mhs := func(g float64) float64 { return g * 1e3 }
	o := []kv{N("Accepted", c.accepted), I("Best Share", s.bestShare()), G("Device Hardware%", s.hwPct()),
		G("Device Rejected%", s.rejPct()), G("Difficulty Accepted", math.Floor(c.accepted)*s.model.Diff),
		G("Difficulty Rejected", math.Floor(c.rejected)*s.model.Diff), G("Difficulty Stale", 0), I("Discarded", 0),
		I("Elapsed", int64(s.elapsed)), I("Found Blocks", 0), I("Get Failures", 0), N("Getworks", c.getworks),
		N("Hardware Errors", c.hw), I("Last getwork", s.when), N("Local Work", c.diff1/700), G("MHS 15m", mhs(s.rate15m)),
		G("MHS 1m", mhs(s.rate1m)), G("MHS 24h", mhs(s.rateAv)), G("MHS 5m", mhs(s.rate5m)), G("MHS 5s", mhs(s.rate)),
		G("MHS av", mhs(s.rateAv)), I("Network Blocks", 0), G("Pool Rejected%", s.rejPct()), G("Pool Stale%", 0),
		N("Rejected", c.rejected), I("Remote Failures", 0), I("Stale", 0), G("Total MH", c.totalMH),
		G("Utility", s.utility()), G("Work Utility", s.workUtility())}
	return s.ok(11, "Summary").add("SUMMARY", true, o)
}

func braiinsPools(s *state) *reply {
	ps := s.pools()
	objs := make([][]kv, 0, len(ps))
	for i, p := range ps {
		lsd := 0.0
		if p.accepted > 0 {
			lsd = s.model.Diff
		}
		best := int64(0)
		if p.accepted > 0 {
			best = s.bestShare()
		}
		objs = append(objs, []kv{N("Accepted", p.accepted), B("AsicBoost", true), I("Bad Work", 0), I("Best Share", best),
			I("Current Block Height", 0), I("Current Block Version", 536870912), N("Diff1 Shares", p.accepted*s.model.Diff),
			G("Difficulty Accepted", p.accepted*s.model.Diff), G("Difficulty Rejected", p.rejected*s.model.Diff),
			G("Difficulty Stale", 0), I("Discarded", 0), I("Get Failures", 0), N("Getworks", p.getworks), B("Has GBT", false),
			B("Has Stratum", true), B("Has Vmask", true), G("Last Share Difficulty", lsd),
			I("Last Share Time", s.lastShareEpoch(p.lastShare)), S("Long Poll", "N"), I("POOL", int64(i)),
			G("Pool Rejected%", pct(p.rejected, p.accepted+p.rejected)), G("Pool Stale%", 0), I("Priority", p.prio), S("Proxy", ""),
			S("Proxy Type", ""), I("Quota", 1), N("Rejected", p.rejected), I("Remote Failures", 0), I("Stale", 0),
			S("Status", p.status), B("Stratum Active", p.active), G("Stratum Difficulty", lsd),
			S("Stratum URL", p.url[len("stratum+tcp://"):]), S("URL", p.url), S("User", p.user), G("Work Difficulty", lsd),
			N("Works", p.getworks*2000)})
	}
	return s.ok(7, strconv.Itoa(len(ps))+" Pool(s)").add("POOLS", false, objs...)
}

// braiinsDevs lists the hashboards that answer; a missing board has no entry.
func braiinsDevs(s *state) *reply {
	var objs [][]kv
	share := 1.0 / float64(max(1, presentBoards(s)))
	for i := range s.boards {
		b := &s.boards[i]
		if !b.present {
			continue
		}
		mhs := func(g float64) float64 { return g * 1e3 }
		objs = append(objs, []kv{I("ASC", int64(len(objs))), N("Accepted", s.c.accepted*share), I("Device Elapsed", int64(s.elapsed)),
			G("Device Hardware%", s.hwPct()), G("Device Rejected%", s.rejPct()), N("Diff1 Work", s.c.diff1*share),
			G("Difficulty Accepted", math.Floor(s.c.accepted*share)*s.model.Diff),
			G("Difficulty Rejected", math.Floor(s.c.rejected*share)*s.model.Diff), S("Enabled", "Y"),
			G("Hardware Error MHS 15m", 0), N("Hardware Errors", b.hw), I("ID", int64(i+1)), G("Last Share Difficulty", s.model.Diff),
			I("Last Share Pool", 0), I("Last Share Time", s.lastShareEpoch(s.lastShare)), I("Last Valid Work", s.when),
			G("MHS 15m", mhs(b.mean)), G("MHS 1m", mhs(b.mean)), G("MHS 5m", mhs(b.mean)), G("MHS 5s", mhs(b.rate)),
			G("MHS av", mhs(b.mean)), S("Name", ""), G("Nominal MHS", mhs(b.ideal)), N("Rejected", s.c.rejected*share),
			S("Status", s.devStatus(i)), G("Temperature", math.Round(b.pcbTemp)), G("Total MH", s.c.totalMH*share), G("Utility", 0)})
	}
	return s.ok(9, strconv.Itoa(len(objs))+" ASC(s)").add("DEVS", false, objs...)
}

func braiinsDevDetails(s *state) *reply {
	var objs [][]kv
	for i := range s.boards {
		b := &s.boards[i]
		if !b.present {
			continue
		}
		objs = append(objs, []kv{I("Chips", int64(b.chips-b.failed)), I("Cores", int64((b.chips-b.failed)*4)),
			I("DEVDETAILS", int64(len(objs))), S("Driver", "BOSer"), I("Frequency", 600), I("ID", int64(i+1)), S("Kernel", ""),
			S("Model", s.model.Name), S("Name", ""), G("Voltage", 13.8)})
	}
	return s.ok(69, "Device Details").add("DEVDETAILS", false, objs...)
}
