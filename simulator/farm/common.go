package farm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Expected pool of every simulated miner; the exporter's example module expects this URL and a
// user matching `farm\..*`.
const (
	PoolURL       = "stratum+tcp://pool.example.com:3333"
	PoolHost      = "pool.example.com"
	WrongPoolURL  = "stratum+tcp://evil.example:3333"
	WrongPoolHost = "evil.example"
	WrongUser     = "thief.001"
	// HijackUser and HijackPriority disguise the thief's pool as a firmware fee pool (the
	// pool_hijack fault): a name and a priority, neither of which makes a fee pool.
	HijackUser     = "devfee.thief"
	HijackPriority = 9999
)

// PoolUser is the worker a miner at addr mines as: farm.127-1-0-5.
func PoolUser(addr string) string { return "farm." + strings.ReplaceAll(addr, ".", "-") }

// poolView is one pool as every family reports it.
type poolView struct {
	url, host, user string
	status          string
	prio            int64
	active          bool
	devfee          bool
	accepted        float64
	rejected        float64
	getworks        float64
	lastShare       float64 // seconds since its last share; -1 none
}

// pools lists the configured pools: the farm's pool three times (main and two fall-backs, as
// farms configure them), and VNish's DevFee pool.
func (s *state) pools() []poolView {
	user := PoolUser(s.m.addr.String())
	ps := make([]poolView, 0, 4)
	for i := range 3 {
		p := poolView{url: PoolURL, host: PoolHost, user: user, status: "Alive", prio: int64(i), lastShare: -1}
		if i == 0 {
			p.active = true
			p.accepted = math.Floor(s.c.accepted * (1 - s.feeShare))
			p.rejected = math.Floor(s.c.rejected * (1 - s.feeShare))
			p.getworks = math.Floor(s.c.getworks)
			p.lastShare = s.lastShare
			if s.poolWrong {
				p.url, p.host, p.user = WrongPoolURL, WrongPoolHost, WrongUser
			}
			if s.poolHijack {
				p.url, p.host, p.user, p.prio = WrongPoolURL, WrongPoolHost, HijackUser, HijackPriority
			}
		}
		ps = append(ps, p)
	}
	if s.model.fam == famVNish {
		p := poolView{url: "DevFee", user: "DevFee", status: "Alive", prio: 3, active: s.feeActive, devfee: true,
			accepted: math.Floor(s.c.accepted * s.feeShare), rejected: math.Floor(s.c.rejected * s.feeShare),
			getworks: math.Floor(s.c.getworks * s.feeShare), lastShare: -1}
		if s.feeActive {
			p.lastShare = s.lastShare
		}
		ps = append(ps, p)
	}
	if s.poolDead {
		for i := range ps {
			ps[i].status = "Dead"
			ps[i].active = false
		}
	}
	return ps
}

// hms is bmminer's "Last Share Time": the time since the share as H:MM:SS, "0" when none.
func hms(secs float64) string {
	if secs < 0 {
		return "0"
	}
	t := int64(secs)
	return fmt.Sprintf("%d:%02d:%02d", t/3600, t/60%60, t%60)
}

// lastShareEpoch is cgminer's "Last Share Time": an epoch, 0 when none.
func (s *state) lastShareEpoch(ago float64) int64 {
	if ago < 0 {
		return 0
	}
	return s.when - int64(ago)
}

// humanDiff is bmminer's "Diff": 65536 → "65.5K", 524288 → "524K", 8192 → "8.19K".
func humanDiff(d float64) string {
	units := []string{"", "K", "M", "G", "T"}
	u := 0
	for d >= 1000 && u < len(units)-1 {
		d /= 1000
		u++
	}
	switch {
	case d >= 100:
		return strconv.FormatFloat(d, 'f', 0, 64) + units[u]
	case d >= 10:
		return strconv.FormatFloat(math.Floor(d*10)/10, 'f', 1, 64) + units[u]
	}
	return strconv.FormatFloat(math.Floor(d*100)/100, 'f', 2, 64) + units[u]
}

// acs is Bitmain's chip status string: chips in groups ("o" good, "x" bad), each group after a
// space when lead is set (" ooo ooo"), else groups joined by spaces ("ooooo ooooo").
func acs(chips, failed, group int, lead bool) string {
	if chips <= 0 {
		return ""
	}
	bad := make([]bool, chips)
	for k := range failed {
		bad[k*chips/failed] = true
	}
	var b strings.Builder
	b.Grow(chips + chips/group + 1)
	for i := 0; i < chips; i++ {
		if i%group == 0 && (lead || i > 0) {
			b.WriteByte(' ')
		}
		if bad[i] {
			b.WriteByte('x')
		} else {
			b.WriteByte('o')
		}
	}
	return b.String()
}

// dashed is Bitmain's four-sensor string "73-45-64-65", hottest first; "0-0-0-0" for no board.
func dashed(top float64, present bool) string {
	if !present {
		return "0-0-0-0"
	}
	t := int64(math.Round(top))
	return fmt.Sprintf("%d-%d-%d-%d", t, t-28, t-9, t-8)
}

func pct(part, whole float64) float64 {
	if whole <= 0 {
		return 0
	}
	return 100 * part / whole
}

// workUtility is diff-1 work per minute.
func (s *state) workUtility() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return s.c.diff1 / s.elapsed * 60
}

// utility is accepted shares per minute.
func (s *state) utility() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return s.c.accepted / s.elapsed * 60
}

// bestShare grows with the work done, like the best difficulty found so far.
func (s *state) bestShare() int64 {
	if s.c.diff1 <= 0 {
		return 0
	}
	return int64(s.c.diff1 * (0.5 + unit(hash(s.m.seed, 0xbe57))))
}

// networkBlocks counts the blocks the network found since the software started.
func (s *state) networkBlocks() int64 { return int64(s.elapsed / 600) }
