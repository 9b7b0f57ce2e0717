package farm

import (
	"math"
	"strconv"
	"strings"
)

// MicroBT's Whatsminer API v3 replies (the m60s model). Templates (testdata/SOURCES.md):
// whatsminer-v3/m60s-vk40-20251209.16.rel2_{get.device.info+error-code,get.miner.status-summary,
// get.miner.status-pools}, whose keys are sorted, as every reply here is written. Not captured,
// built from MicroBT's API v3 mock (whatsminer/whatsminer-mdk-worker) and the libraries that read
// the API (asic-rs, matroskin), and marked so in README.md: get.miner.status edevs and
// get.miner.setting. Hashrates are TH/s.

const (
	v3API      = "3.0.2"
	v3Firmware = "20251209.16.Rel2"
	v3Type     = "M60S_VK40"
)

// v3Sections are get.device.info's parts, which its param may name one at a time.
var v3Sections = []string{"error-code", "miner", "network", "power", "salt", "system"}

// v3DeviceInfo is get.device.info's msg: every part, or the one param names (false for a param
// that names none).
func v3DeviceInfo(s *state, param string) ([]kv, bool) {
	parts := map[string]kv{
		"error-code": v3ErrorCodes(s),
		"miner":      v3Miner(s),
		"network": O("network", S("dns", "172.16.2.1"), S("gateway", "172.16.2.1"), S("hostname", "WhatsMiner"),
			S("ip", s.m.addr.String()), S("mac", v3MAC(s)), S("netmask", "255.255.255.0"), S("proto", "dhcp")),
		// power.mode is "1" in the only capture, its meaning unknown: it is written as captured.
		"power": O("power", N("fanspeed", s.psuFan()), S("hwversion", "RT0159"), S("mode", "1"), S("model", "P221B"),
			S("sn", "1436B24"+digits(hash(s.m.seed, 0x95), 8)), S("swversion", "230224.220429"), S("type", "P221B"), S("vendor", "1")),
		"salt": S("salt", v3Salt(s)),
		"system": O("system", S("api", v3API), S("apiswitch", "1"), S("control-board-version", "CB6V10"),
			S("fwversion", v3Firmware), S("ledstatus", "auto"), S("platform", "H616")),
	}
	if param != "" {
		p, ok := parts[param]
		if !ok {
			return nil, false
		}
		return []kv{p}, true
	}
	out := make([]kv, 0, len(v3Sections))
	for _, k := range v3Sections {
		out = append(out, parts[k])
	}
	return out, true
}

// v3ErrorCodes is the error-code list: one object per code, {"<code>":"<time>","reason":"…"}.
func v3ErrorCodes(s *state) kv {
	codes := s.whatsminerCodes()
	elems := make([]kv, 0, len(codes))
	for _, c := range codes {
		elems = append(elems, O("", S(strconv.Itoa(c.code), wmTime(c.since)), S("reason", c.reason)))
	}
	return A("error-code", elems...)
}

func v3Miner(s *state) kv {
	md := s.model
	o := []kv{S("board-num", strconv.Itoa(md.Boards))}
	var detect []string
	for i := range s.boards {
		b := &s.boards[i]
		if b.present {
			o = append(o, S("chipdata"+itoa(i), "K8EC37"+itoa(4-i%3)+"-2426 BINVE6-197806A"))
			detect = append(detect, strconv.FormatInt(int64(s.model.NominalGHS/float64(md.Boards)*s.m.boardFactor(i)), 10))
		} else {
			detect = append(detect, "0")
		}
	}
	o = append(o, S("detect-hash-rate", strings.Join(detect, ":")), S("fast-boot", "disable"), S("hash-board", "K40"),
		S("hash-percent", "0"), S("miner-sn", v3Serial(s)))
	for i := range s.boards {
		if s.boards[i].present {
			o = append(o, S("pcbsn"+itoa(i), v3BoardSerial(s, i)))
		}
	}
	working := "true"
	if s.sleeping {
		working = "false" // mining switched off (power-off): the firmware's curtailment
	}
	o = append(o, S("pool-strategy", "FAILOVER"), S("type", v3Type), S("working", working))
	return O("miner", o...)
}

// v3MinerStatus is get.miner.status's msg: the parts param names, joined by '+' (summary,
// pools, edevs; duplicates once). No part, or one it does not know, is false.
func v3MinerStatus(s *state, param string) ([]kv, bool) {
	var out []kv
	seen := map[string]bool{}
	for _, p := range strings.Split(param, "+") {
		if seen[p] {
			continue
		}
		seen[p] = true
		switch p {
		case "summary":
			out = append(out, v3Summary(s))
		case "pools":
			out = append(out, v3Pools(s))
		case "edevs":
			out = append(out, v3EDevs(s))
		default:
			return nil, false
		}
	}
	return out, len(out) > 0
}

// th is a hashrate in TH/s from GH/s, to the firmware's three decimals.
func th(ghs float64) float64 { return math.Round(ghs) / 1000 }

// tenth rounds a temperature or a power to one decimal.
func tenth(v float64) float64 { return math.Round(v*10) / 10 }

func v3Summary(s *state) kv {
	temps := make([]kv, len(s.boards))
	for i := range s.boards {
		temps[i] = G("", tenth(s.boards[i].pcbTemp)) // 0 for a board that is not detected
	}
	fanIn, fanOut := 0.0, 0.0
	if len(s.fans) > 1 {
		fanIn, fanOut = s.fans[0], s.fans[1]
	}
	chipMin, chipAvg := s.maxChip, s.maxChip
	if s.maxChip > 0 {
		chipMin, chipAvg = s.maxChip-14, s.maxChip-6.5
	}
	upFreq := int64(0)
	if s.elapsed > 900 && s.hashing() {
		upFreq = 1
	}
	rate := 0.0
	if s.rate > 0 {
		rate = tenth(s.power / (s.rate / 1000))
	}
	return O("summary", S("Debug", ""), A("board-temperature", temps...), I("bootup-time", int64(s.uptime)),
		G("chip-temp-avg", tenth(chipAvg)), G("chip-temp-max", tenth(s.maxChip)), G("chip-temp-min", tenth(chipMin)),
		I("elapsed", int64(s.elapsed)), G("environment-temperature", tenth(s.envTemp)), G("factory-hash", th(factoryGHS(s))),
		N("fan-speed-in", fanIn), N("fan-speed-out", fanOut), I("freq-avg", 625), G("hash-15min", th(s.rate15m)),
		G("hash-1min", th(s.rate1m)), G("hash-average", th(s.rateAv)), G("hash-realtime", th(s.rate)),
		G("power-5min", tenth(s.power*0.99)), I("power-limit", 3600), G("power-rate", rate), G("power-realtime", tenth(s.power)),
		I("up-freq-finish", upFreq))
}

func v3Pools(s *state) kv {
	ps := s.pools()
	elems := make([]kv, 0, len(ps))
	for _, p := range ps {
		elems = append(elems, O("", S("account", p.user), I("pool-priority", p.prio), S("status", strings.ToLower(p.status)),
			B("stratum-active", p.active), S("url", p.url)))
	}
	return A("pools", elems...)
}

// v3EDevs lists the boards that answer (a missing board has no entry), with the fields of
// MicroBT's API v3 mock: the slot, its average hashrate and factory hashrate (TH/s), frequency,
// effective chips and chip temperatures.
func v3EDevs(s *state) kv {
	var elems []kv
	for i := range s.boards {
		b := &s.boards[i]
		if !b.present {
			continue
		}
		freq := int64(625)
		if b.mean == 0 {
			freq = 0
		}
		elems = append(elems, O("", G("chip-temp-avg", tenth(b.chipTemp-6.5)), G("chip-temp-max", tenth(b.chipTemp)),
			G("chip-temp-min", tenth(b.chipTemp-14)), I("effective-chips", int64(b.chips-b.failed)),
			G("factory-hash", th(b.ideal*s.m.boardFactor(i))), I("freq", freq), G("hash-average", th(b.mean)),
			I("id", int64(i)), I("slot", int64(i))))
	}
	return A("edevs", elems...)
}

// factoryGHS is the miner's factory hashrate: the sum of its boards' ratings (each unit's boards
// sit a little off nominal, boardFactor).
func factoryGHS(s *state) float64 {
	per := s.model.NominalGHS / float64(s.model.Boards)
	t := 0.0
	for i := range s.model.Boards {
		t += per * s.m.boardFactor(i)
	}
	return t
}

// v3Setting is get.miner.setting's msg; power-mode is "low" in low-power mode.
func v3Setting(s *state) []kv {
	mode := "normal"
	if s.lowPower {
		mode = "low"
	}
	return []kv{S("fast-boot", "disable"), I("power-limit", 3600), S("power-mode", mode), I("power-percent", 100),
		I("target-freq", 0), I("upfreq-speed", 2)}
}

// psuFan is the power supply's fan, the model's third.
func (s *state) psuFan() float64 {
	if len(s.fans) > 2 {
		return s.fans[2]
	}
	return 0
}

// v3MAC is a MicroBT MAC (CE:02:01 as in the capture) fixed per miner by the seed.
func v3MAC(s *state) string { return macFrom("CE:02:01", hash(s.m.seed, 0x3ac)) }

// v3Serial is the miner's serial (miner-sn), 33 characters as in the capture.
func v3Serial(s *state) string {
	return "BTM3CS40HD2408" + digits(hash(s.m.seed, 0x5e1), 6) + strings.Repeat("0", 13)
}

// v3BoardSerial is board slot i's serial (pcbsnN).
func v3BoardSerial(s *state, i int) string {
	return "BKM3CSE14048" + digits(hash(s.m.seed, 0x9cb, uint64(i)), 2) + "K4" + digits(hash(s.m.seed, 0x9cc, uint64(i)), 4)
}

// v3Salt is the 8-character salt MicroBT's tokens for set.* commands are made with.
func v3Salt(s *state) string { return alnum(hash(s.m.seed, 0x5a17), 8) }

// digits is n decimal digits of h.
func digits(h uint64, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0' + byte(h%10)
		h /= 10
	}
	return string(b)
}

// alnum is n letters and digits of h (as many as a 64-bit hash gives, then rehashed).
func alnum(h uint64, n int) string {
	const set = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		if i%8 == 7 {
			h = splitmix64(h)
		}
		b[i] = set[h%uint64(len(set))]
		h /= uint64(len(set))
	}
	return string(b)
}

// macFrom completes a vendor prefix "AA:BB:CC" with three bytes of h.
func macFrom(prefix string, h uint64) string {
	const hex = "0123456789ABCDEF"
	b := []byte(prefix + ":00:00:00")
	for i, pos := range []int{9, 10, 12, 13, 15, 16} {
		b[pos] = hex[(h>>(4*i))&15]
	}
	return string(b)
}
