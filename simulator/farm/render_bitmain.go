package farm

import (
	"math"
	"strconv"
)

// Bitmain's bmminer and the firmware built on it. Templates (testdata/SOURCES.md):
//   S19 generation: antminer-s19pro-49.0.1.3_{version,summary,pools,devs,stats}, antminer-s19-sleeping_stats
//   S9:             antminer-s9-16.8.1.3_version, antminer-s9-hiveon_stats (`}{`), antminer-l3plus-rwglr_{summary,pools}
//   VNish:          antminer-s17plus-vnish-2.0.3_{version,stats,pools}

func renderBitmain(cmd string, sf func() *state, fam family) *reply {
	switch cmd {
	case "version":
		return bitmainVersion(sf(), fam)
	case "summary":
		return bitmainSummary(sf(), fam)
	case "pools":
		return bitmainPools(sf(), fam)
	case "stats":
		switch fam {
		case famBitmainS9:
			return s9Stats(sf())
		case famVNish:
			return vnishStats(sf())
		}
		return s19Stats(sf())
	case "devs":
		if fam == famVNish {
			return nil
		}
		return bitmainDevs(sf())
	case "devdetails":
		if fam == famBitmain {
			// The S19j Pro capture refuses devdetails without W: access.
			s := sf()
			return s.m.errorReply(s, 45, "Access denied to 'devdetails' command", true)
		}
	}
	return nil
}

func bitmainVersion(s *state, fam family) *reply {
	switch fam {
	case famBitmainS9:
		return s.ok(22, "BMMiner versions").add("VERSION", true, []kv{S("BMMiner", "2.0.0"), S("API", "3.1"),
			S("Miner", "16.8.1.3"), S("CompileTime", "Fri Nov 17 17:37:49 CST 2017"), S("Type", s.model.Name)})
	case famVNish:
		return s.ok(22, "CGMiner versions").add("VERSION", true, []kv{S("CGMiner", "4.11.1"), S("API", "3.7")})
	}
	return s.ok(22, "CGMiner versions").add("VERSION", true, []kv{S("BMMiner", "1.0.0"), S("API", "3.1"),
		S("Miner", "49.0.1.3"), S("CompileTime", "Tue Dec  6 16:12:30 CST 2022"), S("Type", s.model.Name)})
}

func bitmainSummary(s *state, fam family) *reply {
	c := s.c
	hwPct := pct(c.hw, c.hw+c.diff1)
	rejPct := pct(c.rejected, c.accepted+c.rejected)
	o := []kv{I("Elapsed", int64(s.elapsed))}
	switch fam {
	case famBitmain:
		o = append(o, F("GHS 5s", s.rate, 2), F("GHS av", s.rateAv, 2), F("GHS 30m", s.rate15m, 2),
			I("Found Blocks", 0), N("Getwork", c.getworks))
	default:
		// Older bmminer and cgminer 4.11.1 forks write the 5 s rate as a string.
		o = append(o, S("GHS 5s", strconv.FormatFloat(s.rate, 'f', 2, 64)), F("GHS av", s.rateAv, 2),
			I("Found Blocks", 0), N("Getworks", c.getworks))
	}
	o = append(o, N("Accepted", c.accepted), N("Rejected", c.rejected), N("Hardware Errors", c.hw),
		F("Utility", s.utility(), 2), N("Discarded", c.getworks*38), N("Stale", c.rejected/40),
		I("Get Failures", 0), N("Local Work", c.diff1/700), I("Remote Failures", 0),
		I("Network Blocks", s.networkBlocks()), F("Total MH", math.Floor(c.totalMH), 4),
		F("Work Utility", s.workUtility(), 2), F("Difficulty Accepted", math.Floor(c.accepted)*s.model.Diff, 8),
		F("Difficulty Rejected", math.Floor(c.rejected)*s.model.Diff, 8), F("Difficulty Stale", 0, 8),
		I("Best Share", s.bestShare()), F("Device Hardware%", hwPct, 4), F("Device Rejected%", rejPct, 4),
		F("Pool Rejected%", rejPct, 4), F("Pool Stale%", 0, 4), I("Last getwork", s.when))
	if fam == famVNish {
		o = append(o, F("Fee Percent", 100*s.feeShare, 2))
	}
	return s.ok(11, "Summary").add("SUMMARY", true, o)
}

func bitmainPools(s *state, fam family) *reply {
	ps := s.pools()
	objs := make([][]kv, 0, len(ps))
	for i, p := range ps {
		diff := ""
		lsd := 0.0
		if p.accepted > 0 {
			diff, lsd = humanDiff(s.model.Diff), s.model.Diff
		}
		stratumURL := ""
		if p.active {
			stratumURL = p.host
		}
		o := []kv{I("POOL", int64(i)), S("URL", p.url), S("Status", p.status), I("Priority", p.prio), I("Quota", 1),
			S("Long Poll", "N"), N("Getworks", p.getworks), N("Accepted", p.accepted), N("Rejected", p.rejected)}
		if fam == famVNish {
			o = append(o, N("Works", p.getworks*1900))
		}
		o = append(o, N("Discarded", p.getworks*38), N("Stale", p.rejected/40), I("Get Failures", 0),
			I("Remote Failures", 0), S("User", p.user), S("Last Share Time", hms(p.lastShare)), S("Diff", diff),
			N("Diff1 Shares", p.accepted*s.model.Diff), S("Proxy Type", ""), S("Proxy", ""),
			F("Difficulty Accepted", p.accepted*s.model.Diff, 8), F("Difficulty Rejected", p.rejected*s.model.Diff, 8),
			F("Difficulty Stale", 0, 8), F("Last Share Difficulty", lsd, 8))
		if fam == famVNish {
			o = append(o, F("Work Difficulty", lsd, 8))
		}
		o = append(o, B("Has Stratum", true), B("Stratum Active", p.active), S("Stratum URL", stratumURL))
		if fam == famVNish {
			o = append(o, F("Stratum Difficulty", lsd, 8), B("Has Vmask", true))
		}
		best := int64(0)
		if p.accepted > 0 {
			best = s.bestShare()
		}
		o = append(o, B("Has GBT", false), I("Best Share", best), F("Pool Rejected%", pct(p.rejected, p.accepted+p.rejected), 4))
		switch fam {
		case famBitmain:
			o = append(o, F("Pool Stale%%", 0, 4)) // sic: the S19 firmware doubles the percent sign
		case famVNish:
			o = append(o, F("Pool Stale%", 0, 4), N("Bad Work", p.getworks/20), I("Current Block Height", 650000+s.networkBlocks()),
				I("Current Block Version", 536870912))
		default:
			o = append(o, F("Pool Stale%", 0, 4))
		}
		objs = append(objs, o)
	}
	return s.ok(7, strconv.Itoa(len(ps))+" Pool(s)").add("POOLS", false, objs...)
}

// bitmainDevs is the single BTM_SOC device the S19 firmware lists (with its "Tenperature" typo).
func bitmainDevs(s *state) *reply {
	c := s.c
	o := []kv{I("ASC", 0), S("Name", "BTM_SOC"), I("ID", 0), S("Enabled", "Y"), S("Status", s.devStatus(0)),
		F("Tenperature", 0, 2), F("MHS av", 0, 2), F("MHS 5s", 0, 2), N("Accepted", c.accepted), N("Rejected", c.rejected),
		I("Hardware Errors", 0), F("Utility", 0, 2), I("Last Share Pool", 0), I("Last Share Time", s.lastShareEpoch(s.lastShare)),
		F("Total MH", 0, 4), I("Diff1 Work", 0), F("Difficulty Accepted", math.Floor(c.accepted)*s.model.Diff, 8),
		F("Difficulty Rejected", math.Floor(c.rejected)*s.model.Diff, 8), I("Last Share Difficulty", s.lastShareEpoch(s.lastShare)),
		I("Last Valid Work", s.when), F("Device Hardware%", 0, 4), F("Device Rejected%", 0, 4), I("Device Elapsed", int64(s.elapsed))}
	return s.ok(9, "1 ASC(s)").add("DEVS", false, o)
}

func itoa(i int) string { return strconv.Itoa(i) }

func rateText(b *boardState) string {
	if !b.present {
		return ""
	}
	return strconv.FormatFloat(b.rate, 'f', 2, 64)
}

func s19Stats(s *state) *reply {
	md := s.model
	const slots = 4 // the S19 firmware lists a fourth, empty chain
	o := []kv{I("STATS", 0), S("ID", "BTM_SOC0"), I("Elapsed", int64(s.elapsed)), I("Calls", 0), F("Wait", 0, 6),
		F("Max", 0, 6), F("Min", 99999999, 6), F("GHS 5s", s.rate, 2), F("GHS av", s.rateAv, 2), F("rate_30m", s.rate15m, 2),
		I("Mode", 2), I("miner_count", int64(presentBoards(s))), I("frequency", 525), I("fan_num", int64(md.Fans))}
	for i, rpm := range s.fans {
		o = append(o, N("fan"+itoa(i+1), rpm))
	}
	o = append(o, I("temp_num", int64(presentBoards(s))))
	for i := range s.boards {
		b := &s.boards[i]
		if !b.present {
			continue
		}
		n := itoa(i + 1)
		o = append(o, N("temp"+n, math.Round(b.pcbTemp)), N("temp2_"+n, math.Round(b.chipTemp)))
	}
	board := func(i int) *boardState {
		if i < len(s.boards) {
			return &s.boards[i]
		}
		return &boardState{}
	}
	for _, kind := range []string{"pcb", "chip", "pic"} {
		for i := range slots {
			b := board(i)
			t := b.pcbTemp
			switch kind {
			case "chip":
				t = b.chipTemp
			case "pic":
				t = b.pcbTemp - 10
			}
			o = append(o, S("temp_"+kind+itoa(i+1), dashed(t, b.present)))
		}
	}
	acn := 0
	for i := range s.boards {
		if s.boards[i].present {
			acn += s.boards[i].chips
		}
	}
	o = append(o, F("total_rateideal", md.NominalGHS, 2), S("rate_unit", "GH"), I("total_freqavg", 525),
		I("total_acn", int64(acn)), F("total rate", s.rateAv, 2), I("temp_max", 0), I("no_matching_work", int64(s.c.hw)))
	for i := range slots {
		b := board(i)
		o = append(o, I("chain_acn"+itoa(i+1), int64(b.chips)))
	}
	for i := range slots {
		b := board(i)
		o = append(o, S("chain_acs"+itoa(i+1), acs(b.chips, b.failed, 3, true)))
	}
	for i := range slots {
		o = append(o, N("chain_hw"+itoa(i+1), board(i).hw))
	}
	for i := range slots {
		o = append(o, S("chain_rate"+itoa(i+1), rateText(board(i))))
	}
	for i := range slots {
		f := int64(0)
		if board(i).present {
			f = 525
		}
		o = append(o, I("freq"+itoa(i+1), f))
	}
	o = append(o, S("miner_version", "49.0.1.3"), S("miner_id", minerID(s)))
	r := s.ok(70, "CGMiner stats")
	return r.add("STATS", false, []kv{S("BMMiner", "1.0.0"), S("Miner", "49.0.1.3"),
		S("CompileTime", "Tue Dec  6 16:12:30 CST 2022"), S("Type", md.Name)}, o)
}

func presentBoards(s *state) int {
	n := 0
	for i := range s.boards {
		if s.boards[i].present {
			n++
		}
	}
	return n
}

func minerID(s *state) string {
	return strconv.FormatUint(hash(s.m.seed, 0x1d)&0xffffffffffffff, 16)
}

// s9Stats follows the S9 capture: chains 6–8 of 16 slots, fans 5 and 6 of 8, and the version
// block and the driver block written without a comma between them (`}{`), as bmminer 2.0.0 does.
func s9Stats(s *state) *reply {
	md := s.model
	const first, slots = 6, 16
	board := func(n int) *boardState { // n: 1-based chain number
		if i := n - first; i >= 0 && i < len(s.boards) {
			return &s.boards[i]
		}
		return &boardState{}
	}
	o := []kv{I("STATS", 0), S("ID", "BC50"), I("Elapsed", int64(s.elapsed)), I("Calls", 0), F("Wait", 0, 6),
		F("Max", 0, 6), F("Min", 99999999, 6), S("GHS 5s", strconv.FormatFloat(s.rate, 'f', 2, 64)), F("GHS av", s.rateAv, 2),
		I("miner_count", int64(presentBoards(s))), S("frequency", "550"), I("fan_num", int64(md.Fans))}
	for n := 1; n <= 8; n++ {
		rpm := 0.0
		if i := n - 5; i >= 0 && i < len(s.fans) {
			rpm = s.fans[i]
		}
		o = append(o, N("fan"+itoa(n), rpm))
	}
	o = append(o, I("temp_num", int64(presentBoards(s))))
	for n := 1; n <= slots; n++ {
		b := board(n)
		o = append(o, N("temp"+itoa(n), presentTemp(b, b.pcbTemp)))
	}
	for n := 1; n <= slots; n++ {
		b := board(n)
		o = append(o, N("temp2_"+itoa(n), presentTemp(b, b.chipTemp)))
	}
	for n := 1; n <= slots; n++ {
		o = append(o, I("temp3_"+itoa(n), 0))
	}
	for n := 1; n <= slots; n++ {
		f := 0.0
		if board(n).present {
			f = 550
		}
		o = append(o, F("freq_avg"+itoa(n), f, 2))
	}
	acn := 0
	for i := range s.boards {
		if s.boards[i].present {
			acn += s.boards[i].chips
		}
	}
	o = append(o, F("total_rateideal", md.NominalGHS, 2), F("total_freqavg", 550, 2), I("total_acn", int64(acn)),
		F("total_rate", s.rate, 2))
	for n := 1; n <= slots; n++ {
		b := board(n)
		o = append(o, F("chain_rateideal"+itoa(n), b.idealIfPresent(), 2))
	}
	o = append(o, N("temp_max", math.Round(s.maxChip)), F("Device Hardware%", pct(s.c.hw, s.c.hw+s.c.diff1), 4),
		I("no_matching_work", int64(s.c.hw)))
	for n := 1; n <= slots; n++ {
		o = append(o, I("chain_acn"+itoa(n), int64(board(n).chips)))
	}
	for n := 1; n <= slots; n++ {
		b := board(n)
		o = append(o, S("chain_acs"+itoa(n), acs(b.chips, b.failed, 8, true)))
	}
	for n := 1; n <= slots; n++ {
		o = append(o, N("chain_hw"+itoa(n), board(n).hw))
	}
	for n := 1; n <= slots; n++ {
		o = append(o, S("chain_rate"+itoa(n), rateText(board(n))))
	}
	for _, key := range []string{"chain_xtime", "chain_offside_", "chain_opencore_"} {
		for n := first; n < first+md.Boards; n++ {
			v := "0"
			if key == "chain_xtime" {
				v = "{}"
			}
			o = append(o, S(key+itoa(n), v))
		}
	}
	o = append(o, S("miner_version", "16.8.1.3"))
	r := s.ok(70, "BMMiner stats")
	r.glued = true
	return r.add("STATS", false, []kv{S("BMMiner", "2.0.0"), S("Miner", "16.8.1.3"),
		S("CompileTime", "Fri Nov 17 17:37:49 CST 2017"), S("Type", md.Name)}, o)
}

func presentTemp(b *boardState, t float64) float64 {
	if !b.present {
		return 0
	}
	return math.Round(t)
}

func (b *boardState) idealIfPresent() float64 {
	if !b.present {
		return 0
	}
	return b.ideal
}

// vnishStats follows the VNish 2.0.3 capture: "Cgminer" in the version block, the Type decorated
// with the firmware, "state", numeric chain_rate, chip strings in groups of five.
func vnishStats(s *state) *reply {
	md := s.model
	state := "mining"
	if s.sleeping {
		state = "stopped"
	}
	acn := 0
	for i := range s.boards {
		if s.boards[i].present {
			acn += s.boards[i].chips
		}
	}
	o := []kv{I("STATS", 0), S("ID", "BTM_SOC0"), I("Elapsed", int64(s.elapsed)), I("Calls", 0), F("Wait", 0, 6),
		F("Max", 0, 6), F("Min", 99999999, 6), S("GHS 5s", strconv.FormatFloat(s.rate, 'f', 2, 64)), F("GHS av", s.rateAv, 2),
		I("miner_count", int64(presentBoards(s))), I("total_acn", int64(acn)), I("frequency", 565), F("total_freqavg", 610.26, 2),
		F("total_rateideal", md.NominalGHS, 2), F("total_rate", s.rate, 2), S("state", state), I("fan_num", int64(md.Fans)),
		I("fan_mode", 0), I("fan_pwm", 100)}
	for i, rpm := range s.fans {
		o = append(o, N("fan"+itoa(i+1), rpm))
	}
	o = append(o, I("temp_num", int64(presentBoards(s))))
	for i := range s.boards {
		o = append(o, N("temp"+itoa(i+1), presentTemp(&s.boards[i], s.boards[i].pcbTemp)))
	}
	for i := range s.boards {
		o = append(o, N("temp2_"+itoa(i+1), presentTemp(&s.boards[i], s.boards[i].chipTemp)))
	}
	for i := range s.boards {
		o = append(o, N("temp3_"+itoa(i+1), presentTemp(&s.boards[i], s.boards[i].chipTemp)))
	}
	for i := range s.boards {
		o = append(o, S("temp_pcb"+itoa(i+1), dashed(s.boards[i].pcbTemp, s.boards[i].present)))
	}
	for i := range s.boards {
		o = append(o, S("temp_chip"+itoa(i+1), dashed(s.boards[i].chipTemp, s.boards[i].present)))
	}
	for i := range s.boards {
		o = append(o, I("chain_acn"+itoa(i+1), int64(s.boards[i].chips)))
	}
	for i := range s.boards {
		v := int64(0)
		if s.boards[i].present {
			v = 19300
		}
		o = append(o, I("chain_vol"+itoa(i+1), v))
	}
	for i := range s.boards {
		f := 0.0
		if s.boards[i].present {
			f = 610.26
		}
		o = append(o, F("freq_avg"+itoa(i+1), f, 2))
	}
	for i := range s.boards {
		o = append(o, F("chain_rateideal"+itoa(i+1), s.boards[i].idealIfPresent(), 2))
	}
	for i := range s.boards {
		o = append(o, F("chain_rate"+itoa(i+1), s.boards[i].rate, 2))
	}
	for i := range s.boards {
		o = append(o, N("chain_hw"+itoa(i+1), s.boards[i].hw))
	}
	for i := range s.boards {
		b := &s.boards[i]
		o = append(o, S("chain_acs"+itoa(i+1), acs(b.chips, b.failed, 5, false)))
	}
	per := s.power / float64(max(1, presentBoards(s)))
	for i := range s.boards {
		w := 0.0
		if s.boards[i].present {
			w = math.Round(per)
		}
		o = append(o, N("chain_consumption"+itoa(i+1), w))
	}
	o = append(o, S("miner_version", "49.0.1.3"), S("build_version", "2.0.3"))
	return s.ok(70, "CGMiner stats").add("STATS", false, []kv{S("Cgminer", "4.11.1"), S("Miner", "49.0.1.3"),
		S("CompileTime", "Sat Aug 15 18:55:51 CST 2020"), S("Type", md.Name+" (vnish 2.0.3)")}, o)
}
