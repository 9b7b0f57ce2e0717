// Package farm simulates a farm of ASIC miners that answer the cgminer API on loopback: one
// listener per miner address, replies built from real captures of each firmware family, state
// computed lazily from the seed, the clock and the faults injected at run time.
package farm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Config is a farm's configuration.
type Config struct {
	// Range is the loopback prefix the miners live in (127.0.0.0/8 only).
	Range netip.Prefix
	// Miners is how many miners to run; 0 means every host address of Range.
	Miners int
	// Port is the cgminer API port every miner that has the API listens on (4028).
	Port int
	// V3Port is the Whatsminer API v3 port of the models that speak it (DefaultV3Port when 0,
	// none when negative).
	V3Port int
	// HTTPPort is the stock Antminer HTTP API port of the models that have it (s19jpro, s9); 0
	// turns the HTTP API off.
	HTTPPort int
	// HTTPUser and HTTPPassword are the HTTP API's Digest credentials (DefaultHTTPUser and
	// DefaultHTTPPassword, the stock firmware's, when empty).
	HTTPUser     string
	HTTPPassword Secret
	// Mix is the model mix; DefaultMix when empty.
	Mix []Share
	// Seed makes models, values and scenario selections reproducible.
	Seed uint64
	// SlowDelay is how long a miner with the slow fault waits before answering.
	SlowDelay time.Duration
	// RestartPeriod is how often restart_loop restarts the mining software.
	RestartPeriod time.Duration
	// DevFee is how much of each hour a VNish miner mines on its DevFee pool.
	DevFee time.Duration
	// ReadTimeout bounds how long a miner waits for a request after accepting a connection.
	ReadTimeout time.Duration
	// AllowRestart makes the cgminer/bmminer families carry out the privileged restart command
	// (as a miner whose api-allow gives the caller W: access); off, it is refused with Code 45.
	AllowRestart bool
	// RestartDelay is how long an accepted restart keeps the API silent (connection refused)
	// before the software answers again with Elapsed and counters from zero.
	RestartDelay time.Duration
	// RestartClears are the faults a restart cures; nil means DefaultRestartClears, an empty
	// slice none.
	RestartClears []Fault
	// StateFile, when set, keeps the faults across a simulator restart: loaded by New (unknown
	// miners and faults are ignored with a warning) and rewritten atomically after every change.
	StateFile string
	Clock     Clock
	Logger    *slog.Logger
}

// Defaults for the zero fields of a Config.
const (
	DefaultPort          = 4028
	DefaultV3Port        = 4433
	DefaultHTTPUser      = "root"
	DefaultHTTPPassword  = Secret("root")
	DefaultSlowDelay     = 8 * time.Second
	DefaultRestartPeriod = 2 * time.Minute
	DefaultDevFee        = 100 * time.Second // VNish's 2.8 % of an hour, rounded
	DefaultReadTimeout   = 10 * time.Second
	DefaultRestartDelay  = 20 * time.Second
	maxRequest           = 8192
)

// Farm is a set of simulated miners.
type Farm struct {
	cfg    Config
	start  time.Time
	miners []*Miner
	byAddr map[netip.Addr]*Miner
	log    *slog.Logger
	// cures are the faults a restart clears (Config.RestartClears).
	cures faultSet
	// dirty signals the state file's writer (statefile.go) that a fault changed.
	dirty chan struct{}
	// digest signs the HTTP API's Digest nonces (web.go).
	digest *digestAuth

	mu      sync.Mutex
	started bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Miner is one simulated miner.
type Miner struct {
	farm  *Farm
	addr  netip.Addr
	index int
	model *Model
	seed  uint64
	// osExtra is how long the controller ran before the mining software started.
	osExtra float64

	mu            sync.Mutex
	faults        faultSet
	since         [numFaults]time.Time
	boot          time.Time // the mining software's start
	epoch         time.Time // start of the counters' current period
	base          counters  // counters at epoch
	lastShareStop time.Time // when shares stopped being accepted
	lns           [numAPIs]net.Listener
	web           *http.Server // the HTTP API's server, made at the first listen
	webConns      map[net.Conn]struct{}
	restarting    bool // an accepted restart keeps the API silent until RestartDelay has passed
}

// New checks cfg and lays out the farm: addresses, models and each miner's history. It binds
// nothing; Start does.
func New(cfg Config) (*Farm, error) {
	if err := CheckLoopback(cfg.Range); err != nil {
		return nil, err
	}
	cfg.Range = cfg.Range.Masked()
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("port %d out of range", cfg.Port)
	}
	if cfg.V3Port == 0 {
		cfg.V3Port = DefaultV3Port
	}
	if cfg.V3Port > 65535 {
		return nil, fmt.Errorf("API v3 port %d out of range", cfg.V3Port)
	}
	if cfg.HTTPPort < 0 || cfg.HTTPPort > 65535 {
		return nil, fmt.Errorf("HTTP port %d out of range", cfg.HTTPPort)
	}
	if cfg.V3Port == cfg.Port || cfg.HTTPPort == cfg.Port || cfg.HTTPPort > 0 && cfg.HTTPPort == cfg.V3Port {
		return nil, fmt.Errorf("the cgminer API (%d), API v3 (%d) and HTTP (%d) ports must differ", cfg.Port, cfg.V3Port, cfg.HTTPPort)
	}
	if cfg.HTTPUser == "" {
		cfg.HTTPUser = DefaultHTTPUser
	}
	if cfg.HTTPPassword == "" {
		cfg.HTTPPassword = DefaultHTTPPassword
	}
	if err := checkCredentials(cfg.HTTPUser, cfg.HTTPPassword); err != nil {
		return nil, err
	}
	if cfg.SlowDelay <= 0 {
		cfg.SlowDelay = DefaultSlowDelay
	}
	if cfg.RestartPeriod <= 0 {
		cfg.RestartPeriod = DefaultRestartPeriod
	}
	if cfg.DevFee < 0 || cfg.DevFee >= time.Hour {
		return nil, fmt.Errorf("devfee %s must be between 0 and 1h", cfg.DevFee)
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.RestartDelay <= 0 {
		cfg.RestartDelay = DefaultRestartDelay
	}
	if cfg.RestartClears == nil {
		cfg.RestartClears = DefaultRestartClears
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Mix) == 0 {
		mix, err := ParseMix(DefaultMix)
		if err != nil {
			return nil, err
		}
		cfg.Mix = mix
	}
	hosts := Hosts(cfg.Range)
	n := cfg.Miners
	if n == 0 {
		n = len(hosts)
	}
	if n < 0 || n > len(hosts) {
		return nil, fmt.Errorf("%d miners do not fit in %s (%d host addresses)", cfg.Miners, cfg.Range, len(hosts))
	}
	digest, err := newDigestAuth(cfg.HTTPUser, cfg.HTTPPassword)
	if err != nil {
		return nil, err
	}
	f := &Farm{cfg: cfg, start: cfg.Clock.Now(), byAddr: make(map[netip.Addr]*Miner, n), log: cfg.Logger,
		dirty: make(chan struct{}, 1), digest: digest}
	for _, fl := range cfg.RestartClears {
		if fl >= numFaults {
			return nil, fmt.Errorf("unknown fault %d in RestartClears", fl)
		}
		f.cures |= 1 << fl
	}

	// Exact proportions of the mix, spread over the range in a seeded order.
	counts := apportion(cfg.Mix, n)
	kinds := make([]*Model, 0, n)
	for i, c := range counts {
		for range c {
			kinds = append(kinds, cfg.Mix[i].Model)
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6d696e657273696d))
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })

	f.miners = make([]*Miner, n)
	for i := range n {
		m := &Miner{farm: f, addr: hosts[i], index: i, model: kinds[i]}
		m.seed = hash(cfg.Seed, uint64(i), 0x5eed)
		// Miners have been up between an hour and three weeks; the controller a little longer.
		up := time.Duration(float64(time.Hour) + unit(hash(m.seed, 0x0b))*float64(20*24*time.Hour))
		m.boot = f.start.Add(-up).Truncate(time.Second)
		m.epoch = f.start
		m.base = counters{}.add(m.rates(0), f.start.Sub(m.boot).Seconds())
		m.osExtra = math.Floor(30 + 600*unit(hash(m.seed, 0x05)))
		f.miners[i] = m
		f.byAddr[m.addr] = m
	}
	if cfg.StateFile != "" {
		if err := f.loadState(cfg.StateFile); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// CheckLoopback refuses any prefix outside 127.0.0.0/8: the simulator never binds anything else.
func CheckLoopback(p netip.Prefix) error {
	if !p.IsValid() {
		return errors.New("no address range given")
	}
	loop := netip.MustParsePrefix("127.0.0.0/8")
	if !p.Addr().Is4() || p.Bits() < 8 || !loop.Contains(p.Masked().Addr()) {
		return fmt.Errorf("range %s is not inside 127.0.0.0/8: the simulator only binds loopback addresses", p)
	}
	return nil
}

// Hosts lists the host addresses of a prefix: all but the network and broadcast addresses
// (for /31 and /32, every address).
func Hosts(p netip.Prefix) []netip.Addr {
	p = p.Masked()
	size := 1 << (32 - p.Bits())
	var out []netip.Addr
	a := p.Addr()
	for i := 0; i < size; i++ {
		if size > 2 && (i == 0 || i == size-1) {
			a = a.Next()
			continue
		}
		out = append(out, a)
		a = a.Next()
	}
	return out
}

// descriptorsNeeded is how many file descriptors a farm with n listeners needs (one per API of
// each miner), plus room for connections in flight, the control API and the runtime.
func descriptorsNeeded(n int) uint64 { return uint64(n) + 256 }

// listeners counts the listeners the farm's miners open.
func (f *Farm) listeners() int {
	n := 0
	for _, m := range f.miners {
		for a := api(0); a < numAPIs; a++ {
			if m.serves(a) {
				n++
			}
		}
	}
	return n
}

// checkDescriptors fails clearly when the process may not open enough files for n listeners. Go
// raises the soft RLIMIT_NOFILE to the hard limit at start-up, so the hard limit is what counts.
func checkDescriptors(n int) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if need := descriptorsNeeded(n); rl.Cur < need {
		return fmt.Errorf("%d listeners need about %d file descriptors, but RLIMIT_NOFILE is %d (hard %d): "+
			"run fewer miners or raise the limit (ulimit -n / LimitNOFILE=)", n, need, rl.Cur, rl.Max)
	}
	return nil
}

// Start binds every miner's listener and serves until ctx ends or Close is called. It returns
// once every listener is bound, or the first error (with nothing left bound).
func (f *Farm) Start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started {
		return errors.New("farm already started")
	}
	if err := checkDescriptors(f.listeners()); err != nil {
		return err
	}
	f.ctx, f.cancel = context.WithCancel(ctx)
	for _, m := range f.miners {
		if m.offline() {
			continue // offline from the state file: its ports refuse connections
		}
		if err := m.listen(allAPIs); err != nil {
			f.cancel()
			for _, o := range f.miners {
				o.closeListeners(allAPIs)
			}
			return err
		}
	}
	f.started = true
	go func() {
		<-f.ctx.Done()
		for _, m := range f.miners {
			m.closeListeners(allAPIs)
		}
	}()
	if f.cfg.StateFile != "" {
		f.wg.Add(1)
		go f.writeState(f.ctx)
	}
	return nil
}

// Close stops every listener and waits for the connections in flight.
func (f *Farm) Close() {
	f.mu.Lock()
	cancel := f.cancel
	f.mu.Unlock()
	if cancel != nil {
		cancel()
		for _, m := range f.miners {
			m.closeListeners(allAPIs)
		}
	}
	f.wg.Wait()
}

// Len is the number of miners.
func (f *Farm) Len() int { return len(f.miners) }

// Port is the cgminer API port of every miner that has that API.
func (f *Farm) Port() int { return f.cfg.Port }

// V3Port is the API v3 port of the miners that speak it (0 when turned off).
func (f *Farm) V3Port() int { return max(f.cfg.V3Port, 0) }

// HTTPPort is the HTTP API port of the miners that have it (0 when turned off).
func (f *Farm) HTTPPort() int { return f.cfg.HTTPPort }

// port is the port of an API, 0 when the farm turns it off.
func (f *Farm) port(a api) int {
	switch a {
	case apiCGMiner:
		return f.cfg.Port
	case apiV3:
		return max(f.cfg.V3Port, 0)
	case apiWeb:
		return f.cfg.HTTPPort
	}
	return 0
}

// Miners lists the miners in address order.
func (f *Farm) Miners() []*Miner { return f.miners }

// Miner returns the miner at addr.
func (f *Farm) Miner(addr netip.Addr) (*Miner, bool) {
	m, ok := f.byAddr[addr]
	return m, ok
}

// Addr is the miner's IP address.
func (m *Miner) Addr() netip.Addr { return m.addr }

// Endpoint is the miner's main API address, IP:port: the cgminer API's, or for a model without
// it (m60s) the API v3's.
func (m *Miner) Endpoint() string {
	if !m.model.apis.has(apiCGMiner) && m.serves(apiV3) {
		return m.endpoint(apiV3)
	}
	return m.endpoint(apiCGMiner)
}

// EndpointOf is the address of the miner's API of that protocol name (ProtocolCGMiner,
// ProtocolWhatsminerV3, ProtocolAntminerHTTP); false when the miner does not serve it.
func (m *Miner) EndpointOf(protocol string) (string, bool) {
	for a := api(0); a < numAPIs; a++ {
		if apiNames[a] == protocol && m.serves(a) {
			return m.endpoint(a), true
		}
	}
	return "", false
}

func (m *Miner) endpoint(a api) string {
	return net.JoinHostPort(m.addr.String(), strconv.Itoa(m.farm.port(a)))
}

// serves reports whether the miner listens on the API: its model has it and the farm turns it on.
func (m *Miner) serves(a api) bool { return m.model.apis.has(a) && m.farm.port(a) > 0 }

// Model is the miner's model.
func (m *Miner) Model() *Model { return m.model }

// Faults lists the active faults, in their fixed order.
func (m *Miner) Faults() []Fault {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.faults.list()
}

// FaultSince tells when an active fault was set.
func (m *Miner) FaultSince(fl Fault) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.since[fl], m.faults.has(fl)
}

// SetFault turns a fault on. Setting an active fault again changes nothing (and reports false).
func (m *Miner) SetFault(fl Fault) (bool, error) {
	if fl >= numFaults {
		return false, fmt.Errorf("unknown fault %d", fl)
	}
	now := m.farm.cfg.Clock.Now()
	m.mu.Lock()
	if m.faults.has(fl) {
		m.mu.Unlock()
		return false, nil
	}
	m.advanceLocked(now)
	m.closePeriodLocked(now, m.faults|1<<fl)
	m.faults |= 1 << fl
	m.since[fl] = now
	if fl == RestartLoop {
		m.boot, m.epoch, m.base = now, now, counters{}
	}
	m.mu.Unlock()
	m.farm.log.Info("fault set", "miner", m.addr, "model", m.model.Key, "fault", fl)
	if fl == Offline {
		m.closeListeners(allAPIs)
	}
	m.farm.changed()
	return true, nil
}

// ClearFault turns a fault off. Clearing an inactive fault changes nothing (and reports false).
func (m *Miner) ClearFault(fl Fault) (bool, error) {
	if fl >= numFaults {
		return false, fmt.Errorf("unknown fault %d", fl)
	}
	now := m.farm.cfg.Clock.Now()
	m.mu.Lock()
	if !m.faults.has(fl) {
		m.mu.Unlock()
		return false, nil
	}
	m.advanceLocked(now)
	m.closePeriodLocked(now, m.faults&^(1<<fl))
	m.faults &^= 1 << fl
	m.since[fl] = time.Time{}
	if fl == Offline {
		// The API came back: the mining software was restarted.
		m.boot, m.epoch, m.base = now, now, counters{}
	}
	m.mu.Unlock()
	m.farm.log.Info("fault cleared", "miner", m.addr, "model", m.model.Key, "fault", fl)
	m.farm.changed()
	if fl == Offline {
		return true, m.reopen(allAPIs)
	}
	return true, nil
}

// offline reports whether the offline fault is set.
func (m *Miner) offline() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.faults.has(Offline)
}

// Restarting reports whether an accepted restart keeps the API silent now.
func (m *Miner) Restarting() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.restarting
}

// Restart carries out an accepted restart command, as cgminer does once its reply is sent: the
// faults a restart cures (Config.RestartClears) are cleared, the API goes silent (connection
// refused) for Config.RestartDelay, and the software comes back with Elapsed and every counter
// from zero. A restart while one is under way changes nothing (and reports false).
func (m *Miner) Restart() bool {
	f := m.farm
	now := f.cfg.Clock.Now()
	m.mu.Lock()
	if m.restarting {
		m.mu.Unlock()
		return false
	}
	m.restarting = true
	m.advanceLocked(now)
	cured := m.faults & f.cures
	next := m.faults &^ cured
	m.closePeriodLocked(now, next)
	m.faults = next
	for _, fl := range cured.list() {
		m.since[fl] = time.Time{}
	}
	m.mu.Unlock()
	f.log.Info("restart command accepted: mining software restarting", "miner", m.addr, "model", m.model.Key,
		"silent_for", f.cfg.RestartDelay, "cleared", cured.list())
	m.closeListeners(softwareAPIs)
	if cured != 0 {
		f.changed()
	}
	f.mu.Lock()
	ctx := f.ctx
	f.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		t := time.NewTimer(f.cfg.RestartDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		back := f.cfg.Clock.Now()
		m.mu.Lock()
		m.restarting = false
		m.boot, m.epoch, m.base = back, back, counters{}
		m.mu.Unlock()
		f.log.Info("mining software back after restart", "miner", m.addr, "model", m.model.Key)
		if err := m.reopen(softwareAPIs); err != nil {
			f.log.Error("listen again after restart", "miner", m.addr, "err", err)
		}
	}()
	return true
}

// ClearFaults turns every fault off.
func (m *Miner) ClearFaults() error {
	var errs []error
	for _, fl := range m.Faults() {
		if _, err := m.ClearFault(fl); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// closePeriodLocked ends the counters' current period at now, before the faults change to next.
func (m *Miner) closePeriodLocked(now time.Time, next faultSet) {
	before := m.rates(m.faults).accepted > 0
	m.base = m.countersLocked(now)
	m.epoch = now
	if before && m.rates(next).accepted == 0 {
		m.lastShareStop = now
	}
}

// allAPIs are every API; softwareAPIs the ones the mining software serves itself (cgminer,
// bmminer, btminer), which a restart silences: the HTTP API is the controller's web server
// (lighttpd on Antminers) and keeps answering.
const (
	allAPIs      = apiSet(1<<numAPIs - 1)
	softwareAPIs = apiSet(1<<apiCGMiner | 1<<apiV3)
)

// listen binds the listeners of the APIs in set that the miner serves and is not serving yet, and
// serves them. On an error the ones it bound are closed again.
func (m *Miner) listen(set apiSet) error {
	var bound []api
	for a := api(0); a < numAPIs; a++ {
		if !set.has(a) || !m.serves(a) {
			continue
		}
		m.mu.Lock()
		open := m.lns[a] != nil
		m.mu.Unlock()
		if open {
			continue
		}
		ln, err := net.Listen("tcp4", m.endpoint(a))
		if err != nil {
			for _, b := range bound {
				m.closeListeners(1 << b)
			}
			return fmt.Errorf("listen on %s (%s): %w", m.endpoint(a), apiNames[a], err)
		}
		m.mu.Lock()
		m.lns[a] = ln
		m.mu.Unlock()
		bound = append(bound, a)
		m.farm.wg.Add(1)
		switch a {
		case apiWeb:
			go m.serveWeb(ln)
		case apiV3:
			go m.serve(ln, m.handleV3)
		default:
			go m.serve(ln, m.handle)
		}
	}
	return nil
}

// reopen binds the listeners in set again after offline or a restart, unless the farm has
// stopped or the miner is (again) offline; while a restart is under way only the web server's.
func (m *Miner) reopen(set apiSet) error {
	m.farm.mu.Lock()
	ctx := m.farm.ctx
	m.farm.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		return nil
	}
	m.mu.Lock()
	off := m.faults.has(Offline)
	if m.restarting {
		set &^= softwareAPIs // the restart's end opens these
	}
	m.mu.Unlock()
	if off {
		return nil
	}
	return m.listen(set)
}

// closeListeners closes the miner's listeners of the APIs in set: their ports refuse connections.
func (m *Miner) closeListeners(set apiSet) {
	var closers []interface{ Close() error }
	m.mu.Lock()
	for a := api(0); a < numAPIs; a++ {
		if set.has(a) && m.lns[a] != nil {
			closers = append(closers, m.lns[a])
			m.lns[a] = nil
		}
	}
	if set.has(apiWeb) {
		for c := range m.webConns {
			closers = append(closers, c)
		}
	}
	m.mu.Unlock()
	for _, c := range closers {
		_ = c.Close()
	}
}

func (m *Miner) serve(ln net.Listener, handle func(net.Conn)) {
	defer m.farm.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or similar: back off briefly instead of spinning.
			m.farm.log.Warn("accept failed", "miner", m.addr, "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		m.farm.wg.Add(1)
		go func() {
			defer m.farm.wg.Done()
			handle(conn)
		}()
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, maxRequest); return &b }}

// handle answers one connection: one request, one reply ending in NUL, then close (as cgminer
// does). Connection-level faults decide whether and how the reply is written.
func (m *Miner) handle(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(m.farm.cfg.ReadTimeout))
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	// cgminer reads the request with a single recv(); so does the simulator.
	n, err := conn.Read(*bp)
	if n == 0 || (err != nil && n == 0) {
		return
	}
	req := (*bp)[:n]
	f, ok := m.delay(conn)
	if !ok {
		return
	}
	if f.has(Garbage) {
		_, _ = conn.Write(garbage(m.seed, m.farm.cfg.Clock.Now()))
		return
	}
	out, restart := m.respond(req, nil)
	if f.has(Truncated) {
		out = truncate(out)
	}
	_, _ = conn.Write(out)
	if restart {
		_ = conn.Close() // the reply is out; cgminer then restarts
		m.Restart()
	}
}

// delay carries out the faults that hold a request that was read: hang (never answer: the
// connection is held until the client gives up or the farm stops) and slow (answer after
// Config.SlowDelay). It returns the faults that shape the answer, and false when none is to be
// written.
func (m *Miner) delay(conn net.Conn) (faultSet, bool) {
	ctx := m.farm.ctx
	m.mu.Lock()
	f := m.faults
	m.mu.Unlock()
	switch {
	case f.has(Hang):
		_ = conn.SetDeadline(time.Time{})
		stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
		defer stop()
		var sink [256]byte
		for {
			if _, err := conn.Read(sink[:]); err != nil {
				return f, false
			}
		}
	case f.has(Slow):
		t := time.NewTimer(m.farm.cfg.SlowDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return f, false
		}
		_ = conn.SetDeadline(time.Now().Add(m.farm.cfg.ReadTimeout))
	}
	return f, true
}

// garbage is what a miner with a broken API daemon sends: bytes that are not the API, no NUL.
func garbage(seed uint64, now time.Time) []byte {
	h := hash(seed, uint64(now.UnixNano()))
	n := 48 + int(h%200)
	out := make([]byte, n)
	for i := range out {
		h = splitmix64(h)
		b := byte(h)
		if b == 0 || b == '{' || b == '[' || b == ',' {
			b = 0xfe
		}
		out[i] = b
	}
	out[0] = 0x8f // never the start of a JSON or text reply
	return out
}

// truncate cuts a reply mid-JSON, like a daemon that dies while writing: no closing brace, no NUL.
func truncate(reply []byte) []byte {
	if len(reply) < 4 {
		return reply[:0]
	}
	return reply[:len(reply)/2]
}

// MinerInfo is a miner as the control API lists it.
type MinerInfo struct {
	Address  string   `json:"address"`
	Port     int      `json:"port"`
	Model    string   `json:"model"`
	Name     string   `json:"name"`
	Firmware string   `json:"firmware"`
	Faults   []string `json:"faults"`
	// Restarting is true while an accepted restart keeps the API silent.
	Restarting bool `json:"restarting,omitempty"`
	// Protocols maps each API the miner serves to its port: "cgminer", "whatsminer-v3",
	// "antminer-http". Port is the main one's (Miner.Endpoint).
	Protocols map[string]int `json:"protocols"`
}

// Info describes the miner.
func (m *Miner) Info() MinerInfo {
	fs := m.Faults()
	names := make([]string, len(fs))
	for i, fl := range fs {
		names[i] = fl.String()
	}
	protos := map[string]int{}
	for a := api(0); a < numAPIs; a++ {
		if m.serves(a) {
			protos[apiNames[a]] = m.farm.port(a)
		}
	}
	_, port, _ := net.SplitHostPort(m.Endpoint())
	p, _ := strconv.Atoi(port)
	return MinerInfo{Address: m.addr.String(), Port: p, Model: m.model.Key, Name: m.model.Name,
		Firmware: m.model.Firmware, Faults: names, Restarting: m.Restarting(), Protocols: protos}
}

// Select picks count miners of a model ("" for any) in a seeded order, for scenarios: the same
// seed picks the same miners. It fails when fewer are available.
func (f *Farm) Select(model string, count int, salt uint64) ([]*Miner, error) {
	var pool []*Miner
	for _, m := range f.miners {
		if model == "" || m.model.Key == model {
			pool = append(pool, m)
		}
	}
	if count > len(pool) {
		return nil, fmt.Errorf("wants %d miners of model %q, the farm has %d", count, model, len(pool))
	}
	rng := rand.New(rand.NewPCG(f.cfg.Seed, salt))
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	out := pool[:count]
	sort.Slice(out, func(i, j int) bool { return out[i].index < out[j].index })
	return out, nil
}
