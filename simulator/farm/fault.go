package farm

import (
	"fmt"
	"strings"
)

// Fault is one thing that can go wrong with a miner. Faults compose: a miner can have several.
type Fault uint8

// The faults, each as a real miner shows it (see README.md for the fields each one changes).
const (
	Offline          Fault = iota // the API port refuses connections
	Hang                          // accepts, reads the request, never answers
	Slow                          // answers after Config.SlowDelay
	Garbage                       // answers random bytes that are not the API
	Truncated                     // cuts the reply in the middle and closes
	BoardMissing                  // one hashboard is not detected
	BoardDead                     // one hashboard is detected but hashes nothing, chips failed
	ChipsFailed                   // one hashboard lost some chips
	HashrateLow                   // every board at about 60 % of nominal
	ZeroHashrate                  // the API answers, every board hashes 0
	Overheat                      // chips at about 92 °C
	OverheatCritical              // chips at about 105 °C
	FanStopped                    // the first fan reads 0 rpm
	PoolDead                      // every pool Dead, no share accepted, no work to hash
	PoolWrong                     // mining on another pool and worker
	RejectsHigh                   // about 10 % of shares rejected
	HWErrorsHigh                  // hardware errors growing at a high ratio
	RestartLoop                   // the mining software restarts every Config.RestartPeriod
	Sleeping                      // deliberately idle, in the firmware's own sleep representation
	PoolHijack                    // mining on a thief's pool named like a fee pool (devfee worker, priority 9999)
	DeviceDead                    // the first device of devs is Dead (cgminer's verdict on a device idle for 10 minutes) and hashes nothing
	LowPower                      // Whatsminer low-power mode: hashes at 80 %, and says so (power-mode "low"); other families ignore it
	numFaults
)

var faultNames = [numFaults]string{
	Offline: "offline", Hang: "hang", Slow: "slow", Garbage: "garbage", Truncated: "truncated",
	BoardMissing: "board_missing", BoardDead: "board_dead", ChipsFailed: "chips_failed",
	HashrateLow: "hashrate_low", ZeroHashrate: "zero_hashrate", Overheat: "overheat",
	OverheatCritical: "overheat_critical", FanStopped: "fan_stopped", PoolDead: "pool_dead",
	PoolWrong: "pool_wrong", RejectsHigh: "rejects_high", HWErrorsHigh: "hw_errors_high",
	RestartLoop: "restart_loop", Sleeping: "sleeping", PoolHijack: "pool_hijack", DeviceDead: "device_dead",
	LowPower: "low_power",
}

func (f Fault) String() string {
	if f < numFaults {
		return faultNames[f]
	}
	return fmt.Sprintf("fault(%d)", uint8(f))
}

// MarshalText writes the fault's name.
func (f Fault) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads a fault's name.
func (f *Fault) UnmarshalText(b []byte) error {
	v, err := ParseFault(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// ParseFault returns the fault of that name.
func ParseFault(name string) (Fault, error) {
	for i, n := range faultNames {
		if n == name {
			return Fault(i), nil
		}
	}
	return 0, fmt.Errorf("unknown fault %q (known: %s)", name, strings.Join(FaultNames(), ", "))
}

// FaultNames lists every fault's name.
func FaultNames() []string { return append([]string(nil), faultNames[:]...) }

// faultSet is a set of faults.
type faultSet uint32

func (s faultSet) has(f Fault) bool { return s&(1<<f) != 0 }

func (s faultSet) list() []Fault {
	var out []Fault
	for f := Fault(0); f < numFaults; f++ {
		if s.has(f) {
			out = append(out, f)
		}
	}
	return out
}

// DefaultRestartClears are the faults a restart of the mining software cures: a miner that
// hashes nothing although nothing is broken (zero_hashrate), a device cgminer gave up on
// (device_dead: a restart initialises every device again), and stratum connections stuck in the
// software (pool_dead). Hardware faults, configuration (pools, sleep) and connection faults stay.
var DefaultRestartClears = []Fault{ZeroHashrate, PoolDead, DeviceDead}

// ParseFaults reads a comma-separated list of fault names ("" is none).
func ParseFaults(list string) ([]Fault, error) {
	out := []Fault{}
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		f, err := ParseFault(name)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}
