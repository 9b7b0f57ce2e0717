package farm

import (
	"math"
	"strconv"
)

// cgminerPools is the pools reply of cgminer 4.9–4.11 and its forks (btminer, Canaan): Last
// Share Time as an epoch, the Works/Work Difficulty/Bad Work fields. Templates:
// whatsminer-m30s_pools (no Has Vmask), avalon-1047_pools+summary+stats (Has Vmask).
func cgminerPools(s *state, vmask bool) *reply {
	ps := s.pools()
	objs := make([][]kv, 0, len(ps))
	for i, p := range ps {
		lsd, surl := 0.0, ""
		if p.accepted > 0 {
			lsd = s.model.Diff
		}
		if p.active {
			surl = p.host
		}
		o := []kv{I("POOL", int64(i)), S("URL", p.url), S("Status", p.status), I("Priority", p.prio), I("Quota", 1),
			S("Long Poll", "N"), N("Getworks", p.getworks), N("Accepted", p.accepted), N("Rejected", p.rejected),
			N("Works", p.getworks*2000), N("Discarded", p.getworks*38), N("Stale", p.rejected/40), I("Get Failures", 0),
			I("Remote Failures", 0), S("User", p.user), I("Last Share Time", s.lastShareEpoch(p.lastShare)),
			N("Diff1 Shares", p.accepted*s.model.Diff), S("Proxy Type", ""), S("Proxy", ""),
			F("Difficulty Accepted", p.accepted*s.model.Diff, 8), F("Difficulty Rejected", p.rejected*s.model.Diff, 8),
			F("Difficulty Stale", 0, 8), F("Last Share Difficulty", lsd, 8), F("Work Difficulty", lsd, 8),
			B("Has Stratum", true), B("Stratum Active", p.active), S("Stratum URL", surl), F("Stratum Difficulty", lsd, 8)}
		if vmask {
			o = append(o, B("Has Vmask", true))
		}
		best := int64(0)
		if p.accepted > 0 {
			best = s.bestShare()
		}
		height := int64(0)
		if p.getworks > 0 {
			height = 650000 + s.networkBlocks()
		}
		o = append(o, B("Has GBT", false), I("Best Share", best), F("Pool Rejected%", pct(p.rejected, p.accepted+p.rejected), 4),
			F("Pool Stale%", 0, 4), N("Bad Work", p.getworks/20), I("Current Block Height", height),
			I("Current Block Version", 536870912))
		objs = append(objs, o)
	}
	return s.ok(7, strconv.Itoa(len(ps))+" Pool(s)").add("POOLS", false, objs...)
}

// cgminerSummaryHead is the summary of cgminer 4.x up to Best Share, with the hashrate windows
// given (MH/s).
func cgminerSummaryHead(s *state, windows []kv) []kv {
	c := s.c
	o := []kv{I("Elapsed", int64(s.elapsed))}
	o = append(o, windows...)
	return append(o, I("Found Blocks", 0), N("Getworks", c.getworks), N("Accepted", c.accepted), N("Rejected", c.rejected),
		N("Hardware Errors", c.hw), F("Utility", s.utility(), 2), N("Discarded", c.getworks*38), N("Stale", c.rejected/40),
		I("Get Failures", 0), N("Local Work", c.diff1/700), I("Remote Failures", 0), I("Network Blocks", s.networkBlocks()),
		F("Total MH", math.Floor(c.totalMH), 4), F("Work Utility", s.workUtility(), 2),
		F("Difficulty Accepted", math.Floor(c.accepted)*s.model.Diff, 8),
		F("Difficulty Rejected", math.Floor(c.rejected)*s.model.Diff, 8), F("Difficulty Stale", 0, 8),
		I("Best Share", s.bestShare()))
}

func (s *state) hwPct() float64  { return pct(s.c.hw, s.c.hw+s.c.diff1) }
func (s *state) rejPct() float64 { return pct(s.c.rejected, s.c.accepted+s.c.rejected) }
