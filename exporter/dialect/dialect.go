// Package dialect reads the replies of one firmware family into a normalised miner.Snapshot.
//
// Identify looks at version, stats, devdetails and summary to tell which family answered; Read
// maps that family's fields onto the snapshot: hashrates in H/s, boards in slot order, chips,
// temperatures, fans, power, pools, identity. Each family's peculiarities live in its own file;
// the parts every cgminer-style API shares (summary counters, pools, devs) live here.
package dialect

import (
	"strings"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// Family is one firmware family's way of answering the API.
type Family struct {
	// Name is what the config's `dialect:` and debug output call it.
	Name string
	// Extra are the commands this family answers beyond the base set and that Read uses.
	Extra []cgminer.Command
	read  func(r replies, s *miner.Snapshot)
}

// Base are the commands sent to a miner whose family is not known yet. Every family answers
// them (or refuses one cleanly), and they are enough to identify the family.
var Base = []cgminer.Command{cgminer.Version, cgminer.Summary, cgminer.Pools, cgminer.Stats, cgminer.Devs, cgminer.DevDetails}

// The families, in the order Identify tries them.
var (
	// LuxOS spoofs stock identity in version; its LUXminer key must be checked before Antminer's.
	LuxOS      = &Family{Name: "luxos", Extra: []cgminer.Command{cgminer.Temps, cgminer.Fans, cgminer.Power, cgminer.Events}, read: readLuxOS}
	Braiins    = &Family{Name: "braiins", Extra: []cgminer.Command{cgminer.Temps, cgminer.Fans, cgminer.TunerStatus}, read: readBraiins}
	Whatsminer = &Family{Name: "whatsminer", Extra: []cgminer.Command{cgminer.EDevs, cgminer.BTStatus, cgminer.GetErrorCode}, read: readWhatsminer}
	Avalon     = &Family{Name: "avalon", Extra: []cgminer.Command{cgminer.EStats}, read: readAvalon}
	Antminer   = &Family{Name: "antminer", read: readAntminer}
	Generic    = &Family{Name: "cgminer", read: readGeneric}
)

// Families lists every family by name, for config validation and ByName.
var Families = []*Family{LuxOS, Braiins, Whatsminer, Avalon, Antminer, Generic}

// ByName returns the family of a config's `dialect:` value ("auto" and "" return nil).
func ByName(name string) (*Family, bool) {
	for _, f := range Families {
		if f.Name == name {
			return f, true
		}
	}
	return nil, name == "" || name == "auto"
}

// Commands is the full set of commands to send to a miner of this family.
func (f *Family) Commands() []cgminer.Command {
	out := append([]cgminer.Command(nil), Base...)
	for _, c := range f.Extra {
		if !hasCommand(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func hasCommand(cs []cgminer.Command, c cgminer.Command) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// replies gives the dialects typed access to a probe's successful replies, and the limits that
// bound every list they read from them: a loop or a slice is sized by the members the miner
// actually sent, never by a number or key it sent, and stops at the limit.
type replies struct {
	res *cgminer.Result
	lim miner.Limits
}

func (r replies) get(c cgminer.Command) *cgminer.Reply {
	if r.res == nil {
		return nil
	}
	return r.res.Reply(c)
}

// first returns the first object of a command's section, or null.
func (r replies) first(c cgminer.Command, section string) cgminer.Value {
	if rep := r.get(c); rep != nil {
		return rep.First(section)
	}
	return cgminer.Value{}
}

func (r replies) section(c cgminer.Command, section string) []cgminer.Value {
	if rep := r.get(c); rep != nil {
		return rep.Section(section)
	}
	return nil
}

// description is the STATUS Description of the first reply that has one ("cgminer 4.11.1",
// "BOSminer 0.2.0-d360818", "LUXminer 2025.4.8…", "whatsminer v1.4.0").
func (r replies) description(cmds ...cgminer.Command) string {
	for _, c := range cmds {
		if rep := r.get(c); rep != nil {
			for _, st := range rep.Status {
				if st.Description != "" {
					return st.Description
				}
			}
		}
	}
	return ""
}

// identity is the object that names the software: VERSION[0], else the first STATS entry that
// carries Type or a software key (Bitmain's STATS[0] version block).
func (r replies) identity() cgminer.Value {
	if v := r.first(cgminer.Version, "VERSION"); v.Kind() == cgminer.Object {
		return v
	}
	for _, s := range r.section(cgminer.Stats, "STATS") {
		if _, ok := s.Lookup("Type"); ok {
			return s
		}
	}
	return cgminer.Value{}
}

// statsType is the Type of Bitmain's stats version block, which VNish and Hiveon decorate and
// which some firmware leaves out of `version`.
func (r replies) statsType() string {
	for _, s := range r.section(cgminer.Stats, "STATS") {
		if t := s.StrKey("Type"); t != "" {
			return t
		}
	}
	return r.identity().StrKey("Type")
}

// Identify tells which family answered. It never fails: a reply it cannot place is Generic.
func Identify(res *cgminer.Result) *Family {
	r := replies{res: res}
	id := r.identity()
	desc := strings.ToLower(r.description(cgminer.Version, cgminer.Summary, cgminer.Stats, cgminer.Devs, cgminer.Pools))
	has := func(key string) bool { _, ok := id.Lookup(key); return ok }

	switch {
	case has("LUXminer") || strings.HasPrefix(desc, "luxminer"):
		return LuxOS
	case has("BOSminer") || has("BOSminer+") || has("BOSer") || strings.HasPrefix(desc, "bosminer") ||
		strings.HasPrefix(desc, "boser") || strings.HasPrefix(strings.ToLower(id.StrKey("Type")), "braiins") ||
		strings.HasPrefix(strings.ToLower(id.StrKey("BMMiner")), "bos_"):
		return Braiins
	case isWhatsminer(r, desc):
		return Whatsminer
	case isAvalon(r, id):
		return Avalon
	case strings.HasPrefix(strings.ToLower(r.statsType()), "antminer") || has("BMMiner") ||
		strings.HasPrefix(desc, "bmminer") || hasChains(r):
		return Antminer
	}
	return Generic
}

func isWhatsminer(r replies, desc string) bool {
	if strings.Contains(desc, "whatsminer") || strings.Contains(strings.ToLower(r.description(cgminer.GetVersion, cgminer.BTStatus)), "whatsminer") {
		return true
	}
	sum := r.first(cgminer.Summary, "SUMMARY")
	for _, k := range []string{"Factory GHS", "Power_RT", "Fan Speed In", "Chip Data"} {
		if _, ok := sum.Lookup(k); ok {
			return true
		}
	}
	// btminer's devs entries are hashboard slots with fan and chip fields no other fork has.
	for _, c := range []cgminer.Command{cgminer.Devs, cgminer.EDevs} {
		d := r.first(c, "DEVS")
		if _, ok := d.Lookup("Effective Chips"); ok {
			return true
		}
		if _, ok := d.Lookup("Fan Speed In"); ok {
			return true
		}
	}
	if strings.HasPrefix(strings.ToUpper(r.first(cgminer.DevDetails, "DEVDETAILS").StrKey("Model")), "M") &&
		r.first(cgminer.DevDetails, "DEVDETAILS").StrKey("Driver") == "bitmicro" {
		return true
	}
	return false
}

func isAvalon(r replies, id cgminer.Value) bool {
	if strings.Contains(strings.ToLower(id.StrKey("PROD")), "avalon") {
		return true
	}
	for _, c := range []cgminer.Command{cgminer.Stats, cgminer.EStats} {
		for _, s := range r.section(c, "STATS") {
			for _, m := range s.Members() {
				if strings.HasPrefix(m.Key, "MM ID") {
					return true
				}
			}
			if strings.HasPrefix(s.StrKey("ID"), "AVA") {
				return true
			}
		}
	}
	return false
}

// hasChains reports Bitmain-style chain keys in stats (vendor forks that leave out Type).
func hasChains(r replies) bool {
	for _, s := range r.section(cgminer.Stats, "STATS") {
		if _, ok := s.Lookup("chain_acn1"); ok {
			return true
		}
		if _, ok := s.Lookup("chain_rate1"); ok {
			return true
		}
	}
	return false
}

// Read maps a probe's replies onto a snapshot with the given family (Identify's when nil), then
// fills in what the model table knows and the miner did not say, and marks the firmware's fee
// pools by DefaultFeePools (Expect.Apply marks them again by the configured ones).
func Read(res *cgminer.Result, f *Family) miner.Snapshot {
	return ReadLimited(res, f, miner.DefaultLimits)
}

// ReadLimited is Read within a module's limits: lists stop at their limit (Snapshot.Truncated
// names each that did) and every reading goes through miner.Snapshot.Sanitize before the model
// table fills in what is absent, so an implausible reading is replaced by the model's value where
// the table has one.
func ReadLimited(res *cgminer.Result, f *Family, lim miner.Limits) miner.Snapshot {
	if f == nil {
		f = Identify(res)
	}
	lim = lim.OrDefault()
	r := replies{res: res, lim: lim}
	s := miner.Snapshot{Family: f.Name}
	f.read(r, &s)
	if s.Software == "" {
		s.Software = softwareFromDescription(r.description(cgminer.Version, cgminer.Summary))
	}
	s.Sanitize(lim)
	applyModel(&s)
	defaultFeePools.Mark(&s)
	return s
}
