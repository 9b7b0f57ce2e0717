package farm

import (
	"strconv"
	"time"
)

// The firmware's own fault codes for the injected faults, per family: what a miner with that
// fault lists in its error-code list (Whatsminer: API v3's get.device.info error-code and the
// legacy get_error_code), its events (LuxOS) or its status array (the Antminer HTTP API). The
// codes are the vendors' (MicroBT's error code list, LuxOS's event names); which code a fault
// raises is the simulator's choice, written down in README.md. Faults without a row raise none
// (a stuck pool connection, a loop of restarts: the firmware's readings show them).

// wmCode is one MicroBT error code and the time it was raised.
type wmCode struct {
	code   int
	reason string
	since  time.Time
}

// whatsminerCodes lists the MicroBT codes of the active faults. Slot-numbered codes carry the
// hashboard slot (SM0–SM2) in their last digit.
func (s *state) whatsminerCodes() []wmCode {
	var out []wmCode
	add := func(fl Fault, code int, reason string) {
		if s.faults.has(fl) {
			out = append(out, wmCode{code, reason, s.since[fl]})
		}
	}
	n := len(s.boards)
	slot := func(i int) string { return strconv.Itoa(i) }
	add(FanStopped, 110, "Intake fan speed error.")
	add(BoardMissing, 530+missingSlot(n), "Slot "+slot(missingSlot(n))+" not found.")
	add(BoardDead, 540+deadSlot(n), "Slot "+slot(deadSlot(n))+" error reading chip id.")
	add(ChipsFailed, 550+failedSlot(n), "Slot "+slot(failedSlot(n))+" has bad chips.")
	add(DeviceDead, 560+deadSlot(n), "Slot "+slot(deadSlot(n))+" loss of balance.")
	if s.faults.has(OverheatCritical) {
		for i := range s.boards {
			if s.boards[i].present {
				add(OverheatCritical, 350+i, "Slot "+slot(i)+" temperature protecting.")
			}
		}
	}
	if s.faults.has(PoolDead) {
		for i := range s.pools() {
			add(PoolDead, 2020+i, "Pool "+slot(i)+" connection failed.")
		}
	}
	add(RejectsHigh, 2030, "High rejection rate on pool.")
	add(HashrateLow, 2310, "Hashrate is too low.")
	return out
}

// wmTime is how MicroBT writes an error code's time (the controller's clock, UTC here).
func wmTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// luxEvent is one LuxOS event: its symbolic code, MINER or BOARD with the board's index.
type luxEvent struct {
	code, description, anchor string
	board                     int // -1: Target MINER
	since                     time.Time
}

// luxosEvents lists the LuxOS events of the active faults (codes as LuxOS's event
// troubleshooting page names them; see antminer-luxos-2025.9.8_events_sorted.json).
func (s *state) luxosEvents() []luxEvent {
	var out []luxEvent
	n := len(s.boards)
	add := func(fl Fault, code, desc, anchor string, board int) {
		if s.faults.has(fl) {
			out = append(out, luxEvent{code, desc, anchor, board, s.since[fl]})
		}
	}
	add(FanStopped, "FAN_FAILURE", "Miner shutdown due to fan failure.", "fan-failure", -1)
	add(BoardMissing, "BOARD_NOT_DETECTED", "Board not detected.", "board-not-detected", missingSlot(n))
	add(BoardDead, "BOARD_ASIC_INIT_FAILURE", "Board failed to initialize its ASICs.", "board-asic-init-failure", deadSlot(n))
	add(ChipsFailed, "BAD_DOMAIN", "Board has a bad domain.", "bad-domain", failedSlot(n))
	add(DeviceDead, "REBOOT_NOT_HASHING", "Board reboot due to it not hashing.", "reboot-not-hashing", deadSlot(n))
	if s.faults.has(Overheat) && !s.faults.has(OverheatCritical) {
		for i := range s.boards {
			if s.boards[i].present {
				add(Overheat, "BOARD_HIGH_TEMPERATURE", "Board temperature is high.", "board-high-temperature", i)
			}
		}
	}
	add(OverheatCritical, "OVERTEMP_PROTECTION", "Miner throttled due to overtemperature protection.", "overtemp-protection", -1)
	add(PoolDead, "NO_ACTIVE_POOLS", "No active pools.", "no-active-pools", -1)
	return out
}

// webStatus is one entry of the Antminer HTTP API's summary status array: the firmware's health
// of one part (rate, network, fans, temp), "s" when fine, "w" for a warning, "e" for an error.
type webStatus struct {
	typ, status string
	code        int64
	msg         string
}

// The codes the simulator writes in summary.cgi's status array (no capture shows a non-"s"
// entry; these are the simulator's, documented in README.md for the exporter's reader).
const (
	webCodeHashrateLow  = 101 // rate, w: the hashrate is below what the boards should do
	webCodeChipsFailed  = 102 // rate, w: a chain has bad chips
	webCodeChainMissing = 103 // rate, e: a chain is not detected
	webCodeChainDead    = 104 // rate, e: a chain hashes nothing
	webCodeNoHashrate   = 105 // rate, e: no chain hashes
	webCodePoolDown     = 201 // network, e: no pool can be reached
	webCodeFanLost      = 301 // fans, e: a fan is lost (0 rpm)
	webCodeTempHigh     = 401 // temp, w: temperatures high
	webCodeTempCritical = 402 // temp, e: temperatures over the protection limit
)

// antminerStatus is the status array of summary.cgi: one entry per part, the worst fault's.
func (s *state) antminerStatus() []webStatus {
	n := len(s.boards)
	chain := func(i int) string { return strconv.Itoa(i + 1) } // Bitmain numbers chains from 1
	rate := webStatus{"rate", "s", 0, ""}
	switch f := s.faults; {
	case f.has(ZeroHashrate) && !s.sleeping:
		rate = webStatus{"rate", "e", webCodeNoHashrate, "no hashrate"}
	case f.has(BoardMissing):
		rate = webStatus{"rate", "e", webCodeChainMissing, "chain " + chain(missingSlot(n)) + " not found"}
	case f.has(BoardDead) || f.has(DeviceDead):
		rate = webStatus{"rate", "e", webCodeChainDead, "chain " + chain(deadSlot(n)) + " no hashrate"}
	case f.has(ChipsFailed):
		rate = webStatus{"rate", "w", webCodeChipsFailed, "chain " + chain(failedSlot(n)) + " has bad asic"}
	case f.has(HashrateLow):
		rate = webStatus{"rate", "w", webCodeHashrateLow, "hashrate low"}
	}
	network := webStatus{"network", "s", 0, ""}
	if s.faults.has(PoolDead) {
		network = webStatus{"network", "e", webCodePoolDown, "pool connection failed"}
	}
	fans := webStatus{"fans", "s", 0, ""}
	if s.faults.has(FanStopped) {
		fans = webStatus{"fans", "e", webCodeFanLost, "fan 1 lost"}
	}
	temp := webStatus{"temp", "s", 0, ""}
	switch {
	case s.faults.has(OverheatCritical):
		temp = webStatus{"temp", "e", webCodeTempCritical, "temperature over the protection limit"}
	case s.faults.has(Overheat):
		temp = webStatus{"temp", "w", webCodeTempHigh, "temperature high"}
	}
	return []webStatus{rate, network, fans, temp}
}
