package dialect

import (
	"regexp"
	"strings"

	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// Model is what the model table knows of one model: what a healthy unit has. Zero means unknown.
type Model struct {
	Name          string  // canonical name, as cgminer_info's model label
	Boards        int     // hashboards
	ChipsPerBoard int     // ASIC chips per hashboard
	Fans          int     // fans the firmware reports
	Nominal       float64 // H/s, for firmware that does not report its ideal hashrate
	// GHSIsMHS marks Bitmain's scrypt, X11 and Ethash models, whose "GHS" fields hold MH/s.
	GHSIsMHS bool
}

const (
	th = 1e12
	gh = 1e9
	mh = 1e6
)

// models is the table. Counts come from the manufacturers' specifications and the miners' own
// replies in testdata (chain_acn of healthy units); nominal hashrates are the stock ratings.
var models = []Model{
	{Name: "Antminer S9", Boards: 3, ChipsPerBoard: 63, Fans: 2, Nominal: 13.5 * th},
	{Name: "Antminer S9i", Boards: 3, ChipsPerBoard: 63, Fans: 2, Nominal: 14 * th},
	{Name: "Antminer S9j", Boards: 3, ChipsPerBoard: 63, Fans: 2, Nominal: 14.5 * th},
	{Name: "Antminer S9k", Boards: 3, ChipsPerBoard: 60, Fans: 2, Nominal: 13.5 * th},
	{Name: "Antminer S9 Pro", Boards: 3, ChipsPerBoard: 63, Fans: 2, Nominal: 14 * th},
	{Name: "Antminer T9+", Boards: 3, ChipsPerBoard: 54, Fans: 2, Nominal: 10.5 * th},
	{Name: "Antminer S17", Boards: 3, ChipsPerBoard: 48, Fans: 4, Nominal: 56 * th},
	{Name: "Antminer S17 Pro", Boards: 3, ChipsPerBoard: 48, Fans: 4, Nominal: 53 * th},
	{Name: "Antminer S17+", Boards: 3, ChipsPerBoard: 65, Fans: 4, Nominal: 73 * th},
	{Name: "Antminer T17", Boards: 3, ChipsPerBoard: 30, Fans: 4, Nominal: 40 * th},
	{Name: "Antminer T17+", Boards: 3, ChipsPerBoard: 44, Fans: 4, Nominal: 64 * th},
	{Name: "Antminer S19", Boards: 3, ChipsPerBoard: 76, Fans: 4, Nominal: 95 * th},
	{Name: "Antminer S19 Pro", Boards: 3, ChipsPerBoard: 114, Fans: 4, Nominal: 110 * th},
	{Name: "Antminer S19j", Boards: 3, ChipsPerBoard: 114, Fans: 4, Nominal: 90 * th},
	{Name: "Antminer S19j Pro", Boards: 3, ChipsPerBoard: 126, Fans: 4, Nominal: 100 * th},
	{Name: "Antminer S19k Pro", Boards: 3, ChipsPerBoard: 77, Fans: 4, Nominal: 120 * th},
	{Name: "Antminer S19 XP", Boards: 3, ChipsPerBoard: 110, Fans: 4, Nominal: 140 * th},
	{Name: "Antminer T19", Boards: 3, ChipsPerBoard: 76, Fans: 4, Nominal: 84 * th},
	{Name: "Antminer S21", Boards: 3, ChipsPerBoard: 108, Fans: 4, Nominal: 200 * th},
	{Name: "Antminer L3+", Boards: 4, ChipsPerBoard: 72, Fans: 2, Nominal: 504 * mh, GHSIsMHS: true},
	{Name: "Antminer L3", Boards: 4, ChipsPerBoard: 72, Fans: 2, Nominal: 250 * mh, GHSIsMHS: true},
	{Name: "Antminer D3", Boards: 3, ChipsPerBoard: 60, Fans: 2, Nominal: 19.3 * gh, GHSIsMHS: true},
	{Name: "Antminer E3", Fans: 2, Nominal: 190 * mh, GHSIsMHS: true},
	{Name: "Whatsminer M20S", Boards: 3, Fans: 2, Nominal: 68 * th},
	{Name: "Whatsminer M30S", Boards: 3, ChipsPerBoard: 156, Fans: 2, Nominal: 86 * th}, // 156 effective chips: whatsminer-m30s_edevs capture
	{Name: "Whatsminer M30S+", Boards: 3, Fans: 2, Nominal: 100 * th},
	{Name: "Whatsminer M30S++", Boards: 3, Fans: 2, Nominal: 112 * th},
	// "board-num": "3" in the M60S VK40 API v3 capture; it reports its factory hashrate itself,
	// chips per board vary by bin (set expect.chips_per_board per module), and whether the PSU
	// fan is reported besides fan-speed-in/out depends on the PSU, so fans are left open.
	{Name: "Whatsminer M60S", Boards: 3},
	{Name: "Whatsminer M31S", Boards: 3, Fans: 2, Nominal: 74 * th},
	{Name: "Whatsminer M31S+", Boards: 3, Fans: 2, Nominal: 80 * th},
	{Name: "Avalon 1047", Boards: 2, ChipsPerBoard: 120, Fans: 2, Nominal: 37 * th},
	{Name: "Avalon 1066", Boards: 3, ChipsPerBoard: 120, Fans: 2, Nominal: 50 * th},
}

var modelIndex = func() map[string]*Model {
	m := make(map[string]*Model, len(models))
	for i := range models {
		m[modelKey(models[i].Name)] = &models[i]
	}
	return m
}()

// modelKey compares model names ignoring case and spacing: Hiveon writes "Antminer S19JPRO".
func modelKey(name string) string { return strings.Join(strings.Fields(strings.ToLower(name)), "") }

// LookupModel finds a model by its canonical name, ignoring case and spacing.
func LookupModel(name string) (Model, bool) {
	if len(name) > maxModelName {
		return Model{}, false // no model's name is that long; a miner's Type can be
	}
	if m, ok := modelIndex[modelKey(name)]; ok {
		return *m, true
	}
	return Model{}, false
}

// unitsFor returns the units a model's fields are in.
func unitsFor(model string) units {
	if m, ok := LookupModel(model); ok && m.GHSIsMHS {
		return units{ghs: 1e6}
	}
	return defaultUnits
}

// maxModelName bounds the length of a name LookupModel compares: the table's longest is 20 bytes.
const maxModelName = 64

// maxModelWords bounds the words of a model name as firmware writes it: the table's longest has 3,
// and Hiveon's spacing can split one into a few more.
const maxModelWords = 8

var typeSuffix = regexp.MustCompile(`\s*\(([^)]*)\)\s*$`)

var stockVersion = regexp.MustCompile(`^v?\d+(\.\d+)+$`)

// splitType separates Bitmain's Type into the model and the firmware decoration:
// "Antminer S19 XP (Vnish 1.2.0-rc1)" → ("Antminer S19 XP", "vnish"); "Antminer S9 Hiveon" →
// ("Antminer S9", "hiveon"); "Antminer L3+ (024)" → ("Antminer L3+", ""); "braiins-am1-s9" →
// ("Antminer S9", "braiins").
func splitType(t string) (model, firmware string) {
	t = strings.TrimSpace(t)
	if strings.HasPrefix(strings.ToLower(t), "braiins-am1-") {
		return "Antminer " + strings.ToUpper(strings.TrimPrefix(strings.ToLower(t), "braiins-am1-")), "braiins"
	}
	if m := typeSuffix.FindStringSubmatch(t); m != nil {
		t = strings.TrimSpace(t[:len(t)-len(m[0])])
		suffix := strings.ToLower(m[1])
		for _, fw := range []string{"vnish", "hiveon", "asicseer", "braiins", "luxos", "mskminer"} {
			if strings.Contains(suffix, fw) {
				firmware = fw
			}
		}
	}
	// Words after the model name ("Antminer S9 Hiveon", "Antminer D3 Blissz v2.06 beta"): keep the
	// longest prefix the model table knows, and read the rest as the firmware.
	if _, known := LookupModel(t); !known {
		fields := strings.Fields(t)
		// No model name has more than maxModelWords words: longer prefixes are not tried, so a
		// Type of thousands of words costs one pass, not one per word.
		for n := min(len(fields)-1, maxModelWords); n >= 2; n-- {
			if _, ok := LookupModel(strings.Join(fields[:n], " ")); ok {
				rest := strings.ToLower(strings.Join(fields[n:], " "))
				if m, ok := LookupModel(strings.Join(fields[:n], " ")); ok {
					t = m.Name
				}
				if stockVersion.MatchString(rest) {
					break // "Antminer S9 V1.3.58": Bitmain's own firmware version
				}
				for _, fw := range []string{"hiveon", "blissz", "vnish", "asicseer", "braiins", "luxos", "mskminer"} {
					if strings.Contains(rest, fw) {
						firmware = fw
					}
				}
				if firmware == "" {
					firmware = "custom"
				}
				break
			}
		}
	}
	return t, firmware
}

var whatsminerVariant = regexp.MustCompile(`(?i)^(M\d+[A-Z]*\+*)(V[A-Z]\d+)?$`)

// whatsminerModel turns devdetails' "M30S+VE40" into "Whatsminer M30S+".
func whatsminerModel(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if m := whatsminerVariant.FindStringSubmatch(strings.ReplaceAll(s, "_", "")); m != nil {
		return "Whatsminer " + strings.ToUpper(m[1])
	}
	if strings.HasPrefix(strings.ToLower(s), "whatsminer") {
		return s
	}
	return "Whatsminer " + s
}

// applyModel fills from the model table what the miner did not report.
func applyModel(s *miner.Snapshot) {
	defer fillBoardNominal(s)
	m, ok := LookupModel(s.Model)
	if !ok {
		return
	}
	s.Model = m.Name
	if !s.BoardsExpected.Set && m.Boards > 0 {
		s.BoardsExpected = miner.Some(float64(m.Boards))
	}
	if !s.FansExpected.Set && m.Fans > 0 {
		s.FansExpected = miner.Some(float64(m.Fans))
	}
	if !s.HashrateNominal.Set && m.Nominal > 0 {
		s.HashrateNominal = miner.Some(m.Nominal)
	}
	for i := range s.Boards {
		b := &s.Boards[i]
		if !b.ChipsExpected.Set && m.ChipsPerBoard > 0 {
			b.ChipsExpected = miner.Some(float64(m.ChipsPerBoard))
		}
	}
	fillBoardNominal(s)
}

// fillBoardNominal spreads the miner's nominal hashrate over its boards when the firmware gives
// no per-board ideal, so that a degraded board can be told from a healthy one on every family.
func fillBoardNominal(s *miner.Snapshot) {
	if !s.HashrateNominal.Set || !s.BoardsExpected.Set || s.BoardsExpected.V <= 0 {
		return
	}
	per := s.HashrateNominal.V / s.BoardsExpected.V
	for i := range s.Boards {
		if b := &s.Boards[i]; b.Present && !b.HashrateNominal.Set {
			b.HashrateNominal = miner.Some(per)
		}
	}
}
