package farm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Canaan's cgminer 4.11.1 on the Avalon 1047. Template: avalon-1047_pools+summary+stats (the
// hardware is one "MM ID0" string of Key[value] tokens); version follows avalon-q-25052801_version
// with the 1047's identity. estats answers like stats.

func renderAvalon(cmd string, sf func() *state) *reply {
	switch cmd {
	case "version":
		s := sf()
		return s.ok(22, "CGMiner versions").add("VERSION", true, []kv{S("CGMiner", "4.11.1"), S("API", "3.7"),
			S("PROD", "AvalonMiner 1047"), S("MODEL", "1047"), S("HWTYPE", "MM3v2_X3"), S("SWTYPE", "MM314"),
			S("LVERSION", "20051101_85dc6f0"), S("BVERSION", "20051101_85dc6f0"), S("CGVERSION", "20051101_85dc6f0"),
			S("DNA", avalonDNA(s)), S("MAC", "b4a2eb"+avalonDNA(s)[10:])})
	case "summary":
		s := sf()
		mhs := func(g float64) float64 { return g * 1e3 }
		o := cgminerSummaryHead(s, []kv{F("MHS av", mhs(s.rateAv), 2), F("MHS 30s", mhs(s.rate), 2), F("MHS 1m", mhs(s.rate1m), 2),
			F("MHS 5m", mhs(s.rate5m), 2), F("MHS 15m", mhs(s.rate15m), 2)})
		o = append(o, F("Device Hardware%", s.hwPct(), 4), F("Device Rejected%", s.rejPct(), 4), F("Pool Rejected%", s.rejPct(), 4),
			F("Pool Stale%", 0, 4), I("Last getwork", 0))
		return s.ok(11, "Summary").add("SUMMARY", true, o)
	case "pools":
		return cgminerPools(sf(), true)
	case "stats", "estats":
		return avalonStats(sf())
	}
	return nil
}

func avalonDNA(s *state) string {
	return fmt.Sprintf("0201%012x", hash(s.m.seed, 0xd4a)&0xffffffffffff)
}

func avalonStats(s *state) *reply {
	var b strings.Builder
	present := presentBoards(s)
	work := "In Work"
	if s.sleeping {
		work = "In Idle"
	}
	tmax, tavg := 0, 0
	var mghs, mtmax, mtavg []string
	for i := range s.boards {
		bd := &s.boards[i]
		if !bd.present {
			continue
		}
		mghs = append(mghs, strconv.FormatFloat(bd.rate, 'f', 2, 64))
		mtmax = append(mtmax, strconv.Itoa(int(math.Round(bd.chipTemp))))
		mtavg = append(mtavg, strconv.Itoa(int(math.Round(bd.chipTemp-6))))
		tmax = max(tmax, int(math.Round(bd.chipTemp)))
		tavg = max(tavg, int(math.Round(bd.chipTemp-6)))
	}
	fan := func(i int) int {
		if i < len(s.fans) {
			return int(s.fans[i])
		}
		return 0
	}
	fmt.Fprintf(&b, "Ver[1047-20051101_85dc6f0_0332654] DNA[%s] MEMFREE[1413136.0] NETFAIL[0 0 0 0 0 0 0 0] "+
		"SYSTEMSTATU[Work: %s, Hash Board: %d ] Elapsed[%d] BOOTBY[0x0C.00000001] LW[%d] MH[0 0] HW[%d] DH[%.3f%%] "+
		"Temp[%d] TMax[%d] TAvg[%d] Fan1[%d] Fan2[%d] FanR[%d%%] Vo[0] PS[0 0 0 0 0 0] PLL0[1925 1138 1411 2606] "+
		"PLL1[1359 1377 1905 2439] GHSmm[%.2f] GHSavg[%.2f] WU[%.2f] Freq[661.56] Led[0] MGHS[%s] MTmax[%s] MTavg[%s] "+
		"TA[240] PING[100] ECHU[512 512] ECMM[0] SF0[612 637 662 687] SF1[637 662 687 712] ",
		avalonDNA(s), work, present, int64(s.elapsed)+2, int64(s.c.diff1/700), int64(s.c.hw), s.hwPct(),
		int(math.Round(s.envTemp)), tmax, tavg, fan(0), fan(1), int(math.Round(100*float64(fan(0))/9000)),
		s.rate, s.rateAv, s.workUtility(), strings.Join(mghs, " "), strings.Join(mtmax, " "), strings.Join(mtavg, " "))
	// Per-chip temperatures and voltages of each board; a board that lost chips lists fewer.
	k := 0
	for i := range s.boards {
		bd := &s.boards[i]
		if !bd.present {
			continue
		}
		fmt.Fprintf(&b, "PVT_T%d[", k)
		alive := bd.chips - bd.failed
		for c := range alive {
			if c > 0 {
				b.WriteByte(' ')
			}
			t := bd.chipTemp - 8 + 6*signed(hash(s.m.seed, uint64(i), uint64(c)))
			fmt.Fprintf(&b, "%3d", int(math.Round(t)))
		}
		fmt.Fprintf(&b, "] PVT_V%d[", k)
		for c := range alive {
			if c > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.Itoa(315 + int(hash(s.m.seed, 0x7f, uint64(i), uint64(c))%12)))
		}
		b.WriteString("] ")
		k++
	}
	fmt.Fprintf(&b, "CRC[%s] POW_I2C[FAILED] FACOPTS0[] FACOPTS1[] ATAOPTS0[--avalon10-freq 562:587:612:637 --avalon10-voltage-level 36 ] "+
		"ATAOPTS1[--avalon10-freq 637:662:687:712 --avalon10-voltage-level 56 ] ADJ[1] MPO[2220] MVL[71] "+
		"ATABD0[612 637 662 687] ATABD1[637 662 687 712] WORKMODE[1]", strings.TrimSpace(strings.Repeat("0 ", present)))

	objs := [][]kv{{I("STATS", 0), S("ID", "AVA100"), I("Elapsed", int64(s.elapsed)), I("Calls", 0), F("Wait", 0, 6),
		F("Max", 0, 6), F("Min", 99999999, 6), S("MM ID0", b.String()), I("MM Count", 1), I("Smart Speed", 1),
		I("Voltage Level Offset", 0), I("Nonce Mask", 25)}}
	for i, p := range s.pools() {
		wd := 0.0
		if p.accepted > 0 {
			wd = s.model.Diff
		}
		objs = append(objs, []kv{I("STATS", int64(i+1)), S("ID", "POOL"+itoa(i)), I("Elapsed", int64(s.elapsed)), I("Calls", 0),
			F("Wait", 0, 6), F("Max", 0, 6), F("Min", 99999999, 6), I("Pool Calls", 0), I("Pool Attempts", 0),
			F("Pool Wait", 0, 6), F("Pool Max", 0, 6), F("Pool Min", 99999999, 6), F("Pool Av", 0, 6),
			B("Work Had Roll Time", false), B("Work Can Roll", false), B("Work Had Expire", false), I("Work Roll Time", 0),
			F("Work Diff", wd, 8), F("Min Diff", wd, 8), F("Max Diff", wd, 8), N("Min Diff Count", p.accepted),
			N("Max Diff Count", p.accepted), N("Times Sent", p.getworks*2), N("Bytes Sent", p.getworks*250),
			N("Times Recv", p.getworks*6), N("Bytes Recv", p.getworks*1300), N("Net Bytes Sent", p.getworks*250),
			N("Net Bytes Recv", p.getworks*1300)})
	}
	return s.ok(70, "CGMiner stats").add("STATS", false, objs...)
}
