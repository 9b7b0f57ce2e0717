// Package miner holds the normalised snapshot of one miner: what every firmware dialect produces
// and what the collector turns into metrics. It knows nothing of firmware or of Prometheus.
//
// Units are base units: hashes per second, celsius, seconds, watts, revolutions per minute.
// Every optional reading is an F, which is either set or absent: a field the miner did not report
// stays absent and is never exported as a made-up 0.
package miner

import "strconv"

// F is an optional reading.
type F struct {
	V   float64
	Set bool
}

// Some returns a set reading.
func Some(v float64) F { return F{V: v, Set: true} }

// Or returns the reading, or def when it is absent.
func (f F) Or(def float64) float64 {
	if f.Set {
		return f.V
	}
	return def
}

// Snapshot is everything one probe learned about one miner.
type Snapshot struct {
	// Identity, as cgminer_info labels.
	Model           string // "Antminer S19j Pro", without firmware suffixes
	Firmware        string // "stock", "braiins", "vnish", "luxos", "hiveon", "asicseer", …
	Software        string // "bmminer", "cgminer", "btminer", "bosminer", "luxminer", …
	SoftwareVersion string
	APIVersion      string
	// Family is the dialect that read the replies (for debug output).
	Family string
	// Serial and MAC identify the unit for the crew, as the firmware reports them through the
	// API (cgminer_device_info); empty when it does not. MAC is lower-case with colons.
	Serial string
	MAC    string

	Uptime          F // seconds since the mining software started
	Hashrate        F // current (the miner's shortest window)
	HashrateAverage F // since start
	HashrateNominal F // ideal / factory
	HashesTotal     F

	// Boards holds the hashboard slots the model has (or that the miner reports), in slot order.
	// A slot whose board is missing stays in the list with Present false.
	Boards         []Board
	BoardsExpected F

	Temperatures []Temperature // miner-level sensors
	Fans         []Fan
	FansExpected F
	Power        F

	Devices []Device // from devs

	SharesAccepted     F
	SharesRejected     F
	SharesStale        F
	HardwareErrors     F
	DifficultyAccepted F
	DifficultyRejected F

	Pools []Pool
	// FeeShare is the most of its work the firmware's fee pools may take (the fee_pools share of
	// its firmware), set when at least one pool is a recognised fee pool.
	FeeShare F

	// Sleeping is 1 when the miner says it is deliberately idle (sleep mode, curtailment),
	// 0 when it says it is not, absent when the firmware does not say.
	Sleeping F

	// Faults are the firmware's own fault and warning codes, normalised where the dialect's
	// table knows the code (exporter/dialect/faults.go), one entry per distinct fault.
	Faults []Fault

	// Truncated names, sorted, what a limit cut short (boards, fans, pools, …; see Limits);
	// nil when nothing was. Dropped counts by kind the readings Sanitize left out as implausible.
	Truncated []string
	Dropped   map[string]int
}

// Board is one hashboard slot.
type Board struct {
	Index int // 0-based position in Boards (slot order)
	// Name is the board's number as the firmware and the physical label give it (Bitmain's
	// chain N, Whatsminer's slot, Braiins's and devs' ID, Avalon's MM ID), the `board` label
	// value. Empty only in a snapshot no dialect made; the collector then writes Index.
	Name            string
	Present         bool
	Hashrate        F
	HashrateNominal F
	Chips           F
	ChipsExpected   F
	ChipsFailed     F
	HardwareErrors  F
	Temperatures    []Temperature
	// Serial is the board's own serial number where the firmware reports one (Whatsminer's
	// pcbsnN); "" otherwise.
	Serial string
}

// Label is the board's `board` label value: its Name, or its Index in a snapshot no dialect made.
func (b Board) Label() string {
	if b.Name != "" {
		return b.Name
	}
	return strconv.Itoa(b.Index)
}

// Fault is one fault or warning the firmware reports about itself. Code, Severity, Component
// and Board are the cgminer_fault labels.
type Fault struct {
	// Code is the fault's class where the normalisation table has one ("psu_fault",
	// "hashboard_not_found", …), else the vendor's own code as "<vendor>:<code>".
	Code string
	// Severity is critical, warning or info (Sanitize makes anything else warning).
	Severity string
	// Component is the part the fault concerns: fan, psu, hashboard, temperature, network,
	// pool, control_board, firmware or other (Sanitize makes anything else other).
	Component string
	// Board names the hashboard the fault concerns as the board label does; "" when it
	// concerns the miner.
	Board string
	// Vendor is the firmware's own code ("whatsminer:531", "luxos:BOARD_NOT_DETECTED"), kept for
	// debug output; Raw is the firmware's text about it, cut to MaxFaultText bytes. Neither is a
	// label.
	Vendor string
	Raw    string
}

// The severities and components of a Fault.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"

	ComponentFan          = "fan"
	ComponentPSU          = "psu"
	ComponentHashboard    = "hashboard"
	ComponentTemperature  = "temperature"
	ComponentNetwork      = "network"
	ComponentPool         = "pool"
	ComponentControlBoard = "control_board"
	ComponentFirmware     = "firmware"
	ComponentOther        = "other"
)

// MaxFaultText bounds a Fault's Raw text and Vendor code.
const MaxFaultText = 256

// Temperature is one sensor reading in celsius.
type Temperature struct {
	Sensor  string
	Celsius float64
}

// Fan is one fan's speed.
type Fan struct {
	Name string
	RPM  float64
}

// Device is one entry of `devs`.
type Device struct {
	ID      string
	Alive   F // 1 when Status is Alive
	Enabled F // 1 when Enabled is Y
}

// Pool is one configured pool.
type Pool struct {
	Index    string
	URL      string
	User     string
	Up       F // 1 when Status is Alive
	Active   F // 1 for the pool mined on now
	Priority F
	// DevFee marks a fee pool of the miner's firmware: the firmware is one fee_pools knows and
	// the pool's URL and worker are one of its fee endpoints (VNish "DevFee", the hidden "*"
	// pool). A pool's name or priority alone never makes it one.
	DevFee bool
	// Cut is set by Sanitize when the URL or the worker had to be changed (longer than the label
	// limit, or not UTF-8): such a pool never matches an expected pattern or a fee endpoint (what was cut off could
	// name any pool).
	Cut bool
	// Expected is set by the module's pool expectations: 1 when url and user match, or the pool
	// is a fee pool (DevFee); 0 when not.
	Expected           F
	SharesAccepted     F
	SharesRejected     F
	DifficultyAccepted F
	LastShareTime      F // unix seconds
}

// BoardsDetected counts the boards present with chips. It is absent when the snapshot has no
// board information at all.
func (s *Snapshot) BoardsDetected() F {
	if len(s.Boards) == 0 {
		return F{}
	}
	n := 0.0
	for _, b := range s.Boards {
		if b.Present && (!b.Chips.Set || b.Chips.V > 0) {
			n++
		}
	}
	return Some(n)
}
