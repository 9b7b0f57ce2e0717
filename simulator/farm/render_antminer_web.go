package farm

import (
	"math"
	"net/netip"
)

// The stock Antminer HTTP API's bodies. Templates (testdata/SOURCES.md): antminer-web/
// antminer-s21-20240711_{get_system_info,summary,stats,get_miner_conf} (field order, the STATUS
// object with its lower-case "when", the INFO block, rates in GH/s, chain[] with 4-sensor
// temperature arrays) and antminer-s19j-20230915_get_system_info. The bodies are written compact
// (the S19j capture's form; the S21 ones were pretty-printed by their publisher). Both models serve
// the S21's shapes, serinum included (the 2023 S19j capture has none; the S9's 2017 web pages were
// HTML, not captured): what the exporter reads is the same on every stock firmware that has the
// JSON CGIs. No capture shows a non-"s" status entry: the codes are the simulator's (codes.go).

// webInfo is what the firmware says about itself on the HTTP API.
type webInfo struct {
	minerVersion, compileTime, kernel, serialPrefix string
}

func (s *state) webInfo() webInfo {
	if s.model.fam == famBitmainS9 {
		return webInfo{"16.8.1.3", "Fri Nov 17 17:37:49 CST 2017", "Linux 3.14.0-xilinx-ge8a2f71-dirty #82 SMP PREEMPT Tue May 16 19:49:53 CST 2017", "ZTDT"}
	}
	return webInfo{"49.0.1.3", "Tue Dec  6 16:12:30 CST 2022", "Linux 4.9.113 #1 SMP PREEMPT Tue Dec 6 16:28:03 CST 2022", "JYZZ"}
}

// webSerial is the miner's serial number (serinum), fixed per miner by the seed: 17 characters
// like SMTTATUBDJAAI00A5.
func webSerial(s *state) string {
	return s.webInfo().serialPrefix + upperAlnum(hash(s.m.seed, 0x5e7), 13)
}

// webBoardSerial is chain i's serial (stats.cgi chain[].sn).
func webBoardSerial(s *state, i int) string {
	return "SMTTYRHB" + upperAlnum(hash(s.m.seed, 0x5e8, uint64(i)), 9)
}

// webMAC is the controller's MAC: locally administered (02:…), as Bitmain sets it.
func webMAC(s *state) string {
	return macFrom("02:"+hex2(hash(s.m.seed, 0xa1))+":"+hex2(hash(s.m.seed, 0xa2)), hash(s.m.seed, 0xa3))
}

// webHostname is the miner's host name: stock firmware says "Antminer"; the farm names each one.
func webHostname(s *state) string { return "Antminer-" + webSerial(s)[12:] }

func upperAlnum(h uint64, n int) string {
	const set = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		if i%10 == 9 {
			h = splitmix64(h)
		}
		b[i] = set[h%uint64(len(set))]
		h /= uint64(len(set))
	}
	return string(b)
}

func hex2(h uint64) string {
	const hex = "0123456789ABCDEF"
	return string([]byte{hex[h>>4&15], hex[h&15]})
}

func webSystemInfo(s *state) []kv {
	mask := "255.255.255.0"
	if p := s.m.farm.cfg.Range; p.IsValid() && p.Bits() <= 32 {
		mask = netip.AddrFrom4(maskBytes(p.Bits())).String()
	}
	return []kv{S("minertype", s.model.Name), S("nettype", "DHCP"), S("netdevice", "eth0"), S("macaddr", webMAC(s)),
		S("hostname", webHostname(s)), S("ipaddress", s.m.addr.String()), S("netmask", mask), S("gateway", ""),
		S("dnsservers", ""), S("system_mode", "GNU/Linux"), S("system_kernel_version", s.webInfo().kernel),
		S("system_filesystem_version", s.webInfo().compileTime), S("firmware_type", "Release"), S("serinum", webSerial(s))}
}

func maskBytes(bits int) [4]byte {
	m := uint32(0xffffffff) << (32 - bits)
	if bits == 0 {
		m = 0
	}
	return [4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}
}

// webHead is the STATUS object and INFO block every data CGI starts with.
func webHead(s *state, msg string) []kv {
	in := s.webInfo()
	return []kv{O("STATUS", S("STATUS", "S"), I("when", s.when), S("Msg", msg), S("api_version", "1.0.0")),
		O("INFO", S("miner_version", in.minerVersion), S("CompileTime", in.compileTime), S("type", s.model.Name))}
}

// hundredth rounds a hashrate to two decimals.
func hundredth(v float64) float64 { return math.Round(v*100) / 100 }

func webSummary(s *state) []kv {
	var status []kv
	for _, st := range s.antminerStatus() {
		status = append(status, O("", S("type", st.typ), S("status", st.status), I("code", st.code), S("msg", st.msg)))
	}
	sum := O("", I("elapsed", int64(s.elapsed)), G("rate_5s", hundredth(s.rate)), G("rate_30m", hundredth(s.rate15m)),
		G("rate_avg", hundredth(s.rateAv)), G("rate_ideal", s.ideal), S("rate_unit", "GH/s"), N("hw_all", s.c.hw),
		I("bestshare", s.bestShare()), A("status", status...))
	return append(webHead(s, "summary"), A("SUMMARY", sum))
}

func webStats(s *state) []kv {
	fans := make([]kv, len(s.fans))
	for i, rpm := range s.fans {
		fans[i] = N("", rpm)
	}
	temps := func(outlet float64) kv {
		in, out := math.Round(outlet-14), math.Round(outlet)
		return A("", N("", in), N("", in), N("", out), N("", out))
	}
	var chains []kv
	for i := range s.boards {
		b := &s.boards[i]
		if !b.present {
			continue // a chain that is not detected is not listed
		}
		pic := temps(b.pcbTemp - 10)
		pic.k = "temp_pic"
		pcb := temps(b.pcbTemp)
		pcb.k = "temp_pcb"
		chip := temps(b.chipTemp)
		chip.k = "temp_chip"
		freq := int64(490)
		if b.mean == 0 {
			freq = 0
		}
		chains = append(chains, O("", I("index", int64(i)), I("freq_avg", freq), G("rate_ideal", hundredth(b.ideal)),
			G("rate_real", hundredth(b.rate)), I("asic_num", int64(b.chips)), pic, pcb, chip, N("hw", b.hw),
			S("sn", webBoardSerial(s, i)), G("hwp", math.Round(pct(b.hw, b.hw+s.c.diff1/float64(len(s.boards)))*1e4)/1e4)))
	}
	st := O("", I("elapsed", int64(s.elapsed)), G("rate_5s", hundredth(s.rate)), G("rate_30m", hundredth(s.rate15m)),
		G("rate_avg", hundredth(s.rateAv)), G("rate_ideal", s.ideal), S("rate_unit", "GH/s"),
		I("chain_num", int64(presentBoards(s))), I("fan_num", int64(len(s.fans))), A("fan", fans...),
		G("hwp_total", math.Round(s.hwPct()*1e4)/1e4), A("chain", chains...))
	return append(webHead(s, "stats"), A("STATS", st))
}

// webMinerConf is get_miner_conf.cgi: the pools and the bmminer settings; bitmain-work-mode is
// "1" in sleep mode, "0" mining.
func webMinerConf(s *state) []kv {
	var pools []kv
	for _, p := range s.pools() {
		pools = append(pools, O("", S("url", p.url), S("user", p.user), S("pass", "x")))
	}
	mode := "0"
	if s.sleeping {
		mode = "1"
	}
	return []kv{A("pools", pools...), B("api-listen", true), B("api-network", true),
		S("api-groups", "A:stats:pools:devs:summary:version"), S("api-allow", "A:0/0,W:*"), B("bitmain-fan-ctrl", false),
		S("bitmain-fan-pwm", "100"), B("bitmain-use-vil", true), S("bitmain-freq", "490"), S("bitmain-voltage", "1320"),
		S("bitmain-ccdelay", "0"), S("bitmain-pwth", "3"), S("bitmain-work-mode", mode), S("bitmain-hashrate-percent", "100"),
		S("bitmain-freq-level", "100")}
}
