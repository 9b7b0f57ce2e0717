package config

import (
	"fmt"

	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// Limits bound what one probe of a module reads from the miner: a list longer than its limit is
// cut (cgminer_probe_truncated{what=…} says so), and a count a miner sends never sizes a loop or
// a slice. A key left out takes its default (miner.DefaultLimits); none may exceed
// miner.MaxLimits.
type Limits struct {
	Boards        int `yaml:"boards"`          // hashboard slots (16)
	ChipsPerBoard int `yaml:"chips_per_board"` // the most chips a board can report; more is implausible (10000)
	Fans          int `yaml:"fans"`            // fans (16)
	BoardSensors  int `yaml:"board_sensors"`   // temperature sensors per board (8)
	Sensors       int `yaml:"sensors"`         // miner-level temperature sensors (16)
	Pools         int `yaml:"pools"`           // pools (16)
	Devices       int `yaml:"devices"`         // devs entries (32)
	LabelLength   int `yaml:"label_length"`    // bytes of one label value (128)
	Faults        int `yaml:"faults"`          // firmware fault codes (32)
}

// ReadLimits converts the module's limits for the dialect package.
func (m *Module) ReadLimits() miner.Limits {
	l := m.Limits
	return miner.Limits{
		Boards: l.Boards, ChipsPerBoard: l.ChipsPerBoard, Fans: l.Fans, BoardSensors: l.BoardSensors,
		Sensors: l.Sensors, Pools: l.Pools, Devices: l.Devices, LabelBytes: l.LabelLength, Faults: l.Faults,
	}.OrDefault()
}

func (l *Limits) fields() []struct {
	key      string
	v        *int
	def, max int
} {
	d, m := miner.DefaultLimits, miner.MaxLimits
	return []struct {
		key      string
		v        *int
		def, max int
	}{
		{"boards", &l.Boards, d.Boards, m.Boards},
		{"chips_per_board", &l.ChipsPerBoard, d.ChipsPerBoard, m.ChipsPerBoard},
		{"fans", &l.Fans, d.Fans, m.Fans},
		{"board_sensors", &l.BoardSensors, d.BoardSensors, m.BoardSensors},
		{"sensors", &l.Sensors, d.Sensors, m.Sensors},
		{"pools", &l.Pools, d.Pools, m.Pools},
		{"devices", &l.Devices, d.Devices, m.Devices},
		{"label_length", &l.LabelLength, d.LabelBytes, m.LabelBytes},
		{"faults", &l.Faults, d.Faults, m.Faults},
	}
}

func (l *Limits) setDefaults() {
	for _, f := range l.fields() {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
}

// validate holds each limit in [1, miner.MaxLimits] and the module's expectations within them
// (a module cannot expect more boards than it reads).
func (l *Limits) validate(e Expect) error {
	for _, f := range l.fields() {
		if *f.v < 1 || *f.v > f.max {
			return fmt.Errorf("%s %d out of range (1 to %d)", f.key, *f.v, f.max)
		}
	}
	switch {
	case e.Boards > l.Boards:
		return fmt.Errorf("expect.boards %d above limits.boards %d", e.Boards, l.Boards)
	case e.Fans > l.Fans:
		return fmt.Errorf("expect.fans %d above limits.fans %d", e.Fans, l.Fans)
	case e.ChipsPerBoard > l.ChipsPerBoard:
		return fmt.Errorf("expect.chips_per_board %d above limits.chips_per_board %d", e.ChipsPerBoard, l.ChipsPerBoard)
	}
	return nil
}
