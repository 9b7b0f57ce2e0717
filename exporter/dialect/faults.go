package dialect

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// The fault normalisation table: each vendor's own fault codes mapped onto classes shared by
// every vendor, so that one rule (MinerFirmwareFault) and one runbook line per class serve
// them all. A class is the cgminer_fault code label and the component it concerns; each vendor
// row gives its own severity. A code no row knows is exported raw, as "<vendor>:<code>" with
// component other, and raises no alert.

// FaultClass is one class of firmware fault.
type FaultClass struct {
	Code      string // the cgminer_fault code label
	Component string // miner.Component*
	// Work is true when the class means work on the hardware (a part to check, reseat or
	// replace): MinerFirmwareFault fires for these, except at info severity.
	Work bool
	// Text says what the class means, for docs.
	Text string
}

// The classes. Engineer-facing names; RUNBOOK.md has a line for each (a test holds it so).
var (
	ClassFanFailure      = FaultClass{"fan_failure", miner.ComponentFan, true, "a fan stopped or runs far off its target speed"}
	ClassFanSpeedHigh    = FaultClass{"fan_speed_high", miner.ComponentFan, true, "a fan reports a speed above its limit (wrong or counterfeit fan, noisy tach line)"}
	ClassPSUFault        = FaultClass{"psu_fault", miner.ComponentPSU, true, "the power supply failed or protects itself (output voltage, current, watchdog)"}
	ClassPSUFan          = FaultClass{"psu_fan", miner.ComponentPSU, true, "the power supply's own fan"}
	ClassPSUOverheat     = FaultClass{"psu_overheat", miner.ComponentPSU, true, "the power supply is too hot"}
	ClassPSUComms        = FaultClass{"psu_communication", miner.ComponentPSU, true, "the control board cannot talk to the power supply"}
	ClassPSUInput        = FaultClass{"psu_input_power", miner.ComponentPSU, true, "the mains input is out of range (site power: the circuit, not the miner)"}
	ClassTempSensor      = FaultClass{"temp_sensor", miner.ComponentHashboard, true, "a board's temperature sensor is missing or unreadable"}
	ClassHashboardEEPROM = FaultClass{"hashboard_eeprom", miner.ComponentHashboard, true, "a board's EEPROM cannot be detected or read"}
	ClassHashboardConfig = FaultClass{"hashboard_config", miner.ComponentHashboard, true, "a board does not match the miner (type, bin, PIC)"}
	ClassHashboardGone   = FaultClass{"hashboard_not_found", miner.ComponentHashboard, true, "a hashboard is not detected"}
	ClassHashboardChips  = FaultClass{"hashboard_chips", miner.ComponentHashboard, true, "a board's chips cannot be read, or some are bad"}
	ClassHashboardFault  = FaultClass{"hashboard_fault", miner.ComponentHashboard, true, "a board fails (balance, transfer, reset, PIC, not hashing)"}
	ClassHashboardFreq   = FaultClass{"hashboard_frequency", miner.ComponentHashboard, true, "a board cannot reach or hold its frequency (CRC errors, unstable)"}
	ClassHashboardVolt   = FaultClass{"hashboard_voltage", miner.ComponentHashboard, true, "a board's chip voltage is too low or changed"}
	ClassChipFault       = FaultClass{"chip_fault", miner.ComponentHashboard, false, "one chip misbehaves (bad or too few nonces, reset, temperature)"}
	ClassHashrateLow     = FaultClass{"hashrate_low", miner.ComponentHashboard, false, "the firmware finds its own hashrate too low or falling"}
	ClassBoardRestart    = FaultClass{"board_restart", miner.ComponentHashboard, false, "a board restarted or was shut down on request or at start-up"}
	ClassControlBoard    = FaultClass{"control_board_fault", miner.ComponentControlBoard, true, "the control board is faulty (MAC, chip support, I2C)"}
	ClassControlLink     = FaultClass{"control_board_link", miner.ComponentControlBoard, true, "the control board loses frames from a board (data cable, connector)"}
	ClassControlReboot   = FaultClass{"control_board_reboot", miner.ComponentControlBoard, false, "the control board rebooted after an exception"}
	ClassOverheat        = FaultClass{"overheat", miner.ComponentTemperature, false, "a board or chip stopped or slowed to protect itself from heat"}
	ClassEnvTemp         = FaultClass{"environment_temperature", miner.ComponentTemperature, false, "the air around the miner is too hot, or swings too much"}
	ClassHumidity        = FaultClass{"humidity", miner.ComponentTemperature, false, "the humidity sensor is missing, unreadable or protecting"}
	ClassCooling         = FaultClass{"cooling_flow", miner.ComponentTemperature, true, "the coolant flow of a hydro-cooled board is abnormal"}
	ClassFirmware        = FaultClass{"firmware_integrity", miner.ComponentFirmware, false, "a firmware file or checksum is wrong, or security software removed something"}
	ClassFirmwareProc    = FaultClass{"firmware_process", miner.ComponentFirmware, false, "a firmware process failed or a detection step errored"}
	ClassFirmwareOld     = FaultClass{"firmware_outdated", miner.ComponentFirmware, false, "the firmware is too old for the miner or its tools"}
	ClassPoolConfig      = FaultClass{"pool_config", miner.ComponentPool, false, "no pool configured, all disabled, or the pool refuses the miner's mode"}
	ClassPoolConnection  = FaultClass{"pool_connection", miner.ComponentPool, false, "a pool cannot be reached, or none is active"}
	ClassPoolRejects     = FaultClass{"pool_rejects", miner.ComponentPool, false, "the pool rejects many shares"}
)

// FaultClasses lists every class, for docs and tests.
func FaultClasses() []FaultClass {
	return []FaultClass{ClassFanFailure, ClassFanSpeedHigh, ClassPSUFault, ClassPSUFan, ClassPSUOverheat, ClassPSUComms,
		ClassPSUInput, ClassTempSensor, ClassHashboardEEPROM, ClassHashboardConfig, ClassHashboardGone, ClassHashboardChips,
		ClassHashboardFault, ClassHashboardFreq, ClassHashboardVolt, ClassChipFault, ClassHashrateLow, ClassBoardRestart,
		ClassControlBoard, ClassControlLink, ClassControlReboot, ClassOverheat, ClassEnvTemp, ClassHumidity, ClassCooling,
		ClassFirmware, ClassFirmwareProc, ClassFirmwareOld, ClassPoolConfig, ClassPoolConnection, ClassPoolRejects}
}

const (
	critical = miner.SeverityCritical
	warning  = miner.SeverityWarning
	info     = miner.SeverityInfo
)

// slotDigit says which digit of a MicroBT code names the hashboard slot (SM0–SM2, the board label).
type slotDigit uint8

const (
	noSlot    slotDigit = iota
	lastDigit           // 53n: slot n not found; 501n: slot n chip voltage too low
	chipSlot            // 52nccc: slot n, chip ccc
)

// WhatsminerRange maps MicroBT codes Lo..Hi (inclusive) to a class.
type WhatsminerRange struct {
	Lo, Hi   int
	Class    FaultClass
	Severity string
	slot     slotDigit
	// Text is MicroBT's meaning, for docs.
	Text string
}

// Board reports whether the range's codes name a hashboard slot, and which digit.
func (r WhatsminerRange) Board() string {
	switch r.slot {
	case lastDigit:
		return "last digit"
	case chipSlot:
		return "third digit"
	}
	return ""
}

// whatsminerRanges is MicroBT's error code list (the codes btminer reports in get_error_code,
// summary's "Error Code N" and API v3's error-code), as MicroBT's tools and the public libraries
// (pyasic's whatsminer error table, asic-rs) spell it out: a code is type, subtype and value,
// where the value is often the hashboard slot. Sorted, not overlapping (a test holds it).
var whatsminerRanges = []WhatsminerRange{
	{100, 139, ClassFanFailure, critical, noSlot, "fan unknown (100); intake (x10) or exhaust (x11) fan speed error, off by 1000, 2000 or 3000 rpm (110–131)"},
	{140, 149, ClassFanSpeedHigh, warning, noSlot, "fan speed too high"},
	{200, 202, ClassPSUFault, critical, noSlot, "no power supply found, not matching the configuration, output voltage error"},
	{203, 204, ClassPSUOverheat, warning, noSlot, "power supply protecting for high environment temperature"},
	{205, 205, ClassPSUFault, critical, noSlot, "power supply current error"},
	{206, 207, ClassPSUInput, warning, noSlot, "input voltage low, input current protection for bad input power"},
	{208, 217, ClassPSUFault, critical, noSlot, "power supply power, voltage offset, iout, vout, pin, enable errors"},
	{218, 219, ClassPSUInput, warning, noSlot, "input below 230 V for high power mode, input current incorrect"},
	{220, 232, ClassPSUFault, critical, noSlot, "power supply errors"},
	{233, 235, ClassPSUOverheat, warning, noSlot, "power supply output high temperature protection"},
	{236, 242, ClassPSUFault, critical, noSlot, "power supply output high current or voltage, low voltage, current imbalance"},
	{243, 245, ClassPSUOverheat, warning, noSlot, "power supply input high temperature protection"},
	{246, 252, ClassPSUInput, warning, noSlot, "input high voltage, high current or low voltage protection"},
	{253, 254, ClassPSUFan, critical, noSlot, "power supply fan error"},
	{255, 257, ClassPSUFault, critical, noSlot, "output high power protection, primary side over-current protection"},
	{258, 262, ClassPSUFault, critical, noSlot, "power supply errors"},
	{263, 263, ClassPSUComms, warning, noSlot, "power supply communication warning"},
	{264, 264, ClassPSUComms, critical, noSlot, "power supply communication (xfer) error"},
	{265, 269, ClassPSUFault, critical, noSlot, "power supply unknown error, watchdog protection, output or input high current"},
	{270, 271, ClassPSUInput, warning, noSlot, "input high or low voltage protection"},
	{272, 272, ClassPSUFault, warning, noSlot, "excessive power supply output"},
	{273, 273, ClassPSUInput, warning, noSlot, "input too high"},
	{274, 274, ClassPSUFan, warning, noSlot, "power supply fan warning"},
	{275, 275, ClassPSUOverheat, warning, noSlot, "power supply high temperature warning"},
	{276, 299, ClassPSUFault, critical, noSlot, "power supply unknown and vendor status errors"},
	{300, 309, ClassTempSensor, warning, lastDigit, "slot n temperature sensor detection error"},
	{320, 328, ClassTempSensor, warning, lastDigit, "slot n temperature reading error"},
	{329, 329, FaultClass{ClassTempSensor.Code, miner.ComponentControlBoard, true, ""}, warning, noSlot, "control board temperature sensor communication error"},
	{350, 359, ClassOverheat, critical, lastDigit, "slot n temperature protecting"},
	{360, 363, ClassOverheat, critical, lastDigit, "hashboard high temperature"},
	{370, 370, ClassEnvTemp, warning, noSlot, "environment temperature fluctuates too much"},
	{380, 383, ClassHumidity, warning, noSlot, "humidity sensor not found, read error, protecting"},
	{400, 400, ClassHashboardEEPROM, warning, noSlot, "EEPROM unknown error"},
	{410, 429, ClassHashboardEEPROM, critical, lastDigit, "slot n EEPROM detection or parsing error"},
	{430, 439, ClassHashboardConfig, critical, lastDigit, "slot n chip bin type error"},
	{440, 459, ClassHashboardEEPROM, critical, lastDigit, "slot n EEPROM chip number or transfer error"},
	{500, 500, ClassHashboardFault, warning, noSlot, "board unknown error"},
	{510, 529, ClassHashboardConfig, critical, lastDigit, "slot n miner type or bin type error"},
	{530, 539, ClassHashboardGone, critical, lastDigit, "slot n not found"},
	{540, 559, ClassHashboardChips, critical, lastDigit, "slot n error reading chip id, slot n has bad chips"},
	{560, 589, ClassHashboardFault, critical, lastDigit, "slot n loss of balance, transfer error, reset error"},
	{590, 599, ClassHashboardFreq, warning, lastDigit, "slot n frequency too low"},
	{600, 619, ClassEnvTemp, warning, noSlot, "environment temperature too high (for high performance mode)"},
	{700, 709, ClassControlBoard, critical, noSlot, "MAC address invalid, control board does not support the chip"},
	{710, 719, ClassControlReboot, warning, noSlot, "control board rebooted as an exception"},
	{720, 729, ClassControlLink, critical, lastDigit, "control board slot n frame error"},
	{800, 809, ClassFirmware, warning, noSlot, "cgminer, system monitor or remote daemon checksum error"},
	{2000, 2019, ClassPoolConfig, warning, noSlot, "no pool configured, all pools disabled"},
	{2020, 2029, ClassPoolConnection, warning, noSlot, "pool n connection failed"},
	{2030, 2039, ClassPoolRejects, warning, noSlot, "high rejection rate on the pool"},
	{2040, 2049, ClassPoolConfig, warning, noSlot, "the pool does not support asicboost mode"},
	{2310, 2359, ClassHashrateLow, warning, noSlot, "hashrate too low, hashrate loss"},
	{5010, 5029, ClassHashboardVolt, warning, lastDigit, "slot n chip voltage too low, changed"},
	{5030, 5049, ClassHashboardChips, warning, lastDigit, "slot n chip temperature difference too large"},
	{5050, 5059, ClassOverheat, critical, lastDigit, "slot n stopped hashing, chips temperature protecting"},
	{5070, 5079, ClassCooling, critical, lastDigit, "slot n water velocity abnormal"},
	{5080, 5099, ClassHashboardChips, warning, lastDigit, "chip temperature calibration failed or unbalanced"},
	{5110, 5139, ClassHashboardFreq, warning, lastDigit, "slot n frequency up timeout, too many CRC errors, unstable"},
	{5170, 5179, ClassHashboardFreq, warning, lastDigit, "slot n frequency up timeout"},
	{8400, 8419, ClassFirmwareOld, info, noSlot, "old firmware, software version error"},
	{9000, 9019, ClassFirmwareProc, warning, noSlot, "process error, exited with a signal"},
	{100000, 110099, ClassFirmware, critical, noSlot, "security library error, BTMiner removed, illegal file or virus removed: upgrade the firmware"},
	{520000, 569999, ClassChipFault, warning, chipSlot, "slot n chip ccc: error nonce, too few nonces, temperature protected, reset, zero nonce"},
}

// WhatsminerRanges returns the MicroBT table, for docs and tests.
func WhatsminerRanges() []WhatsminerRange { return append([]WhatsminerRange(nil), whatsminerRanges...) }

// maxWhatsminerCode bounds a code read from a miner: the longest MicroBT codes have six digits.
const maxWhatsminerCode = 999999

// whatsminerFault maps a MicroBT code (digits as the miner wrote them) onto a fault. ok is false
// for anything that is not a code.
func whatsminerFault(code, raw string) (miner.Fault, bool) {
	n, ok := faultNumber(code, maxWhatsminerCode)
	if !ok {
		return miner.Fault{}, false
	}
	vendor := "whatsminer:" + strconv.Itoa(n)
	f := miner.Fault{Code: vendor, Severity: warning, Component: miner.ComponentOther, Vendor: vendor, Raw: raw}
	lo, hi := 0, len(whatsminerRanges)
	for lo < hi {
		m := (lo + hi) / 2
		switch r := whatsminerRanges[m]; {
		case n < r.Lo:
			hi = m
		case n > r.Hi:
			lo = m + 1
		default:
			f.Code, f.Component, f.Severity = r.Class.Code, r.Class.Component, r.Severity
			switch r.slot {
			case lastDigit:
				f.Board = strconv.Itoa(n % 10)
			case chipSlot:
				f.Board = strconv.Itoa(n / 1000 % 10)
			}
			return f, true
		}
	}
	return f, true
}

// faultNumber reads a fault code: 1 to 7 digits (a JSON number or a string of them), at most max.
func faultNumber(s string, max int) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 7 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > max {
		return 0, false
	}
	return n, true
}

// faults collects a probe's distinct faults (by their labels) up to the limit, noting a cut: a
// miner that lists one class many times does not crowd out the others.
type faults struct {
	s    *miner.Snapshot
	max  int
	seen map[miner.Fault]bool
}

func newFaults(s *miner.Snapshot, max int) *faults {
	fs := &faults{s: s, max: max, seen: map[miner.Fault]bool{}}
	for _, f := range s.Faults {
		fs.seen[faultKey(f)] = true
	}
	return fs
}

func faultKey(f miner.Fault) miner.Fault {
	return miner.Fault{Code: f.Code, Severity: f.Severity, Component: f.Component, Board: f.Board}
}

// add adds f unless it is there already; false once the limit is reached (reading stops).
func (fs *faults) add(f miner.Fault) bool {
	k := faultKey(f)
	if fs.seen[k] {
		return true
	}
	if len(fs.s.Faults) >= fs.max {
		fs.s.Truncate(miner.CutFaults)
		return false
	}
	fs.seen[k] = true
	fs.s.Faults = append(fs.s.Faults, f)
	return true
}

// whatsminerErrorCodes reads MicroBT's error-code lists in every shape firmware sends them: an
// array of one-code objects ({"530":"2024-01-01 12:00:00"}, API v3 adding "reason"), an array of
// codes, or (btminer 2.0.4's list written like a dict, repaired by the parser) one object of
// code → time. Keys that are not codes are skipped; reading stops at the limit.
func whatsminerErrorCodes(v cgminer.Value, fs *faults) {
	one := func(code string, reason cgminer.Value) bool {
		f, ok := whatsminerFault(code, reason.Str())
		return !ok || fs.add(f)
	}
	switch v.Kind() {
	case cgminer.Array:
		for _, e := range v.Elems() {
			switch e.Kind() {
			case cgminer.Object:
				reason := e.Get("reason")
				for _, m := range e.Members() {
					if m.Key != "reason" && !one(m.Key, reason) {
						return
					}
				}
			case cgminer.Number, cgminer.String:
				if !one(e.Str(), cgminer.Value{}) {
					return
				}
			}
		}
	case cgminer.Object:
		for _, m := range v.Members() {
			if !one(m.Key, cgminer.Value{}) {
				return
			}
		}
	}
}

// luxosEvents maps LuxOS's symbolic event codes (the `events` command). SLEEP and IDLE are
// curtailment, read as Sleeping, not as faults.
var luxosEvents = map[string]struct {
	class    FaultClass
	severity string
}{
	"BAD_DOMAIN":                       {ClassHashboardChips, warning},
	"BOARD_ASIC_ENUMERATION_FAILURE":   {ClassHashboardChips, critical},
	"BOARD_ASIC_INIT_FAILURE":          {ClassHashboardChips, critical},
	"BOARD_CRITICAL_PIC_FAILURE":       {ClassHashboardFault, critical},
	"BOARD_CRITICAL_SENSOR_FAILURE":    {ClassTempSensor, critical},
	"BOARD_NOT_ENOUGH_SENSORS_FAILURE": {ClassTempSensor, critical},
	"BOARD_HIGH_TEMPERATURE":           {ClassOverheat, warning},
	"BOARD_OVERTEMP_SHUTDOWN":          {ClassOverheat, critical},
	"OVERTEMP_PROTECTION":              {ClassOverheat, critical},
	"BOARD_NOT_DETECTED":               {ClassHashboardGone, critical},
	"NO_BOARDS":                        {ClassHashboardGone, critical},
	"FAN_FAILURE":                      {ClassFanFailure, critical},
	"FAN_PANIC":                        {ClassFanFailure, critical},
	"PSU_PANIC":                        {ClassPSUFault, critical},
	"CANT_READ_PSU_PROTOCOL":           {ClassPSUComms, warning},
	"CANT_READ_PSU_TYPE":               {ClassPSUComms, warning},
	"NOPIC_PROTECTION":                 {ClassHashboardFault, critical},
	"NOPIC_SHUTDOWN":                   {ClassHashboardFault, critical},
	"INCOMPATIBLE_PIC":                 {ClassHashboardConfig, warning},
	"REBOOT_NOT_HASHING":               {ClassHashboardFault, warning},
	"I2C_ERROR":                        {ClassControlBoard, warning},
	"INVALID_MINER_MODEL":              {ClassFirmwareProc, warning},
	"DETECTION_ERROR":                  {ClassFirmwareProc, warning},
	"EXTERNAL_ERROR":                   {ClassFirmwareProc, warning},
	"NO_ACTIVE_POOLS":                  {ClassPoolConnection, warning},
	"REBOOT_SYSINIT":                   {ClassBoardRestart, info},
	"REBOOT_USER":                      {ClassBoardRestart, info},
	"SHUTDOWN_USER":                    {ClassBoardRestart, info},
}

// LuxOSEvents returns the LuxOS event table as code → class and severity, for docs and tests.
func LuxOSEvents() map[string][2]string {
	out := make(map[string][2]string, len(luxosEvents))
	for k, v := range luxosEvents {
		out[k] = [2]string{v.class.Code, v.severity}
	}
	return out
}

// maxEventCode bounds a LuxOS event code: the longest known has 32 characters.
const maxEventCode = 64

// luxosEventCode reads a symbolic code: upper-case letters, digits and '_', 1 to 64 of them.
func luxosEventCode(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxEventCode {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return "", false
		}
	}
	return s, true
}

// luxosFault maps one event; board is the board label of the event's ID ("" for the miner).
func luxosFault(code, board, raw string) miner.Fault {
	vendor := "luxos:" + code
	if e, ok := luxosEvents[code]; ok {
		return miner.Fault{Code: e.class.Code, Severity: e.severity, Component: e.class.Component, Board: board, Vendor: vendor, Raw: raw}
	}
	return miner.Fault{Code: vendor, Severity: warning, Component: miner.ComponentOther, Board: board, Vendor: vendor, Raw: raw}
}

// antminerStatus maps the types of the stock Antminer firmware's health array (summary.cgi's
// SUMMARY[0].status: {type, status, code, msg}, status "s" when well): its web page shows one
// light per type. The letter says how bad: "e" (or "f") critical, anything else not "s" warning.
var antminerStatus = map[string]FaultClass{
	"fans":    ClassFanFailure,
	"fan":     ClassFanFailure,
	"temp":    ClassOverheat,
	"rate":    ClassHashrateLow,
	"network": ClassPoolConnection,
}

// antminerStatusFault maps one entry of the health array; ok is false for an entry that is well
// (status "s", or empty as some firmware leaves it) or not readable.
func antminerStatusFault(typ, status, code, msg string) (miner.Fault, bool) {
	typ, status = word(typ), strings.ToLower(strings.TrimSpace(status))
	switch status {
	case "s", "", "ok", "success":
		return miner.Fault{}, false
	}
	if typ == "" || len(status) > 16 {
		return miner.Fault{}, false
	}
	vendor := "antminer:" + typ
	if n, ok := faultNumber(code, maxWhatsminerCode); ok && n != 0 {
		vendor += ":" + strconv.Itoa(n)
	}
	sev := warning
	if status == "e" || status == "f" || status == "error" {
		sev = critical
	}
	f := miner.Fault{Code: "antminer:" + typ, Severity: sev, Component: miner.ComponentOther, Vendor: vendor, Raw: msg}
	if c, ok := antminerStatus[typ]; ok {
		f.Code, f.Component = c.Code, c.Component
	}
	return f, true
}

// braiinsCodes maps Braiins OS's error codes (miner/errors' error_codes[].code, the {ERR:…} of
// its messages) that the captures show; others are raw.
var braiinsCodes = map[string]struct {
	class    FaultClass
	severity string
	text     string
}{
	"V2": {ClassHashboardVolt, critical, "low voltage: the PSU's overcurrent protection switched a hashboard off, or a short circuit"},
	"H1": {ClassHashboardFault, critical, "a hashboard has a problem (a NoPIC miner cannot disable it alone)"},
}

// braiinsComponents maps the component names of miner/errors' components[] (Hashboard with
// its index is the board; see braiinsErrorFaults).
var braiinsComponents = map[string]FaultClass{
	"fan": ClassFanFailure, "psu": ClassPSUFault, "hashboard": ClassHashboardFault,
}

// braiinsCode reads an error code: letters and digits, 1 to 16.
func braiinsCode(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 16 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return "", false
		}
	}
	return strings.ToUpper(s), true
}

func braiinsFault(code, board, raw string) miner.Fault {
	c, ok := braiinsCode(code)
	if !ok {
		c = "unknown"
	}
	vendor := "braiins:" + c
	if e, ok := braiinsCodes[c]; ok {
		return miner.Fault{Code: e.class.Code, Severity: e.severity, Component: e.class.Component, Board: board, Vendor: vendor, Raw: raw}
	}
	return miner.Fault{Code: vendor, Severity: warning, Component: miner.ComponentOther, Board: board, Vendor: vendor, Raw: raw}
}

func braiinsComponentFault(name, raw string) miner.Fault {
	vendor := "braiins:" + name
	if c, ok := braiinsComponents[name]; ok {
		return miner.Fault{Code: c.Code, Severity: critical, Component: c.Component, Vendor: vendor, Raw: raw}
	}
	return miner.Fault{Code: vendor, Severity: warning, Component: miner.ComponentOther, Vendor: vendor, Raw: raw}
}

// FaultTableMarkdown renders the tables as exporter/README.md shows them (a test holds the README
// equal to it).
func FaultTableMarkdown() string {
	var b strings.Builder
	b.WriteString("| code (class) | component | alerts | what it means |\n|---|---|---|---|\n")
	for _, c := range FaultClasses() {
		work := "no"
		if c.Work {
			work = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c.Code, c.Component, work, c.Text)
	}
	b.WriteString("\nWhatsminer (MicroBT's numeric codes; board: the digit that names the slot, SM0–SM2):\n\n")
	b.WriteString("| codes | class | severity | board | MicroBT's meaning |\n|---|---|---|---|---|\n")
	for _, r := range whatsminerRanges {
		codes := strconv.Itoa(r.Lo)
		if r.Hi != r.Lo {
			codes += "–" + strconv.Itoa(r.Hi)
		}
		board := r.Board()
		if board == "" {
			board = "—"
		}
		comp := ""
		if r.Class.Component != classComponent(r.Class.Code) {
			comp = " (" + r.Class.Component + ")"
		}
		fmt.Fprintf(&b, "| %s | `%s`%s | %s | %s | %s |\n", codes, r.Class.Code, comp, r.Severity, board, r.Text)
	}
	b.WriteString("\nLuxOS (`events`; board: the event's ID for Target BOARD):\n\n| event | class | severity |\n|---|---|---|\n")
	codes := make([]string, 0, len(luxosEvents))
	for k := range luxosEvents {
		codes = append(codes, k)
	}
	sort.Strings(codes)
	for _, k := range codes {
		e := luxosEvents[k]
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", k, e.class.Code, e.severity)
	}
	b.WriteString("\nStock Antminer (web API `summary.cgi`, the health array; severity critical for status `e`, else warning; other types raw `antminer:<type>`):\n\n| type | class |\n|---|---|\n")
	types := make([]string, 0, len(antminerStatus))
	for k := range antminerStatus {
		types = append(types, k)
	}
	sort.Strings(types)
	for _, k := range types {
		fmt.Fprintf(&b, "| `%s` | `%s` |\n", k, antminerStatus[k].Code)
	}
	b.WriteString("\nBraiins OS (web API `miner/errors` of the current run; board: the Hashboard component's index; other codes raw `braiins:<code>`):\n\n| code or component | class | severity | Braiins's meaning |\n|---|---|---|---|\n")
	bcodes := make([]string, 0, len(braiinsCodes))
	for k := range braiinsCodes {
		bcodes = append(bcodes, k)
	}
	sort.Strings(bcodes)
	for _, k := range bcodes {
		e := braiinsCodes[k]
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", k, e.class.Code, e.severity, e.text)
	}
	comps := make([]string, 0, len(braiinsComponents))
	for k := range braiinsComponents {
		comps = append(comps, k)
	}
	sort.Strings(comps)
	for _, k := range comps {
		fmt.Fprintf(&b, "| component `%s` (no code) | `%s` | critical | |\n", k, braiinsComponents[k].Code)
	}
	b.WriteString("| tuner state 4 (`performance/tuner-state`) | `" + ClassFirmwareProc.Code + "` | warning | the performance tuner is in its error state |\n")
	return b.String()
}

func classComponent(code string) string {
	for _, c := range FaultClasses() {
		if c.Code == code {
			return c.Component
		}
	}
	return ""
}
