package dialect

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/miner"
	"github.com/minefarm/cgminer-stack/exporter/webapi"
)

// ReadWeb adds what a vendor's HTTP API said, read alongside the miner's main protocol, to the
// snapshot that protocol gave, within lim, and sanitises it again. The web API fills what the
// main protocol lacks (serial, MAC, board serials, model and version when absent), adds the
// firmware's own faults, and says whether the miner sleeps on purpose; it never removes a
// reading. now is the probe's time (Braiins's error log is read for the current run only).
func ReadWeb(res *webapi.Result, s *miner.Snapshot, lim miner.Limits, now time.Time) {
	if res == nil || s == nil {
		return
	}
	lim = lim.OrDefault()
	model, firmware := s.Model, s.Firmware
	switch res.API {
	case webapi.Antminer:
		readAntminerWeb(res, s, lim)
	case webapi.Braiins:
		readBraiinsWeb(res, s, lim, now)
	case webapi.VNish:
		readVNishWeb(res, s, lim)
	}
	s.Sanitize(lim)
	if model == "" && s.Model != "" {
		applyModel(s) // what the model table says of a model only the web API named
	}
	if s.Firmware != firmware {
		defaultFeePools.Mark(s) // the fee pools of the firmware the web API named
	}
}

// fillIdentity sets the identity fields the main protocol left empty.
func fillIdentity(s *miner.Snapshot, model, version, serial, mac string) {
	if s.Model == "" {
		s.Model = strings.TrimSpace(model)
	}
	if s.SoftwareVersion == "" {
		s.SoftwareVersion = strings.TrimSpace(version)
	}
	if s.Serial == "" {
		s.Serial = serialNumber(serial)
	}
	if s.MAC == "" {
		s.MAC = macAddress(mac)
	}
}

// boardSerial gives the board named name its serial, when the main protocol found that board.
func boardSerial(s *miner.Snapshot, name, serial string) {
	serial = serialNumber(serial)
	if serial == "" {
		return
	}
	for i := range s.Boards {
		if s.Boards[i].Label() == name && s.Boards[i].Serial == "" {
			s.Boards[i].Serial = serial
			return
		}
	}
}

// sleepMode sets Sleeping from a firmware's explicit mode: asleep says 1 (unless the miner still
// hashes: a hashing miner stays watched), awake says 0, overriding what the main protocol
// guessed from its readings (a miner whose chips all read x is asleep only if its mode says so).
func sleepMode(s *miner.Snapshot, asleep bool) {
	if asleep && !(s.Hashrate.Set && s.Hashrate.V > 0) {
		s.Sleeping = miner.Some(1)
		return
	}
	s.Sleeping = miner.Some(0)
}

// word reads a short identifier from a miner (a status type, a state): lower-case letters,
// digits, '-' and '_', at most 32 bytes; "" otherwise.
func word(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if len(v) == 0 || len(v) > 32 {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return ""
		}
	}
	return v
}

// readAntminerWeb reads the stock Antminer firmware's cgi: get_system_info (minertype, serinum,
// macaddr, system_filesystem_version), summary's status array (the firmware's health per type:
// rate, network, fans, temp; anything but "s" is a fault), get_miner_conf's bitmain-work-mode
// ("1" is sleep, any other mode is awake) and stats's chain[] (index 0… is the board in that
// slot; sn its serial).
func readAntminerWeb(res *webapi.Result, s *miner.Snapshot, lim miner.Limits) {
	si := res.Reply(webapi.AntminerSystemInfo)
	fillIdentity(s, si.StrKey("minertype"), si.StrKey("system_filesystem_version"), si.StrKey("serinum"), si.StrKey("macaddr"))

	fs := newFaults(s, lim.Faults)
	for _, sum := range res.Reply(webapi.AntminerSummary).Get("SUMMARY").Elems() {
		for _, st := range sum.Get("status").Elems() {
			if f, ok := antminerStatusFault(st.StrKey("type"), st.StrKey("status"), st.StrKey("code"), st.StrKey("msg")); ok && !fs.add(f) {
				break
			}
		}
	}

	if mode, ok := res.Reply(webapi.AntminerMinerConf).Lookup("bitmain-work-mode"); ok {
		if m := strings.TrimSpace(mode.Str()); m != "" {
			sleepMode(s, m == "1")
		}
	}

	for _, st := range res.Reply(webapi.AntminerStats).Get("STATS").Elems() {
		for i, ch := range st.Get("chain").Elems() {
			if i == lim.Boards {
				break
			}
			idx, ok := i, true
			if f, set := ch.FloatKey("index"); set {
				idx, ok = slotIndex(f, len(s.Boards))
			}
			if ok && idx < len(s.Boards) {
				boardSerial(s, s.Boards[idx].Label(), ch.StrKey("sn"))
			}
		}
	}
}

// readBraiinsWeb reads the Braiins OS REST API: miner/details (serial_number, mac_address,
// miner_identity.miner_model, bos_version.current, status: 3 paused and 4 suspended are asleep,
// 1 not started, 2 normal and 5 restricted awake), miner/hw/hashboards (id, serial_number),
// miner/errors (the firmware's error log: entries of the mining software's current run —
// since now minus bosminer_uptime_s, else the last hour — with error codes or a component are
// faults; the rest are log lines) and performance/tuner-state (4 is a tuner error).
func readBraiinsWeb(res *webapi.Result, s *miner.Snapshot, lim miner.Limits, now time.Time) {
	d := res.Reply(webapi.BraiinsDetails)
	fillIdentity(s, d.Get("miner_identity").StrKey("miner_model"), d.Get("bos_version").StrKey("current"), d.StrKey("serial_number"), d.StrKey("mac_address"))
	if st, ok := d.FloatKey("status"); ok {
		switch st {
		case 3, 4:
			sleepMode(s, true)
		case 1, 2, 5:
			sleepMode(s, false)
		}
	}
	for i, hb := range res.Reply(webapi.BraiinsHashboards).Get("hashboards").Elems() {
		if i == lim.Boards {
			break
		}
		boardSerial(s, strings.TrimSpace(hb.StrKey("id")), hb.StrKey("serial_number"))
	}

	since := now.Add(-time.Hour)
	if up, ok := d.FloatKey("bosminer_uptime_s"); ok && up > 0 && up < miner.MaxUptime {
		since = now.Add(-time.Duration(up)*time.Second - time.Minute)
	}
	fs := newFaults(s, lim.Faults)
	for _, e := range res.Reply(webapi.BraiinsErrors).Get("errors").Elems() {
		ts := e.StrKey("timestamp")
		if len(ts) > 64 {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || at.Before(since) || at.After(now.Add(time.Hour)) {
			continue
		}
		if !braiinsErrorFaults(e, fs) {
			break
		}
	}
	if st, ok := res.Reply(webapi.BraiinsTuner).FloatKey("overall_tuner_state"); ok && st == 4 {
		fs.add(miner.Fault{Code: ClassFirmwareProc.Code, Severity: warning, Component: ClassFirmwareProc.Component,
			Vendor: "braiins:tuner_error", Raw: "the performance tuner is in its error state"})
	}
}

// braiinsErrorFaults adds one error log entry's faults; false once the limit is reached.
func braiinsErrorFaults(e cgminer.Value, fs *faults) bool {
	board := ""
	var unknown []string
	for _, c := range e.Get("components").Elems() {
		name := word(c.StrKey("name"))
		idx, ok := c.FloatKey("index")
		if name == "hashboard" && ok && idx >= 0 && idx <= maxNumber && idx == math.Trunc(idx) && board == "" {
			board = strconv.Itoa(int(idx))
		}
		if name != "" && name != "hashboard" {
			unknown = append(unknown, name)
		}
	}
	msg := e.StrKey("message")
	codes := e.Get("error_codes").Elems()
	for _, c := range codes {
		if !fs.add(braiinsFault(c.StrKey("code"), board, strings.TrimSpace(c.StrKey("reason")+": "+msg))) {
			return false
		}
	}
	if len(codes) > 0 {
		return true
	}
	if board != "" {
		if !fs.add(miner.Fault{Code: ClassHashboardFault.Code, Severity: critical, Component: ClassHashboardFault.Component,
			Board: board, Vendor: "braiins:hashboard", Raw: msg}) {
			return false
		}
	}
	for _, name := range unknown {
		if !fs.add(braiinsComponentFault(name, msg)) {
			return false
		}
	}
	return true
}

// readVNishWeb reads the VNish HTTP API: info (fw_name, serial unless "N/A",
// system.network_status.mac, miner, fw_version) and summary's miner.miner_status.miner_state (stopped, paused, sleeping or
// idle is asleep; mining, auto-tuning, starting, restarting or initializing awake; failure a
// fault).
func readVNishWeb(res *webapi.Result, s *miner.Snapshot, lim miner.Limits) {
	info := res.Reply(webapi.VNishInfo)
	if strings.EqualFold(strings.TrimSpace(info.StrKey("fw_name")), "vnish") {
		s.Firmware = "vnish" // the API names itself; the 4028 version block may pass for stock
	}
	fillIdentity(s, info.StrKey("miner"), info.StrKey("fw_version"), info.StrKey("serial"), info.Get("system").Get("network_status").StrKey("mac"))
	state := word(res.Reply(webapi.VNishSummary).Get("miner").Get("miner_status").StrKey("miner_state"))
	switch {
	case state == "":
	case strings.Contains(state, "stop") || strings.Contains(state, "pause") || strings.Contains(state, "sleep") || state == "idle":
		sleepMode(s, true)
	case state == "mining" || state == "auto-tuning" || state == "auto_tuning" || state == "starting" || state == "restarting" || state == "initializing":
		sleepMode(s, false)
	case state == "failure" || state == "failed" || state == "broken" || state == "error":
		newFaults(s, lim.Faults).add(miner.Fault{Code: "vnish:" + state, Severity: warning, Component: miner.ComponentOther,
			Vendor: "vnish:" + state, Raw: "miner_state " + state})
	}
}
