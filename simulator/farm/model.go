package farm

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// family is how a firmware family writes its replies (one render file each).
type family uint8

const (
	famBitmain      family = iota // stock bmminer on the S19 generation (S19j Pro)
	famBitmainS9                  // stock bmminer 2.0.0 on the S9: chains 6–8, fan5/fan6, the `}{` stats bug
	famWhatsminer                 // MicroBT btminer (cgminer 4.9.2 fork) plus its flat-STATUS commands
	famBraiins                    // Braiins OS (BOSer), cgminer-compatible API with temps and fans
	famAvalon                     // Canaan cgminer 4.11.1: the hardware packed into "MM ID" strings
	famVNish                      // VNish on an Antminer: Bitmain stats with "Cgminer", state, DevFee pool
	famLuxOS                      // LuxOS (LUXminer): Bitmain-shaped stats, sorted keys, temps/fans/power
	famWhatsminerV3               // MicroBT firmware from late 2024 on: API v3 on TCP 4433 only
)

// api is one of the APIs a miner serves, each on its own port.
type api uint8

const (
	apiCGMiner api = iota // the cgminer API (JSON and text) on Config.Port, 4028
	apiV3                 // Whatsminer API v3 on Config.V3Port, 4433 (v3.go)
	apiWeb                // the stock Antminer HTTP API on Config.HTTPPort, 80 (web.go)
	numAPIs
)

// The protocol names of the APIs, as the control API lists them (MinerInfo.Protocols) and the
// exporter's modules name the first two.
const (
	ProtocolCGMiner      = "cgminer"
	ProtocolWhatsminerV3 = "whatsminer-v3"
	ProtocolAntminerHTTP = "antminer-http"
)

var apiNames = [numAPIs]string{apiCGMiner: ProtocolCGMiner, apiV3: ProtocolWhatsminerV3, apiWeb: ProtocolAntminerHTTP}

// apiSet is a set of APIs.
type apiSet uint8

func (s apiSet) has(a api) bool { return s&(1<<a) != 0 }

const (
	legacyOnly = apiSet(1 << apiCGMiner)
	withWeb    = apiSet(1<<apiCGMiner | 1<<apiWeb)
	v3Only     = apiSet(1 << apiV3)
)

// Model is one kind of simulated miner: what a healthy unit of it reports.
type Model struct {
	Key      string // --models key
	Name     string // the model, as the exporter's cgminer_info names it
	Firmware string // stock, braiins, vnish, luxos
	fam      family
	apis     apiSet // the APIs a unit of this model serves

	Boards     int     // hashboard slots
	Chips      int     // ASIC chips per board
	Fans       int     // fans the firmware reports
	NominalGHS float64 // ideal hashrate of the whole miner, GH/s
	Power      float64 // watts at nominal
	ChipTemp   float64 // typical hottest chip, °C
	PCBTemp    float64 // typical board, °C
	FanRPM     float64 // typical fan speed
	Diff       float64 // pool share difficulty
	// Description is the STATUS Description the firmware writes.
	Description string
}

// Protocols names the APIs a unit of the model serves (ProtocolCGMiner, ProtocolWhatsminerV3,
// ProtocolAntminerHTTP), whether or not the farm's configuration turns them on.
func (m *Model) Protocols() []string {
	var out []string
	for a := api(0); a < numAPIs; a++ {
		if m.apis.has(a) {
			out = append(out, apiNames[a])
		}
	}
	return out
}

// Speaks reports whether a unit of the model serves the API of that protocol name.
func (m *Model) Speaks(protocol string) bool {
	for a := api(0); a < numAPIs; a++ {
		if apiNames[a] == protocol {
			return m.apis.has(a)
		}
	}
	return false
}

// The model table. Counts and ratings are the manufacturers' (and the model table of the exporter,
// exporter/dialect/models.go); firmware strings come from the captures in testdata/.
var models = []*Model{
	{Key: "s19jpro", Name: "Antminer S19j Pro", Firmware: "stock", fam: famBitmain, apis: withWeb, Boards: 3, Chips: 126, Fans: 4,
		NominalGHS: 104000, Power: 3068, ChipTemp: 71, PCBTemp: 62, FanRPM: 5400, Diff: 65536,
		Description: "cgminer 1.0.0"},
	{Key: "s9", Name: "Antminer S9", Firmware: "stock", fam: famBitmainS9, apis: withWeb, Boards: 3, Chips: 63, Fans: 2,
		NominalGHS: 13500, Power: 1323, ChipTemp: 74, PCBTemp: 58, FanRPM: 4800, Diff: 8192,
		Description: "bmminer 1.0.0"},
	{Key: "m30s", Name: "Whatsminer M30S", Firmware: "stock", fam: famWhatsminer, apis: legacyOnly, Boards: 3, Chips: 156, Fans: 2,
		NominalGHS: 86000, Power: 3268, ChipTemp: 84, PCBTemp: 72, FanRPM: 5200, Diff: 65536,
		Description: "cgminer 4.9.2"},
	{Key: "bos", Name: "Antminer S19", Firmware: "braiins", fam: famBraiins, apis: legacyOnly, Boards: 3, Chips: 76, Fans: 4,
		NominalGHS: 95000, Power: 3250, ChipTemp: 70, PCBTemp: 58, FanRPM: 4700, Diff: 65536,
		Description: "BOSer boser-buildroot 0.1.0-75912fc7"},
	{Key: "avalon1047", Name: "Avalon 1047", Firmware: "stock", fam: famAvalon, apis: legacyOnly, Boards: 2, Chips: 120, Fans: 2,
		NominalGHS: 37000, Power: 2380, ChipTemp: 64, PCBTemp: 57, FanRPM: 2900, Diff: 32768,
		Description: "cgminer 4.11.1"},
	{Key: "vnish", Name: "Antminer S19", Firmware: "vnish", fam: famVNish, apis: legacyOnly, Boards: 3, Chips: 76, Fans: 4,
		NominalGHS: 95000, Power: 3250, ChipTemp: 76, PCBTemp: 63, FanRPM: 5600, Diff: 65536,
		Description: "cgminer 4.11.1"},
	{Key: "luxos", Name: "Antminer S19k Pro", Firmware: "luxos", fam: famLuxOS, apis: legacyOnly, Boards: 3, Chips: 77, Fans: 4,
		NominalGHS: 120000, Power: 2760, ChipTemp: 66, PCBTemp: 52, FanRPM: 4300, Diff: 32768,
		Description: "LUXminer 2025.4.8.220305-57b389c7"},
	// API v3 only: the legacy port is gone on MicroBT firmware from late 2024 on. Identity, boards
	// and readings follow the M60S_VK40 captures in testdata/whatsminer-v3 (3 boards, factory
	// 181 TH/s, PSU P221B); 225 chips per board is the VK40's count (pyasic's model table). Its
	// three fans are the intake, the exhaust and the power supply's (get.device.info power).
	{Key: "m60s", Name: "Whatsminer M60S", Firmware: "stock", fam: famWhatsminerV3, apis: v3Only, Boards: 3, Chips: 225, Fans: 3,
		NominalGHS: 181000, Power: 3320, ChipTemp: 78, PCBTemp: 60, FanRPM: 5400, Diff: 65536,
		Description: "btminer 20251209.16.Rel2"},
}

// whatsminer reports whether the model runs MicroBT's firmware (legacy btminer or API v3).
func (m *Model) whatsminer() bool { return m.fam == famWhatsminer || m.fam == famWhatsminerV3 }

// ModelKeys lists the --models keys.
func ModelKeys() []string {
	out := make([]string, len(models))
	for i, m := range models {
		out[i] = m.Key
	}
	return out
}

// LookupModel returns the model of that key.
func LookupModel(key string) (*Model, bool) {
	for _, m := range models {
		if m.Key == key {
			return m, true
		}
	}
	return nil, false
}

// Share is one entry of the model mix.
type Share struct {
	Model  *Model
	Weight int
}

// DefaultMix has every model.
const DefaultMix = "s19jpro=40,s9=15,m30s=15,bos=10,vnish=10,luxos=5,avalon1047=5"

// ParseMix reads a mix such as "s19jpro=60,s9=20,m30s=10,bos=10". Weights are relative.
func ParseMix(s string) ([]Share, error) {
	var out []Share
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, w, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("model mix entry %q: want key=weight", part)
		}
		m, found := LookupModel(strings.TrimSpace(key))
		if !found {
			return nil, fmt.Errorf("model mix entry %q: unknown model %q (known: %s)", part, key, strings.Join(ModelKeys(), ", "))
		}
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("model mix entry %q: weight must be a whole number ≥ 0", part)
		}
		if seen[m.Key] {
			return nil, fmt.Errorf("model mix: %q given twice", m.Key)
		}
		seen[m.Key] = true
		if n > 0 {
			out = append(out, Share{Model: m, Weight: n})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("model mix %q has no model with a weight above 0", s)
	}
	return out, nil
}

// apportion splits n miners over the mix by largest remainder, so the counts add up to n.
func apportion(mix []Share, n int) []int {
	total := 0
	for _, s := range mix {
		total += s.Weight
	}
	counts := make([]int, len(mix))
	type rem struct {
		i int
		r int
	}
	rems := make([]rem, len(mix))
	assigned := 0
	for i, s := range mix {
		counts[i] = n * s.Weight / total
		assigned += counts[i]
		rems[i] = rem{i, n * s.Weight % total}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for k := 0; assigned < n; k++ {
		counts[rems[k%len(rems)].i]++
		assigned++
	}
	return counts
}
