// Package collector turns one probe's miner.Snapshot into the contract's metrics. It knows
// nothing of firmware or of the API: everything it exports comes from the snapshot, and a reading
// the snapshot does not have is not exported (never a made-up 0).
package collector

import (
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// Probe is the outcome of one probe, ready to be collected into a per-request registry.
type Probe struct {
	Up       bool
	Duration float64 // seconds
	// Reason is why the probe failed (cgminer.Reason values); empty when Up.
	Reason string
	// Commands maps each command sent to whether it answered with S/I.
	Commands map[string]bool
	Snapshot *miner.Snapshot
}

// def is one metric: its name, help, label names, and the client_golang Desc for Collect.
type def struct {
	name, help string
	labels     []string
	desc       *prometheus.Desc
	// sorted label names, and for each its position in labels (for the text writer)
	sortedNames []string
	order       []int
	// rank is the metric's place among all metrics by name, the exposition's order; the
	// headers are its HELP and TYPE lines.
	rank                       int
	gaugeHeader, counterHeader string
}

// defs are every metric, by rank once init has run.
var defs []*def

func desc(name, help string, labels ...string) *def {
	d := &def{name: name, help: help, labels: labels, desc: prometheus.NewDesc(name, help, labels, nil),
		gaugeHeader: header(name, help, "gauge"), counterHeader: header(name, help, "counter")}
	d.sortedNames, d.order = sortedLabels(labels)
	defs = append(defs, d)
	return d
}

// maxDefs bounds the metrics there are (the text writer's counting sort).
const maxDefs = 128

func init() {
	if len(defs) > maxDefs {
		panic("collector: more metrics than maxDefs")
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].name < defs[j].name })
	for i, d := range defs {
		d.rank = i
	}
}

var poolLabels = []string{"pool", "url", "user"}

var (
	upDesc         = desc("cgminer_up", "1 when the miner's API answered the probe.")
	durationDesc   = desc("cgminer_probe_duration_seconds", "Wall time of this probe.")
	errorDesc      = desc("cgminer_probe_error_info", "Why the probe failed; present only when cgminer_up is 0.", "reason")
	commandDesc    = desc("cgminer_command_success", "1 when the API command answered with success, 0 when it failed or was refused.", "command")
	infoDesc       = desc("cgminer_info", "Identity of the miner.", "model", "firmware", "software", "software_version", "api_version")
	deviceDesc     = desc("cgminer_device_info", "Serial number (or unique hardware ID) and MAC address the miner reports; present when it reports either.", "serial", "mac")
	uptimeDesc     = desc("cgminer_uptime_seconds", "Seconds since the mining software started.")
	hashrateDesc   = desc("cgminer_hashrate_hashes_per_second", "Current hashrate as the miner reports it (its shortest window).")
	averageDesc    = desc("cgminer_hashrate_average_hashes_per_second", "Average hashrate since the mining software started.")
	nominalDesc    = desc("cgminer_hashrate_nominal_hashes_per_second", "Ideal (factory or configured) hashrate.")
	hashesDesc     = desc("cgminer_hashes_total", "Total work done in hashes, where the miner reports it.")
	boardsDesc     = desc("cgminer_boards", "Hashboards detected with chips.")
	boardsExpDesc  = desc("cgminer_boards_expected", "Hashboards this model should have.")
	bHashDesc      = desc("cgminer_board_hashrate_hashes_per_second", "Hashrate of one hashboard.", "board")
	bNominalDesc   = desc("cgminer_board_hashrate_nominal_hashes_per_second", "Ideal hashrate of one hashboard.", "board")
	bChipsDesc     = desc("cgminer_board_chips", "Chips detected on the hashboard.", "board")
	bChipsExpDesc  = desc("cgminer_board_chips_expected", "Chips the hashboard should have.", "board")
	bChipsFailDesc = desc("cgminer_board_chips_failed", "Chips the hashboard reports bad.", "board")
	bHWDesc        = desc("cgminer_board_hardware_errors_total", "Hardware errors of one hashboard.", "board")
	bTempDesc      = desc("cgminer_board_temperature_celsius", "Temperature of one hashboard's sensor (the hottest of its kind).", "board", "sensor")
	tempDesc       = desc("cgminer_temperature_celsius", "Miner-level temperature sensors.", "sensor")
	fanDesc        = desc("cgminer_fan_speed_rpm", "Fan speed.", "fan")
	fansExpDesc    = desc("cgminer_fans_expected", "Fans this model should have.")
	powerDesc      = desc("cgminer_power_watts", "Power draw.")
	devAliveDesc   = desc("cgminer_device_alive", "1 when the device's Status in devs is Alive.", "device")
	devEnDesc      = desc("cgminer_device_enabled", "1 when the device is enabled in devs.", "device")
	acceptedDesc   = desc("cgminer_shares_accepted_total", "Shares accepted by the pools.")
	rejectedDesc   = desc("cgminer_shares_rejected_total", "Shares rejected by the pools.")
	staleDesc      = desc("cgminer_shares_stale_total", "Stale shares.")
	hwDesc         = desc("cgminer_hardware_errors_total", "Hardware errors.")
	diffAccDesc    = desc("cgminer_difficulty_accepted_total", "Sum of the difficulty of accepted shares.")
	diffRejDesc    = desc("cgminer_difficulty_rejected_total", "Sum of the difficulty of rejected shares.")
	poolUpDesc     = desc("cgminer_pool_up", "1 when the pool's Status is Alive.", poolLabels...)
	poolActDesc    = desc("cgminer_pool_active", "1 for the pool the miner is mining on now.", poolLabels...)
	poolPrioDesc   = desc("cgminer_pool_priority", "Pool priority (0 is first).", poolLabels...)
	poolExpDesc    = desc("cgminer_pool_expected", "1 when the pool's url and user match the module's expected pools or the firmware's known fee pools.", poolLabels...)
	poolFeeDesc    = desc("cgminer_pool_devfee", "1 for a firmware's own fee pool.", poolLabels...)
	poolAccDesc    = desc("cgminer_pool_shares_accepted_total", "Shares accepted by this pool.", poolLabels...)
	poolRejDesc    = desc("cgminer_pool_shares_rejected_total", "Shares rejected by this pool.", poolLabels...)
	poolDiffDesc   = desc("cgminer_pool_difficulty_accepted_total", "Sum of the difficulty of shares this pool accepted.", poolLabels...)
	poolLastDesc   = desc("cgminer_pool_last_share_timestamp_seconds", "When the pool last accepted a share.", poolLabels...)
	feeShareDesc   = desc("cgminer_devfee_share_ratio", "The most of its work the firmware's fee pools may take (fee_pools share); present when a pool is a known fee pool.")
	sleepingDesc   = desc("cgminer_sleeping", "1 when the miner reports it is deliberately idle (sleep, curtailment).")
	truncatedDesc  = desc("cgminer_probe_truncated", "1 when the module's limits cut this probe's list of what short (boards, fans, pools, devices, sensors, label values); absent otherwise.", "what")
	droppedDesc    = desc("cgminer_probe_dropped_readings", "Readings this probe left out as implausible or not finite, by kind; absent when none were.", "what")
	faultDesc      = desc("cgminer_fault", "A fault or warning the firmware reports about itself: code is the normalised class, or vendor:code when it has none; board is empty for the whole miner.", "code", "severity", "component", "board")
	boardInfoDesc  = desc("cgminer_board_info", "Serial number the firmware reports for a hashboard; present when it reports one.", "board", "serial")
)

// Describe sends nothing: the metrics depend on what the miner reported (an unchecked collector).
func (p *Probe) Describe(chan<- *prometheus.Desc) {}

// Collect emits the probe's metrics.
func (p *Probe) Collect(ch chan<- prometheus.Metric) {
	var s sink
	p.walk(&s)
	for _, x := range s.done() {
		ch <- prometheus.MustNewConstMetric(x.d.desc, x.t, x.v, x.lv...)
	}
}

// sink gathers a probe's samples, their label values copied into one arena (so the label value
// lists built for each sample need no allocation of their own).
type sink struct {
	samples []sample
	arena   []string
	out     []sample // the samples in exposition order (sorted)
}

func (s *sink) add(d *def, t prometheus.ValueType, v float64, lv []string) {
	off := len(s.arena)
	s.arena = append(s.arena, lv...)
	clean(s.arena[off:])
	s.samples = append(s.samples, sample{d: d, t: t, v: v, off: off, n: len(lv)})
}

// done sets each sample's label values from the arena and returns the samples.
func (s *sink) done() []sample {
	for i := range s.samples {
		x := &s.samples[i]
		x.lv = s.arena[x.off : x.off+x.n : x.off+x.n]
	}
	return s.samples
}

// walk adds every sample of the probe to sk. Label values come from the miner: invalid UTF-8
// would make the metric invalid, so it is replaced rather than allowed to fail the probe.
func (p *Probe) walk(sk *sink) {
	// A value that is not finite is never exported (Sanitize has dropped them already; this
	// holds for a snapshot that did not go through it).
	gauge := func(d *def, v float64, lv ...string) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			sk.add(d, prometheus.GaugeValue, v, lv)
		}
	}
	opt := func(d *def, t prometheus.ValueType, f miner.F, lv ...string) {
		if f.Set && !math.IsNaN(f.V) && !math.IsInf(f.V, 0) {
			sk.add(d, t, f.V, lv)
		}
	}
	if p.Up {
		gauge(upDesc, 1)
	} else {
		gauge(upDesc, 0)
		if p.Reason != "" {
			gauge(errorDesc, 1, p.Reason)
		}
	}
	gauge(durationDesc, p.Duration)
	names := make([]string, 0, len(p.Commands))
	for c := range p.Commands {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		v := 0.0
		if p.Commands[c] {
			v = 1
		}
		gauge(commandDesc, v, c)
	}
	s := p.Snapshot
	if !p.Up || s == nil {
		return
	}
	gauge(infoDesc, 1, s.Model, s.Firmware, s.Software, s.SoftwareVersion, s.APIVersion)
	if s.Serial != "" || s.MAC != "" {
		gauge(deviceDesc, 1, s.Serial, s.MAC)
	}
	opt(uptimeDesc, prometheus.GaugeValue, s.Uptime)
	opt(hashrateDesc, prometheus.GaugeValue, s.Hashrate)
	opt(averageDesc, prometheus.GaugeValue, s.HashrateAverage)
	opt(nominalDesc, prometheus.GaugeValue, s.HashrateNominal)
	opt(hashesDesc, prometheus.CounterValue, s.HashesTotal)
	opt(boardsDesc, prometheus.GaugeValue, s.BoardsDetected())
	opt(boardsExpDesc, prometheus.GaugeValue, s.BoardsExpected)
	boards := map[string]bool{}
	for _, b := range s.Boards {
		if !b.Present {
			continue // a missing board shows as cgminer_boards < cgminer_boards_expected
		}
		// The firmware's own number; a miner that gives two boards one number gets the first.
		id := b.Label()
		if boards[id] {
			continue
		}
		boards[id] = true
		opt(bHashDesc, prometheus.GaugeValue, b.Hashrate, id)
		opt(bNominalDesc, prometheus.GaugeValue, b.HashrateNominal, id)
		opt(bChipsDesc, prometheus.GaugeValue, b.Chips, id)
		opt(bChipsExpDesc, prometheus.GaugeValue, b.ChipsExpected, id)
		opt(bChipsFailDesc, prometheus.GaugeValue, b.ChipsFailed, id)
		opt(bHWDesc, prometheus.CounterValue, b.HardwareErrors, id)
		if b.Serial != "" {
			gauge(boardInfoDesc, 1, id, b.Serial)
		}
		seen := map[string]bool{}
		for _, t := range b.Temperatures {
			if !seen[t.Sensor] {
				seen[t.Sensor] = true
				gauge(bTempDesc, t.Celsius, id, t.Sensor)
			}
		}
	}
	seen := map[string]bool{}
	for _, t := range s.Temperatures {
		if !seen[t.Sensor] {
			seen[t.Sensor] = true
			gauge(tempDesc, t.Celsius, t.Sensor)
		}
	}
	seen = map[string]bool{}
	for _, f := range s.Fans {
		if !seen[f.Name] {
			seen[f.Name] = true
			gauge(fanDesc, f.RPM, f.Name)
		}
	}
	opt(fansExpDesc, prometheus.GaugeValue, s.FansExpected)
	opt(powerDesc, prometheus.GaugeValue, s.Power)
	seen = map[string]bool{}
	for _, d := range s.Devices {
		if seen[d.ID] {
			continue
		}
		seen[d.ID] = true
		opt(devAliveDesc, prometheus.GaugeValue, d.Alive, d.ID)
		opt(devEnDesc, prometheus.GaugeValue, d.Enabled, d.ID)
	}
	opt(acceptedDesc, prometheus.CounterValue, s.SharesAccepted)
	opt(rejectedDesc, prometheus.CounterValue, s.SharesRejected)
	opt(staleDesc, prometheus.CounterValue, s.SharesStale)
	opt(hwDesc, prometheus.CounterValue, s.HardwareErrors)
	opt(diffAccDesc, prometheus.CounterValue, s.DifficultyAccepted)
	opt(diffRejDesc, prometheus.CounterValue, s.DifficultyRejected)
	seen = map[string]bool{}
	for _, pl := range s.Pools {
		lv := []string{pl.Index, pl.URL, pl.User}
		key := pl.Index + "\x00" + pl.URL + "\x00" + pl.User
		if seen[key] {
			continue
		}
		seen[key] = true
		opt(poolUpDesc, prometheus.GaugeValue, pl.Up, lv...)
		opt(poolActDesc, prometheus.GaugeValue, pl.Active, lv...)
		opt(poolPrioDesc, prometheus.GaugeValue, pl.Priority, lv...)
		opt(poolExpDesc, prometheus.GaugeValue, pl.Expected, lv...)
		fee := 0.0
		if pl.DevFee {
			fee = 1
		}
		gauge(poolFeeDesc, fee, lv...)
		opt(poolAccDesc, prometheus.CounterValue, pl.SharesAccepted, lv...)
		opt(poolRejDesc, prometheus.CounterValue, pl.SharesRejected, lv...)
		opt(poolDiffDesc, prometheus.CounterValue, pl.DifficultyAccepted, lv...)
		opt(poolLastDesc, prometheus.GaugeValue, pl.LastShareTime, lv...)
	}
	opt(feeShareDesc, prometheus.GaugeValue, s.FeeShare)
	opt(sleepingDesc, prometheus.GaugeValue, s.Sleeping)
	seen = map[string]bool{}
	for _, f := range s.Faults {
		key := f.Code + "\x00" + f.Severity + "\x00" + f.Component + "\x00" + f.Board
		if seen[key] {
			continue
		}
		seen[key] = true
		gauge(faultDesc, 1, f.Code, f.Severity, f.Component, f.Board)
	}
	for _, what := range s.Truncated {
		gauge(truncatedDesc, 1, what)
	}
	for what, n := range s.Dropped {
		gauge(droppedDesc, float64(n), what)
	}
}

func clean(lv []string) []string {
	for i, v := range lv {
		if !utf8.ValidString(v) {
			lv[i] = strings.ToValidUTF8(v, "\uFFFD")
		}
	}
	return lv
}
