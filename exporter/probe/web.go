package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/webapi"
)

// WebReader reads a miner's web API; *webapi.Client is the real one.
type WebReader interface {
	Read(ctx context.Context, t webapi.Target) (*webapi.Result, error)
}

// WithWeb makes the Prober read the vendors' web APIs alongside the main protocol for modules
// with a `web:` block (see readWeb), and returns it.
func (p *Prober) WithWeb(w WebReader) *Prober {
	p.web = w
	return p
}

// WebReading is what the web step of a probe did.
type WebReading struct {
	// API is the web API asked ("" when none was: Skipped says why).
	API  string
	Addr string // host:port asked
	// Result is what it answered (nil when not asked); Err is nil when at least one endpoint
	// answered.
	Result *webapi.Result
	Err    error
	// Skipped says why the web API was not asked.
	Skipped string
	key     string // the token's key in the inventory
}

// Reason is why the web step failed ("" when it did not).
func (w *WebReading) Reason() cgminer.Reason { return cgminer.ReasonOf(w.Err) }

// minWebBudget is the least time left of a probe's deadline for which the web step is tried:
// with less, its answer could not arrive before the probe must answer.
const minWebBudget = 50 * time.Millisecond

// webAPI is the web API to ask for a miner the main protocol read: the module's choice, or under
// auto the one of the family that answered (stock Antminer firmware, VNish, Braiins OS).
func webAPI(w *config.Web, rd *Reading) string {
	if w.API != config.WebAuto {
		return w.API
	}
	switch {
	case rd.Family == dialect.Braiins:
		return webapi.Braiins
	case rd.Family == dialect.Antminer && rd.Snapshot.Firmware == "stock":
		return webapi.Antminer
	case rd.Family == dialect.Antminer && rd.Snapshot.Firmware == "vnish":
		return webapi.VNish
	}
	return ""
}

// tokenKey names the API and credentials a login token was obtained with, so that a token is
// never sent after the config's credentials changed.
func tokenKey(api string, w *config.Web) string {
	h := sha256.Sum256([]byte(api + "\x00" + w.Username + "\x00" + w.Password.Reveal()))
	return api + "|" + w.Username + "|" + hex.EncodeToString(h[:8])
}

// readWeb is a probe's web step, after the main protocol answered: it asks the miner's web API
// (on the target's IP and the module's web port, under the probe's deadline capped by the web
// timeout, with the login token the inventory keeps) and adds what it learned to the reading's
// snapshot and commands. Whatever happens, the reading keeps its answer: a web failure is its
// commands' 0, the WebReading's reason and a log line.
func (p *Prober) readWeb(ctx context.Context, cfg *config.Config, target string, mod *config.Module, rd *Reading, q Query, now time.Time) *WebReading {
	w := mod.Web
	wr := &WebReading{API: webAPI(w, rd)}
	host, _, err := net.SplitHostPort(target)
	switch {
	case wr.API == "":
		wr.Skipped = "no web API for this firmware"
		return wr
	case err != nil:
		wr.Skipped = "bad target"
		return wr
	case !cfg.PortAllowed(mod, w.Port):
		wr.Skipped = "web port not allowed"
		return wr
	}
	wr.Addr = net.JoinHostPort(host, strconv.Itoa(w.Port))
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < minWebBudget {
		wr.Skipped = "too little time left of the probe's deadline"
		wr.Err = &cgminer.Error{Reason: cgminer.ReasonTimeout, Err: errors.New(wr.Skipped)}
		for _, e := range webapi.Reads[wr.API] {
			rd.Commands[e.Command()] = false
		}
		return wr
	}
	wctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	wr.key = tokenKey(wr.API, w)
	tok, _ := p.inv.Token(target, wr.key, now)
	res, err := p.web.Read(wctx, webapi.Target{API: wr.API, Scheme: w.Scheme, Addr: wr.Addr, Username: w.Username, Password: w.Password,
		InsecureSkipVerify: w.InsecureSkipVerify, Token: webapi.Secret(tok), KeepRaw: q.KeepRaw})
	wr.Result, wr.Err = res, err
	if res == nil {
		return wr
	}
	for c, ok := range res.Commands() {
		rd.Commands[c] = ok
	}
	if len(res.Replies) > 0 && rd.Snapshot != nil {
		dialect.ReadWeb(res, rd.Snapshot, mod.ReadLimits(), now)
	}
	if logger := q.Logger; logger != nil && err != nil {
		reason := wr.Reason()
		if reason.ConnectionLevel() {
			logger.Debug("web API not reachable", "target", target, "api", wr.API, "addr", wr.Addr, "reason", reason, "err", err)
		} else {
			logger.Warn("web API gave no usable reply", "target", target, "api", wr.API, "addr", wr.Addr, "reason", reason, "err", err)
		}
	}
	return wr
}

// keepToken keeps a token the web step obtained in the inventory (after the probe recorded the
// miner: a new miner's first token is kept too), or forgets one the miner refused.
func (p *Prober) keepToken(target string, wr *WebReading) {
	if wr == nil || wr.Result == nil {
		return
	}
	switch res := wr.Result; {
	case res.Token != nil:
		p.inv.SetToken(target, wr.key, res.Token.Value.Reveal(), res.Token.Expires)
	case res.DropToken:
		p.inv.DropToken(target)
	}
}
