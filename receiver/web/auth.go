package web

import (
	"container/list"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
)

// Users are the web config's basic-auth users, ready to be checked.
type Users struct {
	hashes map[string][]byte
	// dummy is compared for a user name that is not configured, so that a wrong name costs as much
	// as a wrong password: a hash of a random password at the highest cost among the users.
	dummy []byte
}

// Bounds on what a client may send as credentials. No configured name is longer; bcrypt reads at
// most 72 bytes of a password, the cache key hashes the rest.
const (
	maxUserLen     = 64
	maxPasswordLen = 1024
)

// NewUsers checks the hashes and makes the dummy hash at the highest cost found (once per load).
func NewUsers(hashes map[string]string) (*Users, error) {
	u := &Users{hashes: make(map[string][]byte, len(hashes))}
	maxCost := 0
	for name, h := range hashes {
		if name == "" || len(name) > maxUserLen {
			return nil, fmt.Errorf("user %q: names are 1 to %d bytes", name, maxUserLen)
		}
		cost, err := bcrypt.Cost([]byte(h))
		if err != nil {
			return nil, fmt.Errorf("user %q: not a bcrypt hash: %w", name, err)
		}
		maxCost = max(maxCost, cost)
		u.hashes[name] = []byte(h)
	}
	if len(u.hashes) == 0 {
		return u, nil
	}
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return nil, fmt.Errorf("dummy password: %w", err)
	}
	d, err := bcrypt.GenerateFromPassword(pw, maxCost)
	if err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	u.dummy = d
	return u, nil
}

// Len is the number of users.
func (u *Users) Len() int {
	if u == nil {
		return 0
	}
	return len(u.hashes)
}

// Names lists the users, sorted.
func (u *Users) Names() []string {
	if u == nil {
		return nil
	}
	out := make([]string, 0, len(u.hashes))
	for n := range u.hashes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// hash returns the user's hash, or the dummy one and false.
func (u *Users) hash(name string) ([]byte, bool) {
	if h, ok := u.hashes[name]; ok {
		return h, true
	}
	return u.dummy, false
}

// LoginLimits bound the work a client can cause by signing in. The zero value takes the defaults.
type LoginLimits struct {
	// SourceBurst failed logins are allowed from one address (an IPv6 /64), then one more every
	// SourceEvery. Beyond that: 429 with Retry-After, without a bcrypt check.
	SourceBurst int
	SourceEvery time.Duration
	// UserBurst and UserEvery do the same per user name, whichever address the guesses come from.
	UserBurst int
	UserEvery time.Duration
	// Tracked bounds how many addresses and how many user names are remembered (least recently
	// seen are forgotten first; a key whose bucket is full again carries no state and goes first).
	Tracked int
	// Workers bcrypt checks run at once; Queue more may wait for one (up to WaitMax), the rest 429.
	Workers int
	Queue   int
	WaitMax time.Duration
	// CacheSize successful logins are remembered for CacheTTL so that a browser's basic auth on
	// every request costs one bcrypt check, not one per request.
	CacheSize int
	CacheTTL  time.Duration
}

// DefaultLoginLimits: 10 failures per address then one per 10 s; 20 per user name then one per 5 s;
// 10,000 addresses and names tracked; bcrypt on half the cores (at least one), 32 waiting at most
// 5 s; 1,024 cached logins for 10 minutes.
func DefaultLoginLimits() LoginLimits {
	return LoginLimits{SourceBurst: 10, SourceEvery: 10 * time.Second, UserBurst: 20, UserEvery: 5 * time.Second,
		Tracked: 10000, Workers: max(1, runtime.GOMAXPROCS(0)/2), Queue: 32, WaitMax: 5 * time.Second,
		CacheSize: 1024, CacheTTL: 10 * time.Minute}
}

func (l LoginLimits) withDefaults() LoginLimits {
	d := DefaultLoginLimits()
	pick := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pickD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&l.SourceBurst, d.SourceBurst)
	pickD(&l.SourceEvery, d.SourceEvery)
	pick(&l.UserBurst, d.UserBurst)
	pickD(&l.UserEvery, d.UserEvery)
	pick(&l.Tracked, d.Tracked)
	pick(&l.Workers, d.Workers)
	pick(&l.Queue, d.Queue)
	pickD(&l.WaitMax, d.WaitMax)
	pick(&l.CacheSize, d.CacheSize)
	pickD(&l.CacheTTL, d.CacheTTL)
	return l
}

// lru is a bounded map that forgets the least recently used key first. Not safe for concurrent use.
type lru[V any] struct {
	max int
	ll  *list.List // front: most recently used
	m   map[string]*list.Element
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

func (c *lru[V]) get(key string) (V, bool) {
	if e, ok := c.m[key]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruEntry[V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lru[V]) put(key string, v V) {
	if e, ok := c.m[key]; ok {
		e.Value.(*lruEntry[V]).val = v
		c.ll.MoveToFront(e)
		return
	}
	for c.ll.Len() >= c.max {
		c.removeOldest()
	}
	c.m[key] = c.ll.PushFront(&lruEntry[V]{key: key, val: v})
}

func (c *lru[V]) remove(key string) {
	if e, ok := c.m[key]; ok {
		c.ll.Remove(e)
		delete(c.m, key)
	}
}

func (c *lru[V]) oldest() (string, V, bool) {
	e := c.ll.Back()
	if e == nil {
		var zero V
		return "", zero, false
	}
	le := e.Value.(*lruEntry[V])
	return le.key, le.val, true
}

func (c *lru[V]) removeOldest() {
	if e := c.ll.Back(); e != nil {
		c.ll.Remove(e)
		delete(c.m, e.Value.(*lruEntry[V]).key)
	}
}

func (c *lru[V]) len() int { return c.ll.Len() }

// buckets are token buckets of failed logins, one per key, in a bounded map.
type buckets struct {
	mu    sync.Mutex
	limit rate.Limit
	burst int
	m     *lru[*rate.Limiter]
}

func newBuckets(burst int, every time.Duration, tracked int) *buckets {
	return &buckets{limit: rate.Every(every), burst: burst, m: newLRU[*rate.Limiter](tracked)}
}

// reserve takes a token for an attempt now. It returns the reservation (to cancel when the attempt
// succeeds) or, when the bucket is empty, how long until the next attempt is allowed.
func (b *buckets) reserve(key string, now time.Time) (*rate.Reservation, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// A bucket that has refilled holds no information: forget such keys first.
	for range 2 {
		k, l, ok := b.m.oldest()
		if !ok || k == key || l.TokensAt(now) < float64(b.burst) {
			break
		}
		b.m.removeOldest()
	}
	l, ok := b.m.get(key)
	if !ok {
		l = rate.NewLimiter(b.limit, b.burst)
		b.m.put(key, l)
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, d
	}
	return r, 0
}

func (b *buckets) refund(r *rate.Reservation, now time.Time) {
	if r == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r.CancelAt(now)
}

func (b *buckets) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m.len()
}

// loginCache remembers successful logins (never failures) for a while. The key covers the user,
// the stored hash and the password, so a changed hash or password misses.
type loginCache struct {
	mu  sync.Mutex
	ttl time.Duration
	m   *lru[time.Time] // key → expiry
}

func (c *loginCache) ok(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, hit := c.m.get(key)
	if hit && now.After(exp) {
		c.m.remove(key)
		return false
	}
	return hit
}

func (c *loginCache) add(key string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.put(key, now.Add(c.ttl))
}

// authenticator checks basic-auth credentials: a cache of good logins under its own small lock,
// failure buckets per address and per user name, and a bounded pool of bcrypt workers.
type authenticator struct {
	lim     LoginLimits
	now     func() time.Time
	cache   *loginCache
	sources *buckets
	names   *buckets
	workers chan struct{}
	queue   chan struct{}
	// compare is bcrypt.CompareHashAndPassword; tests wrap it.
	compare func(hash, pw []byte) error

	failures  prometheus.Counter
	throttled *prometheus.CounterVec
}

func newAuthenticator(lim LoginLimits, now func() time.Time) *authenticator {
	lim = lim.withDefaults()
	a := &authenticator{lim: lim, now: now,
		cache:   &loginCache{ttl: lim.CacheTTL, m: newLRU[time.Time](lim.CacheSize)},
		sources: newBuckets(lim.SourceBurst, lim.SourceEvery, lim.Tracked),
		names:   newBuckets(lim.UserBurst, lim.UserEvery, lim.Tracked),
		workers: make(chan struct{}, lim.Workers),
		queue:   make(chan struct{}, lim.Workers+lim.Queue),
		compare: bcrypt.CompareHashAndPassword,
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "repair_receiver_login_failures_total",
			Help: "Sign-ins refused for a wrong user name or password (throttled attempts are not counted here)."}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "repair_receiver_logins_throttled_total",
			Help: "Sign-in attempts refused with 429 before any password check: too many failures from the address (source) or for the user name (user), or too many checks already running (busy)."},
			[]string{"by"}),
	}
	for _, by := range []string{"source", "user", "busy"} {
		a.throttled.WithLabelValues(by)
	}
	return a
}

// verdict of a login attempt.
type verdict int

const (
	allowed verdict = iota
	denied
	throttled
	busy
)

// check decides a login. retry is set for throttled and busy.
func (a *authenticator) check(ctx context.Context, users *Users, remote, user, pass string) (v verdict, retry time.Duration) {
	hash, known := users.hash(user)
	sum := sha256.Sum256([]byte(user + "\x00" + string(hash) + "\x00" + pass))
	key := string(sum[:])
	now := a.now()
	if known && a.cache.ok(key, now) {
		return allowed, 0
	}
	nameKey := user
	if len(user) > maxUserLen {
		nameKey = "\x00too long"
	}
	rs, wait := a.sources.reserve(sourceKey(remote), now)
	if rs == nil {
		a.throttled.WithLabelValues("source").Inc()
		return throttled, wait
	}
	ru, wait := a.names.reserve(nameKey, now)
	if ru == nil {
		a.sources.refund(rs, now)
		a.throttled.WithLabelValues("user").Inc()
		return throttled, wait
	}
	refund := func() {
		a.sources.refund(rs, now)
		a.names.refund(ru, now)
	}
	if len(user) > maxUserLen || len(pass) > maxPasswordLen {
		a.failures.Inc()
		return denied, 0
	}
	// Bounded waiting for a bounded number of bcrypt workers.
	select {
	case a.queue <- struct{}{}:
	default:
		refund()
		a.throttled.WithLabelValues("busy").Inc()
		return busy, time.Second
	}
	defer func() { <-a.queue }()
	wctx, cancel := context.WithTimeout(ctx, a.lim.WaitMax)
	defer cancel()
	select {
	case a.workers <- struct{}{}:
	case <-wctx.Done():
		refund()
		a.throttled.WithLabelValues("busy").Inc()
		return busy, time.Second
	}
	err := a.compare(hash, []byte(pass))
	<-a.workers
	if err != nil || !known {
		a.failures.Inc()
		return denied, 0
	}
	refund()
	a.cache.add(key, a.now())
	return allowed, 0
}

// sourceKey is the client's address: the IP, or its /64 for IPv6 (one host easily holds a /64).
// X-Forwarded-For is not trusted: behind a proxy every client is the proxy.
func sourceKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "?"
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

func retryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(d, time.Second).Seconds()))))
}
