package farm

import (
	"math"
	"time"
)

// Everything a miner reports is computed on request from its seed, the time since the farm
// started and its faults: no miner has a goroutine or a ticker, so 10,000 of them cost little.
// Counters (shares, hardware errors, work) grow at rates that depend on the faults; setting or
// clearing a fault closes the current period (Miner.base at Miner.epoch), so counters never go
// backwards except where a real miner resets them (a restart).

const (
	two32 = 4294967296.0

	hwFracNormal   = 2e-6  // hardware errors per diff-1 work unit, healthy
	hwFracHigh     = 0.05  // hw_errors_high: 5 % of the work is bad, well above the 1 % alert threshold
	rejFracNormal  = 0.002 // rejected share ratio, healthy
	rejFracHigh    = 0.10  // rejects_high
	lowFactor      = 0.6   // hashrate_low
	lowPowerFactor = 0.8   // low_power: Whatsminer's low-power mode hashes this much of nominal
	getworkSeconds = 30    // a new job from the pool about every 30 s
)

// counters are a miner's cumulative counters (floats, truncated when written).
type counters struct {
	accepted, rejected, hw, diff1, totalMH, getworks float64
}

func (c counters) add(r counters, secs float64) counters {
	return counters{
		accepted: c.accepted + r.accepted*secs,
		rejected: c.rejected + r.rejected*secs,
		hw:       c.hw + r.hw*secs,
		diff1:    c.diff1 + r.diff1*secs,
		totalMH:  c.totalMH + r.totalMH*secs,
		getworks: c.getworks + r.getworks*secs,
	}
}

// splitmix64 mixes a 64-bit value; chained, it hashes several.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func hash(xs ...uint64) uint64 {
	h := uint64(0x51afd7ed558ccd)
	for _, x := range xs {
		h = splitmix64(h ^ x)
	}
	return h
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// signed maps a hash to [-1, 1).
func signed(h uint64) float64 { return 2*unit(h) - 1 }

// wave is smooth deterministic noise in [-1, 1]: random values every period seconds, joined by
// cosine interpolation, so readings drift plausibly instead of jumping.
func wave(seed, salt uint64, t, period float64) float64 {
	k := math.Floor(t / period)
	frac := t/period - k
	a := signed(hash(seed, salt, uint64(int64(k))))
	b := signed(hash(seed, salt, uint64(int64(k)+1)))
	w := (1 - math.Cos(frac*math.Pi)) / 2
	return a*(1-w) + b*w
}

// boardState is one hashboard slot at one moment.
type boardState struct {
	present  bool
	chips    int // chips detected
	failed   int // of those, chips marked bad ("x")
	ideal    float64
	mean     float64 // GH/s the board averages with the current faults
	rate     float64 // GH/s over the shortest window (5 s)
	chipTemp float64
	pcbTemp  float64
	hw       float64
}

// state is one miner at one moment: what every reply is written from.
type state struct {
	m     *Miner
	model *Model
	now   time.Time
	when  int64   // epoch seconds, the STATUS When
	t     float64 // seconds since the farm started (for noise)

	elapsed float64 // seconds since the mining software started
	uptime  float64 // seconds since the controller booted (≥ elapsed)

	boards     []boardState
	ideal      float64 // GH/s
	rate       float64 // GH/s, 5 s window
	rateAv     float64 // GH/s since start
	rate1m     float64
	rate5m     float64
	rate15m    float64
	c          counters
	lastShare  float64 // seconds since the last accepted share; -1 when none since start
	fans       []float64
	power      float64
	envTemp    float64
	maxChip    float64
	faults     faultSet
	since      [numFaults]time.Time // when each active fault was set (the firmware's error-code times)
	sleeping   bool
	lowPower   bool // Whatsminer low-power mode (low_power)
	poolDead   bool
	poolWrong  bool
	poolHijack bool
	feeActive  bool    // VNish: mining on its DevFee pool now
	feeShare   float64 // VNish: the share of work that went to DevFee
}

// devStatus is the Status devs reports for the device of board slot i: "Dead" for the first
// device under device_dead (cgminer marks a device Dead after 10 minutes without valid work),
// else "Alive".
func (s *state) devStatus(i int) string {
	if s.faults.has(DeviceDead) && i == deadSlot(len(s.boards)) {
		return "Dead"
	}
	return "Alive"
}

// hashing reports whether the miner is doing any work now.
func (s *state) hashing() bool { return s.rate > 0 }

// Slots the board faults hit: the second board goes missing, the first dies, the last loses chips.
func missingSlot(boards int) int { return min(1, boards-1) }
func deadSlot(int) int           { return 0 }
func failedSlot(boards int) int  { return boards - 1 }

// failedChips is how many chips chips_failed marks bad.
func failedChips(chips int) int { return max(1, chips/14) }

// boardMeans is each board's average hashrate in GH/s under the faults (0 for an absent board).
func (m *Miner) boardMeans(f faultSet) []float64 {
	md := m.model
	out := make([]float64, md.Boards)
	if f.has(Offline) || f.has(Sleeping) || f.has(ZeroHashrate) || f.has(PoolDead) {
		return out
	}
	per := md.NominalGHS / float64(md.Boards)
	for i := range out {
		v := per * m.boardFactor(i)
		switch {
		case f.has(BoardMissing) && i == missingSlot(md.Boards):
			v = 0
		case f.has(BoardDead) && i == deadSlot(md.Boards):
			v = 0
		case f.has(DeviceDead) && i == deadSlot(md.Boards):
			v = 0
		case f.has(ChipsFailed) && i == failedSlot(md.Boards):
			v *= 1 - float64(failedChips(md.Chips))/float64(md.Chips)
		}
		if f.has(HashrateLow) {
			v *= lowFactor
		}
		if f.has(LowPower) && md.whatsminer() {
			v *= lowPowerFactor
		}
		out[i] = v
	}
	return out
}

// boardFactor is how far board i of this unit sits from nominal: units differ a little.
func (m *Miner) boardFactor(i int) float64 {
	return 0.99 + 0.035*unit(hash(m.seed, 0xb0a4d, uint64(i)))
}

// rates are the counters' growth per second under the faults.
func (m *Miner) rates(f faultSet) counters {
	var ghs float64
	for _, v := range m.boardMeans(f) {
		ghs += v
	}
	diff1 := ghs * 1e9 / two32
	shares := diff1 / m.model.Diff
	rej := rejFracNormal
	if f.has(RejectsHigh) {
		rej = rejFracHigh
	}
	hw := hwFracNormal
	if f.has(HWErrorsHigh) {
		hw = hwFracHigh
	}
	r := counters{
		accepted: shares * (1 - rej),
		rejected: shares * rej,
		hw:       diff1 * hw,
		diff1:    diff1,
		totalMH:  ghs * 1e3,
	}
	if !f.has(Offline) && !f.has(PoolDead) {
		r.getworks = 1.0 / getworkSeconds
	}
	return r
}

// advanceLocked brings the counters' period up to now: with restart_loop on, each restart that
// has happened since the last look starts the counters again from zero. m.mu must be held.
func (m *Miner) advanceLocked(now time.Time) {
	if !m.faults.has(RestartLoop) {
		return
	}
	p := m.farm.cfg.RestartPeriod
	since := m.since[RestartLoop]
	if now.Before(since) {
		return
	}
	last := since.Add(now.Sub(since) / p * p)
	if last.After(m.boot) {
		m.boot, m.epoch, m.base = last, last, counters{}
	}
}

// countersLocked are the counters at now. m.mu must be held and advanceLocked called.
func (m *Miner) countersLocked(now time.Time) counters {
	secs := now.Sub(m.epoch).Seconds()
	if secs < 0 {
		secs = 0
	}
	return m.base.add(m.rates(m.faults), secs)
}

// snapshot computes the miner's state at now.
func (m *Miner) snapshot(now time.Time) *state {
	m.mu.Lock()
	m.advanceLocked(now)
	f := m.faults
	since := m.since
	c := m.countersLocked(now)
	boot, epoch := m.boot, m.epoch
	lastStop := m.lastShareStop
	m.mu.Unlock()

	md := m.model
	cfg := &m.farm.cfg
	s := &state{m: m, model: md, now: now, when: now.Unix(), faults: f, since: since, c: c}
	s.t = now.Sub(m.farm.start).Seconds()
	s.elapsed = math.Max(0, math.Floor(now.Sub(boot).Seconds()))
	s.uptime = s.elapsed + m.osExtra
	s.sleeping = f.has(Sleeping)
	s.poolDead = f.has(PoolDead)
	s.poolWrong = f.has(PoolWrong)
	s.poolHijack = f.has(PoolHijack)
	s.lowPower = f.has(LowPower) && md.whatsminer()

	means := m.boardMeans(f)
	// A freshly started miner needs about a minute to reach its hashrate.
	ramp := math.Min(1, s.elapsed/60)
	s.boards = make([]boardState, md.Boards)
	hot := 0.0
	for i := range s.boards {
		b := &s.boards[i]
		b.present = !(f.has(BoardMissing) && i == missingSlot(md.Boards))
		if !b.present {
			continue
		}
		b.chips = md.Chips
		b.ideal = md.NominalGHS / float64(md.Boards)
		b.mean = means[i]
		switch {
		case f.has(BoardDead) && i == deadSlot(md.Boards):
			b.failed = b.chips
		case f.has(ChipsFailed) && i == failedSlot(md.Boards):
			b.failed = failedChips(md.Chips)
		}
		if s.sleeping && (md.fam == famBitmain || md.fam == famBitmainS9) {
			// Stock Antminer firmware in sleep mode marks every chip x (see the S19 sleeping capture).
			b.failed = b.chips
		}
		b.rate = b.mean * ramp * (1 + 0.025*wave(m.seed, 0x5a7e+uint64(i), s.t, 5))
		s.rate += b.rate
		s.rateAv += b.mean
		share := 1.0
		if c.diff1 > 0 {
			share = b.mean / math.Max(1e-9, sumF(means))
		}
		b.hw = c.hw * share

		// Temperatures follow the work the board does, then the faults.
		load := 0.0
		if b.ideal > 0 {
			load = b.mean / b.ideal
		}
		ambient := 34 + 3*wave(m.seed, 0xa3b, s.t, 900)
		off := 3 * signed(hash(m.seed, 0x7e3, uint64(i)))
		b.chipTemp = ambient + (md.ChipTemp-34+off)*load + 1.2*wave(m.seed, 0xc41+uint64(i), s.t, 120)
		b.pcbTemp = ambient + (md.PCBTemp-34+off)*load + 0.8*wave(m.seed, 0xc51+uint64(i), s.t, 180)
		switch {
		case f.has(OverheatCritical):
			b.chipTemp = 105 + 1.5*wave(m.seed, 0xc61+uint64(i), s.t, 60)
			b.pcbTemp = 92 + wave(m.seed, 0xc71+uint64(i), s.t, 60)
		case f.has(Overheat):
			b.chipTemp = 92 + 1.2*wave(m.seed, 0xc61+uint64(i), s.t, 60)
			b.pcbTemp = 80 + wave(m.seed, 0xc71+uint64(i), s.t, 60)
		}
		hot = math.Max(hot, b.chipTemp)
	}
	s.maxChip = hot
	s.ideal = md.NominalGHS
	s.rate1m = s.rateAv * (1 + 0.01*wave(m.seed, 0x1a, s.t, 60))
	s.rate5m = s.rateAv * (1 + 0.005*wave(m.seed, 0x5a, s.t, 300))
	s.rate15m = s.rateAv * (1 + 0.003*wave(m.seed, 0x15a, s.t, 900))
	s.envTemp = 25 + 2*wave(m.seed, 0xe4, s.t, 1800)

	// Fans: the controller speeds them up when hot and idles them when asleep.
	fanF := 1.0
	switch {
	case f.has(OverheatCritical) || f.has(Overheat):
		fanF = 1.25
	case s.sleeping:
		fanF = 0.3
	}
	s.fans = make([]float64, md.Fans)
	for i := range s.fans {
		s.fans[i] = math.Round(md.FanRPM*fanF*(1+0.02*wave(m.seed, 0xfa+uint64(i), s.t, 30))/30) * 30
	}
	if f.has(FanStopped) && len(s.fans) > 0 {
		s.fans[0] = 0
	}
	load := 0.0
	if md.NominalGHS > 0 {
		load = s.rateAv / md.NominalGHS
	}
	s.power = math.Round(md.Power * (0.06 + 0.94*load) * (1 + 0.01*wave(m.seed, 0x90, s.t, 60)))

	// The last accepted share: shares arrive every 1/rate seconds while work is accepted.
	r := m.rates(f)
	switch {
	case r.accepted > 0:
		interval := 1 / r.accepted
		since := now.Sub(epoch).Seconds()
		s.lastShare = math.Mod(since+interval*unit(hash(m.seed, 0x15)), interval)
	case !lastStop.IsZero():
		s.lastShare = now.Sub(lastStop).Seconds()
	default:
		s.lastShare = -1
	}
	if md.fam == famVNish {
		s.feeShare = cfg.DevFee.Seconds() / 3600
		if cfg.DevFee > 0 {
			// Each unit mines for its developer in its own slice of the hour.
			start := time.Duration(hash(m.seed, 0xdef) % uint64(time.Hour-cfg.DevFee))
			pos := time.Duration(now.UnixNano() % int64(time.Hour))
			s.feeActive = pos >= start && pos < start+cfg.DevFee && s.hashing() && !s.poolDead
		}
	}
	return s
}

func sumF(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}
