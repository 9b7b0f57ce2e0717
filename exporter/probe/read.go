package probe

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/inventory"
	"github.com/minefarm/cgminer-stack/exporter/miner"
	"github.com/minefarm/cgminer-stack/exporter/wm3"
)

// Querier asks a miner cgminer API commands; *cgminer.Client is the real one.
type Querier interface {
	QueryAll(ctx context.Context, addr string, cmds []cgminer.Command, o cgminer.Options) *cgminer.Result
}

// Mode says how much a Reader asks.
type Mode int

const (
	// Full reads everything a probe exports.
	Full Mode = iota
	// Identify asks what identifying the miner needs (family, model, firmware, serial, MAC), the
	// module's commands and dialect notwithstanding: discovery's look at a miner that answered.
	Identify
	// Ping sends the cheapest request that tells whether the protocol answers: discovery's first
	// contact with an address.
	Ping
)

// Query is what a Reader is asked to do.
type Query struct {
	Mode       Mode
	Module     *config.Module
	ModuleName string
	// Family is the family the inventory knows for the miner (nil: unknown); a module's dialect
	// overrides it.
	Family *dialect.Family
	// NoJoin: the firmware refused a joined request lately, so its commands go one by one.
	NoJoin  bool
	KeepRaw bool
	Logger  *slog.Logger

	// For the Prober (discovery sets them; a probe's deadline covers every protocol it tries):
	// Pace is called before each protocol after the first (each is a new connection, which a
	// scan's rate limit counts); AttemptTimeout bounds each protocol's attempt (0: none beyond
	// ctx's); At is the time recorded in the inventory (zero: now).
	Pace           func(context.Context) error
	AttemptTimeout time.Duration
	At             time.Time
}

// Reading is what one Reader learned from one miner.
type Reading struct {
	// Exchanges are the requests and replies as they crossed the wire (debug output).
	Exchanges []cgminer.Exchange
	// Commands maps each command asked to whether it answered (cgminer_command_success).
	Commands map[string]bool
	// Answered: the protocol answered (a reply in its format came back, an error reply too).
	Answered bool
	// Err is why there is no snapshot (a Ping has none: Answered says how it went).
	Err error
	// Family read the replies; Identified says it was identified from them (not the module's
	// dialect), so the inventory may learn it.
	Family     *dialect.Family
	Identified bool
	Snapshot   *miner.Snapshot
	// JoinRefused: the firmware refused a joined request (the inventory remembers it).
	JoinRefused bool
	// Result is the cgminer API result (nil for another protocol).
	Result *cgminer.Result
}

// Reason is why the reading failed ("" when it did not).
func (r *Reading) Reason() cgminer.Reason { return cgminer.ReasonOf(r.Err) }

// A Reader reads a miner over one protocol. It holds nothing about miners: what it learns goes
// back in the Reading, and the Prober keeps it in the inventory.
type Reader interface {
	Read(ctx context.Context, addr string, q Query) *Reading
}

// CGMiner reads miners over the cgminer API (TCP 4028).
func CGMiner(q Querier) Reader { return cgminerReader{q} }

type cgminerReader struct{ client Querier }

func (r cgminerReader) Read(ctx context.Context, addr string, q Query) *Reading {
	mod := q.Module
	logger := q.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := cgminer.Options{Join: mod.JoinCommands() && !q.NoJoin, KeepRaw: q.KeepRaw, MaxReplyBytes: mod.MaxReplyBytes}
	if q.Mode == Ping {
		res := r.client.QueryAll(ctx, addr, []cgminer.Command{cgminer.Version}, o)
		return &Reading{Exchanges: res.Exchanges, Commands: commandsOf(res, nil), Answered: res.Replies["version"] != nil, Err: res.Err(), Result: res}
	}
	forced, custom := mod.Family(), len(mod.Commands) > 0
	if q.Mode == Identify {
		forced, custom = nil, false
	}
	fam := forced
	if fam == nil {
		fam = q.Family
	}
	var cmds []cgminer.Command
	switch {
	case custom:
		cmds = mod.Commands
	case fam != nil && q.Mode == Full:
		cmds = fam.Commands()
	default:
		cmds = dialect.Base
	}
	res := r.client.QueryAll(ctx, addr, cmds, o)
	rd := &Reading{Result: res, JoinRefused: res.JoinRefused}
	if res.Err() == nil && !custom && forced == nil {
		// The one identification there is: every probe checks the family from its replies, and
		// discovery's Identify is this same path.
		found := dialect.Identify(res)
		if fam != found && q.Mode == Full {
			if extra := missing(found.Commands(), cmds); len(extra) > 0 && ctx.Err() == nil {
				o.Join = o.Join && !res.JoinRefused
				more := r.client.QueryAll(ctx, addr, extra, o)
				merge(res, more)
				rd.JoinRefused = rd.JoinRefused || more.JoinRefused
			}
		}
		fam, rd.Identified = found, true
	}
	rd.Exchanges, rd.Commands, rd.Family = res.Exchanges, commandsOf(res, cmds), fam
	rd.Answered = len(res.Replies) > 0
	if rd.Err = res.Err(); rd.Err != nil {
		return rd
	}
	for name, e := range res.Errors {
		logger.Debug("command failed", "target", addr, "command", name, "err", e)
	}
	for _, rep := range res.Replies {
		if rep.Repairs != 0 {
			logger.Debug("repaired malformed reply", "target", addr, "command", rep.Command, "repairs", rep.Repairs.String())
		}
	}
	snap := dialect.ReadLimited(res, fam, mod.ReadLimits())
	rd.Snapshot = &snap
	return rd
}

// commandsOf maps the commands asked, and every command answered, to whether it succeeded.
func commandsOf(res *cgminer.Result, asked []cgminer.Command) map[string]bool {
	m := make(map[string]bool, len(asked)+len(res.Replies))
	for _, c := range asked {
		m[c.String()] = false
	}
	for name, rep := range res.Replies {
		m[name] = rep.OK()
	}
	return m
}

func missing(want, have []cgminer.Command) []cgminer.Command {
	var out []cgminer.Command
	for _, c := range want {
		found := false
		for _, h := range have {
			if h == c {
				found = true
				break
			}
		}
		if !found {
			out = append(out, c)
		}
	}
	return out
}

func merge(dst, src *cgminer.Result) {
	for k, v := range src.Replies {
		dst.Replies[k] = v
	}
	for k, v := range src.Errors {
		dst.Errors[k] = v
	}
	dst.Exchanges = append(dst.Exchanges, src.Exchanges...)
}

// joinRefusal is how long a firmware's refusal of a joined request is remembered.
const joinRefusalTTL = time.Hour

// Prober reads miners for the probe handler and for discovery alike: it picks the protocol per
// miner, asks that protocol's Reader, and keeps what it learned in the inventory, the one memory
// of every miner. A probe of a known miner goes straight to the protocol, port and family that
// answered before.
type Prober struct {
	readers map[string]Reader
	web     WebReader // nil: no web APIs (WithWeb)
	inv     *inventory.Inventory
	now     func() time.Time
}

// NewProber reads with readers, by protocol (config.ProtocolCGMiner, config.ProtocolWhatsminerV3;
// a protocol without a Reader is never tried), and keeps what it learns in inv.
func NewProber(inv *inventory.Inventory, readers map[string]Reader) *Prober {
	return &Prober{readers: readers, inv: inv, now: time.Now}
}

// Inventory is the inventory the Prober keeps.
func (p *Prober) Inventory() *inventory.Inventory { return p.inv }

// Attempt is one protocol tried on one address.
type Attempt struct {
	Protocol string
	Addr     string // host:port dialled
	Reading  *Reading
}

// Answer is the outcome of Prober.Read.
type Answer struct {
	// Reading is the attempt that counts: the one that answered, else the one that got furthest
	// (a refused fallback does not hide why the first protocol failed).
	Reading  *Reading
	Protocol string
	Addr     string
	// Attempts are every protocol tried, in order.
	Attempts []Attempt
	// Known: the inventory knew the miner when the read began.
	Known bool
	// Web is the web step of a full read whose main protocol answered, for a module with a web
	// block (nil otherwise).
	Web *WebReading
}

// Exchanges are every attempt's exchanges, in order, then the web step's.
func (a *Answer) Exchanges() []cgminer.Exchange {
	web := a.Web != nil && a.Web.Result != nil
	if len(a.Attempts) == 1 && !web {
		return a.Attempts[0].Reading.Exchanges
	}
	var out []cgminer.Exchange
	for _, at := range a.Attempts {
		out = append(out, at.Reading.Exchanges...)
	}
	if web {
		out = append(out, a.Web.Result.Exchanges...)
	}
	return out
}

// Read reads the miner at target (host:port, already checked against the config) as q says,
// trying the protocols Plan lists in order: the next only when the one before was refused, or
// what answered is not that protocol. A miner that answered is recorded in the inventory
// (created when new: only an answer creates a record); one that did not leaves no trace.
func (p *Prober) Read(ctx context.Context, cfg *config.Config, target string, mod *config.Module, q Query) *Answer {
	now := q.At
	if now.IsZero() {
		now = p.now()
	}
	rec, known := p.inv.Get(target)
	ans := &Answer{Known: known}
	for _, st := range p.Plan(cfg, target, mod, rec, known) {
		if len(ans.Attempts) > 0 {
			last := ans.Attempts[len(ans.Attempts)-1].Reading
			if last.Answered || !fallback(last.Reason()) || ctx.Err() != nil {
				break
			}
			if q.Pace != nil && q.Pace(ctx) != nil {
				break
			}
		}
		qq := q
		if known && rec.Protocol == st.Protocol {
			qq.Family, _ = dialect.ByName(rec.Family)
			qq.NoJoin = rec.NoJoin(now)
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if q.AttemptTimeout > 0 {
			actx, cancel = context.WithTimeout(ctx, q.AttemptTimeout)
		}
		rd := p.readers[st.Protocol].Read(actx, st.Addr, qq)
		cancel()
		ans.Attempts = append(ans.Attempts, Attempt{Protocol: st.Protocol, Addr: st.Addr, Reading: rd})
	}
	if len(ans.Attempts) == 0 { // no Reader for the module's protocol
		rd := &Reading{Err: &cgminer.Error{Reason: ReasonNoProtocol, Err: errNoReader(mod.Protocol)}, Commands: map[string]bool{}}
		ans.Attempts = append(ans.Attempts, Attempt{Protocol: mod.Protocol, Addr: target, Reading: rd})
	}
	chosen := ans.Attempts[0]
	for _, at := range ans.Attempts[1:] {
		if at.Reading.Reason() != cgminer.ReasonRefused {
			chosen = at
		}
	}
	ans.Reading, ans.Protocol, ans.Addr = chosen.Reading, chosen.Protocol, chosen.Addr
	rd := chosen.Reading
	if q.Mode == Full && rd.Err == nil && rd.Snapshot != nil && mod.Web != nil && p.web != nil && ctx.Err() == nil {
		// Alongside, never instead: what the web API says is added to the reading, and its
		// failure leaves the reading as it is.
		ans.Web = p.readWeb(ctx, cfg, target, mod, rd, q, now)
	}
	if (q.Mode == Ping && rd.Answered) || (q.Mode != Ping && rd.Err == nil) {
		p.record(target, ans, now)
		p.keepToken(target, ans.Web)
	}
	return ans
}

// ReasonNoProtocol is a module whose protocol has no client in this build.
const ReasonNoProtocol cgminer.Reason = "protocol_unavailable"

type errNoReader string

func (e errNoReader) Error() string { return "no client for protocol " + string(e) }

// fallback reports whether a failure means "not this protocol here" (try the next), rather than
// "the miner does not answer now" (a timeout: trying another port would only double the wait).
func fallback(r cgminer.Reason) bool {
	switch r {
	case cgminer.ReasonRefused, cgminer.ReasonNotAPI, cgminer.ReasonEmpty, wm3.ReasonNotV3:
		return true
	}
	return false
}

func (p *Prober) record(target string, ans *Answer, now time.Time) {
	rd := ans.Reading
	f := inventory.Facts{Protocol: ans.Protocol}
	if _, port, err := net.SplitHostPort(ans.Addr); err == nil {
		f.Port, _ = strconv.Atoi(port)
	}
	switch {
	case !rd.Identified:
	case rd.Family != nil:
		f.Family = rd.Family.Name
	case rd.Snapshot != nil: // a protocol with one family of its own (Whatsminer API v3)
		f.Family = rd.Snapshot.Family
	}
	if s := rd.Snapshot; s != nil {
		f.Model, f.Firmware, f.Serial, f.MAC = s.Model, s.Firmware, s.Serial, s.MAC
	}
	if rd.JoinRefused {
		f.NoJoinUntil = now.Add(joinRefusalTTL)
	}
	p.inv.Observe(target, f, now)
}

// Step is one protocol to try, at the address to dial.
type Step struct {
	Protocol string
	Addr     string
}

// Plan lists the protocols to try for target under mod, in order:
//
//   - protocol cgminer or whatsminer-v3: that protocol on the target's port, alone;
//   - auto, a target naming the Whatsminer API v3 port (4433, when it is not the module's own
//     port): API v3 alone;
//   - auto, a miner the inventory knows: the protocol that answered it last first, the other
//     after;
//   - auto, otherwise: the cgminer API on the target's port, then API v3 on 4433 of the same IP.
//
// A protocol without a Reader, or whose port the config does not allow for mod, is left out.
func (p *Prober) Plan(cfg *config.Config, target string, mod *config.Module, rec inventory.Record, known bool) []Step {
	host, portText, err := net.SplitHostPort(target)
	if err != nil {
		return nil
	}
	port, _ := strconv.Atoi(portText)
	cg := Step{config.ProtocolCGMiner, target}
	v3 := Step{config.ProtocolWhatsminerV3, net.JoinHostPort(host, strconv.Itoa(config.WhatsminerV3Port))}
	var steps []Step
	switch {
	case mod.Protocol == config.ProtocolCGMiner:
		steps = []Step{cg}
	case mod.Protocol == config.ProtocolWhatsminerV3:
		steps = []Step{{config.ProtocolWhatsminerV3, target}}
	case port == config.WhatsminerV3Port && port != mod.Port:
		steps = []Step{v3}
	case known && rec.Protocol == config.ProtocolWhatsminerV3:
		steps = []Step{v3, cg}
	default:
		steps = []Step{cg, v3}
	}
	out := steps[:0]
	for _, st := range steps {
		_, portText, _ := net.SplitHostPort(st.Addr)
		port, _ := strconv.Atoi(portText)
		if p.readers[st.Protocol] != nil && cfg.PortAllowed(mod, port) {
			out = append(out, st)
		}
	}
	return out
}
