// Package multisite runs the multi-site deployment (deploy/multisite) as plain processes on
// loopback: one minersim farm per site, the services deploy/multisite/topology generates (per
// site: exporters and Prometheus shards; centre: VictoriaMetrics, vmalert, an Alertmanager cluster,
// repair_receiver replicas) and a throw-away PostgreSQL 15 for the receivers. The test in this
// package drives it through outages; what it starts is what topology.Generate describes, the same
// descriptions the compose file is written from.
package multisite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minefarm/cgminer-stack/deploy/multisite/topology"
)

// Farm is one site's simulated farm.
type Farm struct {
	Site   string
	Range  string // loopback CIDR
	Miners int
	Models string
	Seed   int
}

// Options describe one run.
type Options struct {
	Root    string // repository root
	WorkDir string // configs, data and logs
	// Binaries by kind (topology.Prometheus …), plus "minersim"; names are looked up in PATH.
	Binaries map[topology.Kind]string
	Farms    []Farm
	// ShardsPerSite, Alertmanagers and Receivers size the topology.
	ShardsPerSite, Alertmanagers, Receivers int
	Fast                                    topology.Fast
	Log                                     io.Writer
}

// Cluster is a running deployment.
type Cluster struct {
	opts     Options
	Topology *topology.Topology
	Deploy   *topology.Deployment
	// SimControl is each site's minersim control URL; SimToken their bearer token.
	SimControl map[string]string
	SimToken   string

	mu    sync.Mutex
	procs map[string]*proc
	order []string
	pg    *postgres
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// MinersimKind is the key of minersim in Options.Binaries.
const MinersimKind topology.Kind = "minersim"

// Listen ports come from below the kernel's ephemeral range (32768–60999 by default): a port
// the kernel hands out (127.0.0.1:0) is free when asked, but until the service binds it any
// outgoing connection of the run (a shard to VictoriaMetrics, a receiver to PostgreSQL) may
// take it as its source port — which failed a run ("bind: address already in use").
const portLow, portHigh = 20000, 32000

// freePort picks a port in [portLow, portHigh) that binds on 127.0.0.1 now and that this run
// has not used.
func freePort(r *mrand.Rand, used map[int]bool) (int, error) {
	n := portHigh - portLow
	start := r.IntN(n)
	for i := range n {
		p := portLow + (start+i)%n
		if used[p] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ln.Close()
		used[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free port in %d-%d", portLow, portHigh)
}

// Start writes the configs and starts every part, each waited for until it answers.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	for _, d := range []string{"logs", "data", "config"} {
		if err := os.MkdirAll(filepath.Join(o.WorkDir, d), 0o755); err != nil {
			return nil, err
		}
	}
	c := &Cluster{opts: o, procs: map[string]*proc{}, SimControl: map[string]string{}}
	// Ports: all free loopback ports of this run.
	rnd := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	used := map[int]bool{}
	addr := func() (string, error) {
		p, err := freePort(rnd, used)
		return "127.0.0.1:" + strconv.Itoa(p), err
	}
	var errs []error
	must := func() string {
		a, err := addr()
		errs = append(errs, err)
		return a
	}
	t := &topology.Topology{Centre: topology.Centre{VictoriaMetrics: must(), VMAlert: must(), Postgres: must(), Price: must()}}
	for i := 0; i < o.Alertmanagers; i++ {
		t.Centre.Alertmanagers = append(t.Centre.Alertmanagers, topology.AlertmanagerReplica{Web: must(), Cluster: must()})
	}
	for i := 0; i < o.Receivers; i++ {
		t.Centre.Receivers = append(t.Centre.Receivers, must())
	}
	for _, f := range o.Farms {
		s := topology.Site{Name: f.Site, Exporters: []topology.SiteExporter{{Listen: must(), Ranges: []string{f.Range}}},
			Discovery: map[string]any{"rack": map[string]any{"octet": 4, "per": 8, "format": "rack-%d"}}}
		for i := 0; i < o.ShardsPerSite; i++ {
			s.Shards = append(s.Shards, must())
		}
		t.Sites = append(t.Sites, s)
		c.SimControl[f.Site] = "http://" + must()
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	c.Topology = t
	pg, err := startPostgres(ctx, t.Centre.Postgres)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	c.pg = pg
	fast := o.Fast
	d, err := topology.Generate(t, topology.Options{Root: o.Root, RepoDir: o.Root, ConfigDir: filepath.Join(o.WorkDir, "config"),
		DataDir: filepath.Join(o.WorkDir, "data"), PostgresDSN: pg.dsn("repair"), Fast: &fast})
	if err != nil {
		c.Stop()
		return nil, err
	}
	c.Deploy = d
	for rel, b := range d.Files {
		p := filepath.Join(o.WorkDir, "config", rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			c.Stop()
			return nil, err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			c.Stop()
			return nil, err
		}
	}
	for _, s := range d.Services {
		if s.Data {
			if err := os.MkdirAll(filepath.Join(o.WorkDir, "data", s.Name), 0o755); err != nil {
				c.Stop()
				return nil, err
			}
		}
	}

	// The farms.
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	c.SimToken = hex.EncodeToString(tok)
	tokFile := filepath.Join(o.WorkDir, "minersim.token")
	if err := os.WriteFile(tokFile, []byte(c.SimToken+"\n"), 0o600); err != nil {
		c.Stop()
		return nil, err
	}
	for _, f := range o.Farms {
		ctl := c.SimControl[f.Site][len("http://"):]
		args := []string{"--control.token-file=" + tokFile, "--range=" + f.Range, "--miners=" + strconv.Itoa(f.Miners),
			"--seed=" + strconv.Itoa(f.Seed), "--control.listen-address=" + ctl, "--log.level=warn"}
		if f.Models != "" {
			args = append(args, "--models="+f.Models)
		}
		name := "minersim-" + f.Site
		if err := c.start(name, o.Binaries[MinersimKind], args); err != nil {
			c.Stop()
			return nil, err
		}
		if err := c.waitHTTP(ctx, name, c.SimControl[f.Site]+"/healthz", 30*time.Second); err != nil {
			c.Stop()
			return nil, err
		}
	}
	// The centre first (so the sites' first remote writes and alerts have somewhere to go), then
	// the sites: exporters (their first scan done before a shard asks /sd), then shards.
	order := []topology.Kind{topology.VictoriaMetrics, topology.Price, topology.Alertmanager, topology.Receiver, topology.VMAlert, topology.Exporter, topology.Prometheus}
	for _, k := range order {
		for _, s := range d.Services {
			if s.Kind != k {
				continue
			}
			if err := c.Start(ctx, s.Name); err != nil {
				c.Stop()
				return nil, err
			}
			if k == topology.Exporter {
				if err := waitScan(ctx, "http://"+s.Listen+"/metrics", 60*time.Second); err != nil {
					c.Stop()
					return nil, fmt.Errorf("%s: %w\n%s", s.Name, err, c.LogTail(s.Name))
				}
			}
		}
	}
	return c, nil
}

// Service returns the generated service of that name.
func (c *Cluster) Service(name string) (topology.Service, bool) {
	for _, s := range c.Deploy.Services {
		if s.Name == name {
			return s, true
		}
	}
	return topology.Service{}, false
}

// Start starts (or restarts) one generated service and waits until it is ready.
func (c *Cluster) Start(ctx context.Context, name string) error {
	s, ok := c.Service(name)
	if !ok {
		return fmt.Errorf("no service %s", name)
	}
	bin := c.opts.Binaries[s.Kind]
	if bin == "" {
		return fmt.Errorf("no binary for %s", s.Kind)
	}
	if err := c.start(s.Name, bin, s.Args); err != nil {
		return err
	}
	return c.waitHTTP(ctx, s.Name, "http://"+s.Listen+s.Ready, 90*time.Second)
}

func (c *Cluster) logPath(name string) string {
	return filepath.Join(c.opts.WorkDir, "logs", name+".log")
}

// LogTail is the end of a part's log.
func (c *Cluster) LogTail(name string) string {
	b, _ := os.ReadFile(c.logPath(name))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return fmt.Sprintf("--- %s log (%s):\n%s", name, c.logPath(name), b)
}

// Names of every part started, in order.
func (c *Cluster) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.order...)
}

func (c *Cluster) start(name, bin string, args []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[name]; p != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s is running", name)
		}
	}
	f, err := os.OpenFile(c.logPath(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = c.opts.Root
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: f}
	go func() { _ = cmd.Wait(); close(p.done) }()
	if _, seen := c.procs[name]; !seen {
		c.order = append(c.order, name)
	}
	c.procs[name] = p
	fmt.Fprintf(c.opts.Log, "%s started %-22s pid %d\n", time.Now().Format("15:04:05"), name, cmd.Process.Pid)
	return nil
}

// Kill ends one part at once (SIGKILL), as a crash would.
func (c *Cluster) Kill(name string) error { return c.signal(name, syscall.SIGKILL) }

// Terminate stops one part the orderly way (SIGTERM, SIGKILL after 15 s).
func (c *Cluster) Terminate(name string) error { return c.signal(name, syscall.SIGTERM) }

func (c *Cluster) signal(name string, sig syscall.Signal) error {
	c.mu.Lock()
	p := c.procs[name]
	c.mu.Unlock()
	if p == nil {
		return fmt.Errorf("no process %s", name)
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	fmt.Fprintf(c.opts.Log, "%s stopped %-22s (%s)\n", time.Now().Format("15:04:05"), name, sig)
	return nil
}

// Exited names a part that stopped without being told to, if any.
func (c *Cluster) Exited(expected map[string]bool) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.order {
		if expected[n] {
			continue
		}
		select {
		case <-c.procs[n].done:
			return n
		default:
		}
	}
	return ""
}

// Stop ends everything it started, PostgreSQL last.
func (c *Cluster) Stop() {
	c.mu.Lock()
	procs := make([]*proc, 0, len(c.order))
	for i := len(c.order) - 1; i >= 0; i-- {
		procs = append(procs, c.procs[c.order[i]])
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.done
			}
			p.log.Close()
		}()
	}
	wg.Wait()
	if c.pg != nil {
		c.pg.stop()
	}
}

func (c *Cluster) waitHTTP(ctx context.Context, name, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("status %d", resp.StatusCode)
		} else {
			last = err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.mu.Lock()
		p := c.procs[name]
		c.mu.Unlock()
		if p != nil {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited before it was ready\n%s", name, c.LogTail(name))
			default:
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready at %s after %s: %v\n%s", name, url, timeout, last, c.LogTail(name))
}

// waitScan waits until the exporter reports a completed discovery scan.
func waitScan(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
			resp.Body.Close()
			if scanDone(string(b)) {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("no discovery scan completed within %s", timeout)
}

func scanDone(metrics string) bool {
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, "cgminer_discovery_last_scan_completed_timestamp_seconds "); ok && v != "0" {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------- PostgreSQL

// PGBin is where Debian's postgresql-15 puts its programs.
const PGBin = "/usr/lib/postgresql/15/bin"

type postgres struct {
	dir, data, addr string
	prefix          []string
}

func (p *postgres) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", p.addr, db)
}

func (p *postgres) run(args ...string) error {
	all := append(append([]string{}, p.prefix...), args...)
	out, err := exec.Command(all[0], all[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %w\n%s", args, err, out)
	}
	return nil
}

// startPostgres starts a throw-away PostgreSQL 15 on addr with a database "repair", in a folder of
// its own under the system's temporary folder (as the postgres user when running as root: initdb
// refuses root, and the test's own temporary folders are closed to other users).
func startPostgres(ctx context.Context, addr string) (*postgres, error) {
	if _, err := os.Stat(filepath.Join(PGBin, "initdb")); err != nil {
		return nil, fmt.Errorf("PostgreSQL 15 not installed (apt-get install postgresql-15): %w", err)
	}
	dir, err := os.MkdirTemp("", "multisite-pg-")
	if err != nil {
		return nil, err
	}
	p := &postgres{dir: dir, data: filepath.Join(dir, "data"), addr: addr}
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		p.prefix = []string{"runuser", "-u", "postgres", "--"}
	}
	if err := p.run(filepath.Join(PGBin, "initdb"), "-D", p.data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	opts := fmt.Sprintf("-p %s -c listen_addresses=%s -k %s -c fsync=off -c max_connections=200", port, host, dir)
	if err := p.run(filepath.Join(PGBin, "pg_ctl"), "-D", p.data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := p.run(filepath.Join(PGBin, "createdb"), "-h", host, "-p", port, "-U", "postgres", "repair"); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *postgres) stop() {
	_ = p.run(filepath.Join(PGBin, "pg_ctl"), "-D", p.data, "-m", "immediate", "stop")
	os.RemoveAll(p.dir)
}
