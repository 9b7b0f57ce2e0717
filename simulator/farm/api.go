package farm

import (
	"bytes"
	"encoding/json"
	"strings"
)

// privileged are the commands that change a miner (cgminer API-README, btminer, LuxOS). The
// simulator refuses them all, as a miner without W: access does, except restart when it is
// configured to accept it (Config.AllowRestart, acceptsRestart).
var privileged = map[string]bool{}

// whatsminerWrites are btminer's token-protected write commands.
var whatsminerWrites = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`switchpool enablepool disablepool addpool poolpriority poolquota
		removepool save quit restart privileged failover-only debug setconfig zero hotplug lockstats
		pgaenable pgadisable pgaidentify pgaset ascenable ascdisable ascidentify ascset
		curtail logon logoff profileset frequencyset voltageset reboot resetminer`) {
		privileged[c] = true
	}
	for _, c := range strings.Fields(`get_token update_pools restart_btminer power_off power_on
		reboot factory_reset update_pwd set_led set_low_power set_high_power set_normal_power
		update_firmware set_target_freq enable_btminer_fast_boot disable_btminer_fast_boot
		enable_web_pools disable_web_pools set_hostname set_zone set_power_pct pre_power_on
		set_temp_offset adjust_power_limit net_config`) {
		whatsminerWrites[c] = true
	}
}

// soloCommands are btminer's own commands (flat STATUS envelope): answered only alone, an E
// section inside a joined request.
var soloCommands = map[string]bool{"status": true, "get_version": true, "get_psu": true,
	"get_miner_info": true, "get_error_code": true}

// request is one parsed API request.
type request struct {
	json    bool
	command string
	bad     *reply // the reply to a request that could not be read
}

func (m *Miner) parseRequest(raw []byte, s func() *state) request {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var body map[string]any
		if err := json.Unmarshal(trimmed, &body); err != nil {
			return request{json: true, bad: m.errorReply(s(), 23, "Invalid JSON", true)}
		}
		cmd, ok := body["command"].(string)
		if !ok {
			return request{json: true, bad: m.errorReply(s(), 24, "Missing JSON 'command'", true)}
		}
		return request{json: true, command: cmd}
	}
	// Text form: cmd|parameter. A trailing newline stays part of the command, as in cgminer.
	cmd, _, _ := strings.Cut(string(raw), "|")
	return request{command: cmd}
}

// Respond answers one request as the miner would, NUL included, appended to dst. A restart it
// accepts is answered but not carried out (handle does that once the reply is written).
func (m *Miner) Respond(raw []byte, dst []byte) []byte {
	out, _ := m.respond(raw, dst)
	return out
}

// restartReply is cgminer's answer to an accepted restart (api.c dorestart: JSON_ACTION
// JSON_RESTART, then send_result's JSON_END): a bare STATUS string, no STATUS array. The text
// form is the word alone.
const (
	restartJSON = `{"STATUS":"RESTART","id":1}`
	restartText = "RESTART"
)

// acceptsRestart reports whether the miner carries out the privileged restart command: only with
// Config.AllowRestart (a miner whose api-allow gives this host W: access), and only the
// cgminer/bmminer families. btminer's writes need its token API and LuxOS's a logon session,
// which the simulator does not model; BOSminer's API does not restart.
func (m *Miner) acceptsRestart() bool {
	if !m.farm.cfg.AllowRestart {
		return false
	}
	switch m.model.fam {
	case famBitmain, famBitmainS9, famVNish, famAvalon:
		return true
	}
	return false
}

// respond is Respond, also saying whether the request was an accepted restart.
func (m *Miner) respond(raw []byte, dst []byte) ([]byte, bool) {
	var st *state
	s := func() *state {
		if st == nil {
			st = m.snapshot(m.farm.cfg.Clock.Now())
		}
		return st
	}
	req := m.parseRequest(raw, s)
	if req.bad != nil {
		return append(req.bad.appendJSON(dst), 0), false
	}
	if req.command == "restart" && m.acceptsRestart() {
		// Not joinable: inside a join it is refused like any privileged command (below).
		if req.json {
			return append(append(dst, restartJSON...), 0), true
		}
		return append(append(dst, restartText...), 0), true
	}
	if !strings.Contains(req.command, "+") {
		r := m.answer(req.command, s, false)
		if req.json {
			dst = r.appendJSON(dst)
		} else {
			dst = r.appendText(dst)
		}
		return append(dst, 0), false
	}
	// Joined commands (API ≥ 3.1): each as sent, duplicates and blanks dropped, each answered in
	// full inside a one-element array; refused ones get their own E reply.
	seen := map[string]bool{}
	var names []string
	for _, c := range strings.Split(req.command, "+") {
		if c == "" || seen[c] {
			continue
		}
		seen[c] = true
		names = append(names, c)
	}
	if req.json {
		dst = append(dst, '{')
		for _, c := range names {
			dst = appendJSONString(dst, c)
			dst = append(dst, ':', '[')
			dst = m.answer(c, s, true).appendJSON(dst)
			dst = append(dst, ']', ',')
		}
		dst = append(dst, `"id":1}`...)
		return append(dst, 0), false
	}
	for _, c := range names {
		dst = append(dst, "CMD="...)
		dst = append(dst, escapeText(c)...)
		dst = append(dst, '|')
		dst = m.answer(c, s, true).appendText(dst)
	}
	return append(dst, 0), false
}

// answer builds the reply to one command.
func (m *Miner) answer(cmd string, s func() *state, joined bool) *reply {
	name := strings.ToLower(cmd)
	if m.model.fam == famWhatsminer && whatsminerWrites[name] {
		return whatsminerDenied(s())
	}
	if privileged[name] {
		return m.errorReply(s(), 45, "Access denied to '"+cmd+"' command", true)
	}
	if joined && soloCommands[cmd] {
		return m.errorReply(s(), 14, "Invalid command", false)
	}
	// Each family's renderer knows its commands, exactly as the firmware spells them (no case
	// folding, no parameters): anything else is cgminer's Code 14.
	r := m.render(cmd, s)
	if r == nil {
		return m.errorReply(s(), 14, "Invalid command", false)
	}
	return r
}

// render dispatches to the family's renderer; nil means the firmware does not know the command.
func (m *Miner) render(cmd string, s func() *state) *reply {
	switch m.model.fam {
	case famBitmain, famBitmainS9, famVNish:
		return renderBitmain(cmd, s, m.model.fam)
	case famWhatsminer:
		return renderWhatsminer(cmd, s)
	case famBraiins:
		return renderBraiins(cmd, s)
	case famAvalon:
		return renderAvalon(cmd, s)
	case famLuxOS:
		return renderLuxOS(cmd, s)
	}
	return nil
}

// status is the usual STATUS object.
func (s *state) status(code int64, msg string) []kv {
	return []kv{S("STATUS", "S"), I("When", s.when), I("Code", code), S("Msg", msg), S("Description", s.model.Description)}
}

func (s *state) ok(code int64, msg string) *reply {
	return &reply{status: s.status(code, msg), sorted: s.model.fam == famLuxOS, spaced: s.model.fam == famVNish}
}

// errorReply is the E reply of the cgminer API. Code 14 "Invalid command" carries no Description
// (cgminer 4.11.1); the others do.
func (m *Miner) errorReply(s *state, code int64, msg string, withDesc bool) *reply {
	st := []kv{S("STATUS", "E"), I("When", s.when), I("Code", code), S("Msg", msg)}
	if withDesc {
		st = append(st, S("Description", m.model.Description))
	}
	return &reply{status: st, sorted: m.model.fam == famLuxOS, spaced: m.model.fam == famVNish}
}
