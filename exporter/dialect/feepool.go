package dialect

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/minefarm/cgminer-stack/exporter/miner"
)

// A firmware's fee pool is recognised by what a thief who edits the pool list does not control:
// the firmware the miner runs (Snapshot.Firmware, read from the version and stats blocks) and
// the fee endpoints that firmware is known to use. A pool's name, worker or priority alone never
// makes it a fee pool: a pool at evil.example:3333 as "devfee.thief", priority 9999, is an
// ordinary pool and is checked against the module's expected pools like any other.

// FeeEndpoint is one place a firmware sends its fee hashrate: a stratum host:port, or the
// placeholder the firmware lists instead of the real, hidden endpoint (VNish "DevFee", the "*"
// pool of some Antminer builds), which no pool a user configures can mine on.
type FeeEndpoint struct {
	// URL and User are as configured: "host:port" (a scheme is allowed and ignored) or a
	// placeholder; User is an anchored regular expression for the worker, empty for any.
	URL, User string

	host        string // without a trailing dot
	port        int
	placeholder string
	user        *regexp.Regexp
}

// FeePool is what one firmware's fee mining looks like.
type FeePool struct {
	// Share is the most of the miner's work the fee pools may take (0.03 = 3 %).
	Share     float64
	Endpoints []FeeEndpoint
}

// FeePools maps a firmware (Snapshot.Firmware: "vnish", "blissz", …) to its fee pools.
type FeePools map[string]FeePool

// Bounds on configured fee pools, so a config cannot make every probe loop for long.
const (
	MaxFeeFirmwares = 64
	MaxFeeEndpoints = 64
	MaxFeeShare     = 0.25
	maxURLLen       = 512
	maxHostLen      = 253
	maxPlaceholder  = 64
)

// Firmwares are the firmware names the dialects write into Snapshot.Firmware (cgminer_info's
// firmware label), the keys fee pools may be configured for.
var Firmwares = []string{"stock", "vnish", "hiveon", "asicseer", "braiins", "luxos", "mskminer", "blissz", "custom"}

// NewFeeEndpoint checks and compiles one endpoint. url is "host:port" (optionally with a
// scheme, "stratum+tcp://host:port") or a placeholder without '.', ':' or '/'; user is an
// unanchored regular expression that must match the whole worker name, or "" for any.
func NewFeeEndpoint(url, user string) (FeeEndpoint, error) {
	e := FeeEndpoint{URL: url, User: user}
	u := strings.TrimSpace(url)
	switch {
	case u == "":
		return e, fmt.Errorf("fee endpoint url is empty")
	case !strings.ContainsAny(u, ":/."):
		// A placeholder is no host name a miner could resolve: no dot, no port.
		if len(u) > maxPlaceholder || strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r > '~' }) {
			return e, fmt.Errorf("fee endpoint placeholder %q: at most %d printable ASCII characters", url, maxPlaceholder)
		}
		e.placeholder = u
	default:
		host, port, ok := endpointOf(u)
		if !ok {
			return e, fmt.Errorf("fee endpoint %q is neither host:port nor a placeholder without '.', ':' and '/'", url)
		}
		e.host, e.port = strings.ToLower(host), port
	}
	if user != "" {
		re, err := regexp.Compile("^(?:" + user + ")$")
		if err != nil {
			return e, fmt.Errorf("fee endpoint %q: bad user expression %q: %w", url, user, err)
		}
		e.user = re
	}
	return e, nil
}

func mustFeeEndpoint(url, user string) FeeEndpoint {
	e, err := NewFeeEndpoint(url, user)
	if err != nil {
		panic(err)
	}
	return e
}

// matches reports whether the pool mines at this endpoint. A placeholder matches only a pool
// URL that is exactly the placeholder; a host:port only a pool URL that is exactly scheme,
// host and port — credentials, paths or a second port never match.
func (e FeeEndpoint) matches(p miner.Pool) bool {
	if e.placeholder != "" {
		if !strings.EqualFold(strings.TrimSpace(p.URL), e.placeholder) {
			return false
		}
	} else {
		host, port, ok := endpointOf(p.URL)
		if !ok || port != e.port || !strings.EqualFold(host, e.host) {
			return false
		}
	}
	return e.user == nil || e.user.MatchString(p.User)
}

// endpointOf reads the host and port cgminer would connect to from a pool URL of the strict
// form [scheme://]host:port[/]: host letters, digits, '-' and '.', port 1–65535. Anything
// else (user info, a path, IPv6 brackets, spaces, an empty part) is not an endpoint. The host
// keeps its case (compare with EqualFold); a trailing dot is dropped. It allocates nothing.
func endpointOf(raw string) (host string, port int, ok bool) {
	s := raw
	if len(s) > maxURLLen {
		return "", 0, false
	}
	if i := strings.Index(s, "://"); i >= 0 {
		if !validScheme(s[:i]) {
			return "", 0, false
		}
		s = s[i+3:]
	}
	s = strings.TrimSuffix(s, "/")
	host, digits, found := strings.Cut(s, ":")
	if !found || !validHost(host) || digits == "" || len(digits) > 5 {
		return "", 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return "", 0, false
		}
		port = port*10 + int(c-'0')
	}
	if port < 1 || port > 65535 {
		return "", 0, false
	}
	return strings.TrimSuffix(host, "."), port, true
}

func validScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, c := range s {
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alpha && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

func validHost(h string) bool {
	if h == "" || len(h) > maxHostLen || h[0] == '.' || h[0] == '-' {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Recognises reports whether a pool of a miner running firmware is one of that firmware's fee pools.
func (fp FeePools) Recognises(firmware string, p miner.Pool) bool {
	f, ok := fp[firmware]
	if !ok {
		return false
	}
	for _, e := range f.Endpoints {
		if e.matches(p) {
			return true
		}
	}
	return false
}

// Mark sets each pool's DevFee from the snapshot's firmware and the pool's endpoint, and the
// snapshot's FeeShare to the firmware's share when at least one pool is a fee pool.
func (fp FeePools) Mark(s *miner.Snapshot) {
	s.FeeShare = miner.F{}
	for i := range s.Pools {
		p := &s.Pools[i]
		p.DevFee = !p.Cut && fp.Recognises(s.Firmware, *p)
		if p.DevFee {
			s.FeeShare = miner.Some(fp[s.Firmware].Share)
		}
	}
}

// DefaultFeePools are the fee pools known without configuration. Each entry rests on a real
// capture in exporter/testdata/cgminer-api (see SOURCES.md there); firmware whose fee mining
// does not show in the pool list (Braiins OS+, LuxOS) or whose fee pool has not been seen in a
// capture (Hiveon, asicseer) has no entry, so any pool such a miner lists is checked. The shares
// are ceilings: what the captures' lifetime counters show the fee pools took, rounded up.
//
//   - vnish: the "DevFee" placeholder pools (worker "DevFee") of VNish 2.0.3 (S17+) and 3.8.6
//     (S9); they took 2.5 % and 1.0 % of the difficulty accepted. Ceiling 3 %.
//   - custom: the "*" pool (worker "*") of the rwglr L3+ build; it took 2.0 %. Ceiling 3 %.
//   - blissz: Blissz v2.06 (D3) keeps dash.suprnova.cc:9991 and dash-eu.coinmine.pl:6099 as
//     worker "devFeeMiner.N" at priority 9998/9999 (no work yet in the capture). The share is
//     not documented anywhere we could find: 3 % is an assumption, to be configured.
func DefaultFeePools() FeePools {
	return FeePools{
		"vnish":  {Share: 0.03, Endpoints: []FeeEndpoint{mustFeeEndpoint("DevFee", "DevFee")}},
		"custom": {Share: 0.03, Endpoints: []FeeEndpoint{mustFeeEndpoint("*", `\*`)}},
		"blissz": {Share: 0.03, Endpoints: []FeeEndpoint{
			mustFeeEndpoint("dash.suprnova.cc:9991", `devFeeMiner\.[0-9]+`),
			mustFeeEndpoint("dash-eu.coinmine.pl:6099", `devFeeMiner\.[0-9]+`),
		}},
	}
}

var defaultFeePools = DefaultFeePools()
