// Package stack starts the whole system as plain processes: minersim (the simulated farm),
// cgminer_exporter with discovery over the farm's range, Prometheus and Alertmanager (the current
// ones built into .tools/ by default: see Binaries), repair_receiver on SQLite with its escalation
// ladder and remediation, mailpit (a real SMTP server with a web UI, where every e-mail of
// Alertmanager and the receiver lands) and, inside the calling process, a loopback fake of the
// Telegram Bot API (TelegramFake). `make run` and the end-to-end test both use it, so what the
// test proves is what an operator runs.
//
// The configs are the repository's own (prometheus.yml, alertmanager.yml, rules/, receiver/),
// copied into the work folder with the addresses and ports of this run, absolute paths, the mail
// server and the Telegram fake in place of the real ones, and the clocks of the run's Speed: Demo
// (make run) shortens the windows so a newcomer sees escalation and verification within
// minutes, Fast (tests) divides every interval, `for:` and window so a fault becomes a task in
// seconds. Timing says what a run uses; Banner prints it.
package stack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

// Speed is how fast a run's clocks go.
type Speed int

const (
	// Real keeps the repository's intervals, `for:` and windows (make run FARM=real).
	Real Speed = iota
	// Demo is make run's: scrapes and rule evaluation every 15 s, `for:` ÷5, short receiver windows
	// and escalation timeouts (Timing, printed at start).
	Demo
	// Fast is the tests': `for:` ÷30, scrapes every 2 s, receiver windows and timeouts ÷60.
	Fast
)

func (s Speed) String() string {
	switch s {
	case Demo:
		return "demo"
	case Fast:
		return "fast"
	}
	return "real"
}

// Site is one discovery site of the simulated farm: its name and the parts of the farm's range
// that belong to it.
type Site struct {
	Name   string
	Ranges []string
}

// Options describe one run.
type Options struct {
	Root    string // repository root
	BinDir  string // cgminer_exporter, repair_receiver, minersim
	WorkDir string // configs, data, logs
	// Prometheus and Alertmanager binaries (a path, or a name looked up in PATH); Binaries finds
	// the current ones. Mailpit is mailpit's binary (FindMailpit).
	Prometheus, Alertmanager, Mailpit string
	Speed                             Speed
	// RealVerification keeps the repository's settle and verify_window and the receiver's default
	// --verify.interval (30s) at any Speed, so a test measures how long a failed repair takes to
	// come back as it would in production.
	RealVerification bool
	// Farm: the simulated farm's range, size and scenario, and its sites (default: one, site-a,
	// over the whole range). RealFarm skips the simulator and uses ExporterConfig as it is (its
	// discovery sites are the real farm's).
	SimRange       string
	Miners         int
	Models         string
	Scenario       string
	Seed           int
	Sites          []Site
	RealFarm       bool
	ExporterConfig string // used as is when RealFarm
	// SimWeb, when set, has the simulated Antminers (s19jpro, s9) serve their HTTP API with these
	// credentials (minersim --http.*), and the exporter read it through its modules' web: block
	// (serial, MAC, board serials). Without it their HTTP API is off.
	SimWeb *SimWeb
	// TelegramBlocked are chats whose user "blocked the bot": the fake answers 403 (a drill of an
	// undeliverable notification).
	TelegramBlocked []string
	// Ports; zero picks the standard ones (Prometheus 9090, Alertmanager 9093, exporter 9154,
	// receiver 9155, minersim control 9156, Telegram fake 9157, mailpit 8025 and SMTP 1025)
	// unless FreePorts or Speed Fast, where free ones are chosen.
	FreePorts                                                                    bool
	PrometheusPort, AlertmanagerPort, ExporterPort, ReceiverPort, SimControlPort int
	TelegramPort, MailpitPort, SMTPPort                                          int
	Log                                                                          io.Writer
}

// SimWeb is the simulated Antminers' HTTP API: its port and HTTP Digest login.
type SimWeb struct {
	Port           int
	User, Password string
}

// webModules are the exporter modules (cgminer.yml modules_by_model) of the simulated models that
// have the Antminer HTTP API.
var webModules = []string{"antminer_s19jpro", "antminer_s9"}

// Stack is a running system.
type Stack struct {
	opts  Options
	procs []*proc
	URLs  URLs
	// SimToken is the bearer token of the simulator's control API (its fault endpoints).
	SimToken string
	// Telegram is the loopback fake of the Bot API that Alertmanager and the receiver send to.
	Telegram *TelegramFake
	// SMTP is mailpit's SMTP address (host:port).
	SMTP string
	// Timing is what this run's clocks are.
	Timing Timing

	prometheusVersion, alertmanagerVersion version
	alertmanagerPath                       string
	firstMiner                             string // the farm's first miner (simulated farm only)
	links                                  []Link
	chats                                  map[string]string // Telegram chat id → whom it reaches
}

// URLs of the running parts.
type URLs struct {
	Prometheus, Alertmanager, Exporter, Receiver, SimControl, Mailpit, Telegram string
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// freePort returns a free loopback port and the listener that holds it until the caller closes
// it, so that the ports of one run are distinct.
func freePort() (int, io.Closer) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, io.NopCloser(nil)
	}
	return ln.Addr().(*net.TCPAddr).Port, ln
}

func (o *Options) defaults() {
	free := o.FreePorts || o.Speed == Fast
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	pick := func(p *int, std int) {
		if *p == 0 {
			if free {
				var c io.Closer
				*p, c = freePort()
				held = append(held, c)
			} else {
				*p = std
			}
		}
	}
	pick(&o.PrometheusPort, 9090)
	pick(&o.AlertmanagerPort, 9093)
	pick(&o.ExporterPort, 9154)
	pick(&o.ReceiverPort, 9155)
	pick(&o.SimControlPort, 9156)
	pick(&o.TelegramPort, 9157)
	pick(&o.MailpitPort, 8025)
	pick(&o.SMTPPort, 1025)
	if o.SimRange == "" {
		o.SimRange = "127.1.0.0/25"
	}
	if len(o.Sites) == 0 {
		o.Sites = []Site{{Name: "site-a", Ranges: []string{o.SimRange}}}
	}
	if o.Miners == 0 {
		o.Miners = 100
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Start brings the stack up and waits until every part answers.
func Start(ctx context.Context, o Options) (*Stack, error) {
	o.defaults()
	s := &Stack{opts: o, Timing: timingFor(o.Speed, o.RealVerification), chats: map[string]string{}}
	for _, b := range []struct {
		name, bin string
		v         *version
	}{{"Prometheus", o.Prometheus, &s.prometheusVersion}, {"Alertmanager", o.Alertmanager, &s.alertmanagerVersion}} {
		if b.bin == "" {
			return nil, fmt.Errorf("no %s binary given (stack.Binaries finds the one `make peers` builds)", b.name)
		}
		path, err := exec.LookPath(b.bin)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.name, err)
		}
		v, ok, err := binaryVersion(ctx, path)
		if err != nil {
			return nil, err
		}
		if !ok {
			fmt.Fprintf(o.Log, "%s %s does not say its version: no web UI links\n", b.name, path)
		}
		*b.v = v
		if b.name == "Alertmanager" {
			s.alertmanagerPath = path
		}
	}
	if o.Mailpit == "" {
		return nil, fmt.Errorf("no mailpit binary given (stack.FindMailpit finds the one `make peers` builds)")
	}
	for _, d := range []string{"prometheus", "alertmanager", "logs"} {
		if err := os.MkdirAll(filepath.Join(o.WorkDir, d), 0o755); err != nil {
			return nil, err
		}
	}
	host := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	s.SMTP = host(o.SMTPPort)
	s.URLs = URLs{
		Prometheus:   "http://" + host(o.PrometheusPort),
		Alertmanager: "http://" + host(o.AlertmanagerPort),
		Exporter:     "http://" + host(o.ExporterPort),
		Receiver:     "http://" + host(o.ReceiverPort),
		Mailpit:      "http://" + host(o.MailpitPort),
		Telegram:     "http://" + host(o.TelegramPort),
	}
	cfgs, err := s.writeConfigs()
	if err != nil {
		return nil, err
	}
	token, err := os.ReadFile(filepath.Join(o.Root, "secrets", "telegram-bot-token"))
	if err != nil {
		return nil, fmt.Errorf("the Telegram fake needs the bot token Alertmanager and the receiver send: %w", err)
	}
	s.Telegram, err = StartTelegramFake(TelegramOptions{Addr: host(o.TelegramPort), Token: strings.TrimSpace(string(token)),
		Chats: s.chats, Blocked: o.TelegramBlocked, LogFile: filepath.Join(o.WorkDir, "telegram.jsonl")})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "started %-16s in this process, %s, log %s\n", "telegram fake", s.URLs.Telegram, filepath.Join(o.WorkDir, "telegram.jsonl"))
	if err := s.start("mailpit", o.Mailpit, "--smtp="+s.SMTP, "--listen="+host(o.MailpitPort),
		"--database="+filepath.Join(o.WorkDir, "mailpit.db"), "--disable-version-check", "--smtp-disable-rdns",
		"--block-remote-css-and-fonts", "--max=5000"); err != nil {
		return nil, s.fail(err)
	}
	if err := s.waitReady(ctx, "mailpit", s.URLs.Mailpit+"/api/v1/info", 30*time.Second); err != nil {
		return nil, s.fail(fmt.Errorf("mailpit %w\n%s", err, s.logTail("mailpit")))
	}
	if err := waitTCP(ctx, s.SMTP, 10*time.Second); err != nil {
		return nil, s.fail(fmt.Errorf("mailpit SMTP: %w\n%s", err, s.logTail("mailpit")))
	}
	bin := func(n string) string { return filepath.Join(o.BinDir, n) }
	if !o.RealFarm {
		s.URLs.SimControl = "http://" + host(o.SimControlPort)
		tok := make([]byte, 16)
		_, _ = rand.Read(tok)
		s.SimToken = hex.EncodeToString(tok)
		tokFile := filepath.Join(o.WorkDir, "minersim.token")
		if err := os.WriteFile(tokFile, []byte(s.SimToken+"\n"), 0o600); err != nil {
			return nil, s.fail(err)
		}
		args := []string{"--control.token-file=" + tokFile, "--range=" + o.SimRange, "--miners=" + strconv.Itoa(o.Miners), "--seed=" + strconv.Itoa(o.Seed),
			"--control.listen-address=" + host(o.SimControlPort), "--api.allow-restart", "--fault.restart-delay=" + s.Timing.RestartDelay.String(),
			"--state.file=" + filepath.Join(o.WorkDir, "minersim-state.json")}
		if o.Models != "" {
			args = append(args, "--models="+o.Models)
		}
		if w := o.SimWeb; w != nil {
			args = append(args, "--http.port="+strconv.Itoa(w.Port), "--http.user="+w.User, "--http.password-file="+s.webPasswordFile())
		} else {
			args = append(args, "--http.port=0")
		}
		if o.Scenario != "" {
			args = append(args, "--scenario="+o.Scenario)
		}
		if err := s.start("minersim", bin("minersim"), args...); err != nil {
			return nil, s.fail(err)
		}
		if err := s.waitReady(ctx, "minersim", s.URLs.SimControl+"/miners", 30*time.Second); err != nil {
			return nil, s.fail(fmt.Errorf("minersim %w\n%s", err, s.logTail("minersim")))
		}
		s.firstMiner = firstMinerAddress(ctx, s.URLs.SimControl)
	}
	receiverArgs := []string{"--config.file=" + cfgs.receiver, "--web.listen-address=" + host(o.ReceiverPort),
		"--web.config.file=" + filepath.Join(o.Root, "receiver", "web.yml"), "--storage.path=" + filepath.Join(o.WorkDir, "receiver.db"),
		"--prometheus.url=" + s.URLs.Prometheus}
	receiverArgs = append(receiverArgs, s.Timing.receiverFlags()...)
	if cfgs.remedy != "" {
		receiverArgs = append(receiverArgs, "--remedy.config.file="+cfgs.remedy)
	}
	steps := []struct {
		name, bin string
		args      []string
		ready     string
	}{
		{"cgminer_exporter", bin("cgminer_exporter"), []string{"--config.file=" + cfgs.exporter, "--web.listen-address=" + host(o.ExporterPort),
			"--discovery.state-file=" + filepath.Join(o.WorkDir, "inventory.json")}, s.URLs.Exporter + "/-/healthy"},
		{"repair_receiver", bin("repair_receiver"), receiverArgs, s.URLs.Receiver + "/-/healthy"},
		{"alertmanager", o.Alertmanager, []string{"--config.file=" + cfgs.alertmanager, "--storage.path=" + filepath.Join(o.WorkDir, "alertmanager"),
			"--web.listen-address=" + host(o.AlertmanagerPort), "--cluster.listen-address=", "--web.external-url=" + s.URLs.Alertmanager}, s.URLs.Alertmanager + "/-/ready"},
		{"prometheus", o.Prometheus, append([]string{"--config.file=" + cfgs.prometheus, "--storage.tsdb.path=" + filepath.Join(o.WorkDir, "prometheus"),
			"--web.listen-address=" + host(o.PrometheusPort), "--web.enable-lifecycle", "--web.external-url=" + s.URLs.Prometheus}, promFlags(o.Speed)...), s.URLs.Prometheus + "/-/ready"},
	}
	for _, st := range steps {
		if err := s.start(st.name, st.bin, st.args...); err != nil {
			return nil, s.fail(err)
		}
		if err := s.waitReady(ctx, st.name, st.ready, 60*time.Second); err != nil {
			return nil, s.fail(fmt.Errorf("%s %w\n%s", st.name, err, s.logTail(st.name)))
		}
		if st.name == "cgminer_exporter" && !o.RealFarm {
			// Let the first scan finish so Prometheus's first /sd already lists the whole farm.
			if err := waitScan(ctx, s.URLs.Exporter+"/metrics", 60*time.Second); err != nil {
				return nil, s.fail(fmt.Errorf("cgminer_exporter: %w", err))
			}
		}
	}
	s.links = s.answering(ctx, s.candidateLinks(ctx))
	return s, nil
}

// webPasswordFile holds SimWeb's password for minersim and the exporter.
func (s *Stack) webPasswordFile() string { return filepath.Join(s.opts.WorkDir, "antminer-web.pass") }

func promFlags(sp Speed) []string {
	switch sp {
	case Fast:
		return []string{"--rules.alert.resend-delay=1s", "--rules.alert.for-grace-period=1s"}
	case Demo:
		return []string{"--rules.alert.resend-delay=15s", "--rules.alert.for-grace-period=1m"}
	}
	return nil
}

func (s *Stack) logPath(name string) string {
	return filepath.Join(s.opts.WorkDir, "logs", name+".log")
}

// logTail is the end of a part's log, for error messages.
func (s *Stack) logTail(name string) string {
	b, _ := os.ReadFile(s.logPath(name))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return fmt.Sprintf("--- %s log (%s):\n%s", name, s.logPath(name), b)
}

func (s *Stack) start(name, bin string, args ...string) error {
	f, err := os.Create(s.logPath(name))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.opts.Root
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: f}
	go func() { _ = cmd.Wait(); close(p.done) }()
	s.procs = append(s.procs, p)
	fmt.Fprintf(s.opts.Log, "started %-16s pid %d, log %s\n", name, cmd.Process.Pid, s.logPath(name))
	return nil
}

func (s *Stack) fail(err error) error {
	s.Stop()
	return err
}

// Exited returns the name of a part that stopped on its own, if any.
func (s *Stack) Exited() string {
	for _, p := range s.procs {
		select {
		case <-p.done:
			return p.name
		default:
		}
	}
	return ""
}

// Stop ends every part it started (SIGTERM, then SIGKILL after 10 s), in reverse order.
func (s *Stack) Stop() {
	var wg sync.WaitGroup
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
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
	s.procs = nil
	if s.Telegram != nil {
		_ = s.Telegram.Close()
		s.Telegram = nil
	}
}

// Process returns a part's process by name, for tests that kill parts.
func (s *Stack) Process(name string) *os.Process {
	for _, p := range s.procs {
		if p.name == name {
			return p.cmd.Process
		}
	}
	return nil
}

// waitReady waits until the part named answers url, and fails at once when it exits first (or
// answers only because another process holds its port).
func (s *Stack) waitReady(ctx context.Context, name, url string, timeout time.Duration) error {
	var done <-chan struct{}
	for _, p := range s.procs {
		if p.name == name {
			done = p.done
		}
	}
	return waitHTTP(ctx, url, timeout, done)
}

// waitHTTP waits until url answers below 500; a close of exited (nil: none) ends the wait with
// an error.
func waitHTTP(ctx context.Context, url string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	var last error
	gone := func() bool {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	}
	for time.Now().Before(deadline) {
		if gone() {
			return fmt.Errorf("exited while starting")
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				if time.Sleep(50 * time.Millisecond); gone() {
					return fmt.Errorf("exited while starting (something else answers at %s)", url)
				}
				return nil
			}
			last = fmt.Errorf("status %d", resp.StatusCode)
		} else {
			last = err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready at %s after %s: %v", url, timeout, last)
}

// waitTCP waits until something accepts connections at addr.
func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		last = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens at %s after %s: %v", addr, timeout, last)
}

// waitScan waits until the exporter reports a completed discovery scan.
func waitScan(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "cgminer_discovery_last_scan_completed_timestamp_seconds "); ok && v != "0" {
					return nil
				}
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("no discovery scan completed within %s", timeout)
}

type configFiles struct{ exporter, prometheus, alertmanager, receiver, remedy string }

// writeConfigs writes this run's configs into the work folder.
func (s *Stack) writeConfigs() (configFiles, error) {
	o := s.opts
	w := o.WorkDir
	out := configFiles{
		exporter:     filepath.Join(w, "cgminer.yml"),
		prometheus:   filepath.Join(w, "prometheus.yml"),
		alertmanager: filepath.Join(w, "alertmanager.yml"),
		receiver:     filepath.Join(w, "receiver.yml"),
	}
	// The exporter: the example's modules, discovery over the simulated farm.
	if o.RealFarm {
		b, err := os.ReadFile(o.ExporterConfig)
		if err != nil {
			return out, err
		}
		if err := os.WriteFile(out.exporter, b, 0o644); err != nil {
			return out, err
		}
	} else if err := s.exporterConfig(out.exporter); err != nil {
		return out, err
	}
	port := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	ports := strings.NewReplacer(
		"127.0.0.1:9090", port(o.PrometheusPort),
		"localhost:9090", port(o.PrometheusPort),
		"127.0.0.1:9093", port(o.AlertmanagerPort),
		"localhost:9093", port(o.AlertmanagerPort),
		"127.0.0.1:9154", port(o.ExporterPort),
		"localhost:9154", port(o.ExporterPort),
		"127.0.0.1:9155", port(o.ReceiverPort),
		"localhost:9155", port(o.ReceiverPort),
	)
	if err := s.prometheusConfig(ports, out.prometheus); err != nil {
		return out, fmt.Errorf("prometheus.yml: %w", err)
	}
	if err := s.alertmanagerConfig(ports, out.alertmanager); err != nil {
		return out, fmt.Errorf("alertmanager.yml: %w", err)
	}
	if err := s.receiverConfig(ports, out.receiver); err != nil {
		return out, fmt.Errorf("receiver.yml: %w", err)
	}
	if !o.RealFarm {
		// The demo remediation restarts simulated miners only: it is not used on a real farm.
		out.remedy = filepath.Join(w, "remedy.yml")
		if err := s.remedyConfig(out.remedy); err != nil {
			return out, fmt.Errorf("remedy.yml: %w", err)
		}
	}
	return out, nil
}

// exporterConfig is the example's modules with discovery over the simulated farm: the repository's
// discovery settings (modules by model, forget_after), this run's interval, and one site per
// Options.Sites with the example's position rules (rack per 32 addresses, slot within it).
func (s *Stack) exporterConfig(path string) error {
	o := s.opts
	b, err := os.ReadFile(filepath.Join(o.Root, "exporter", "cgminer.yml"))
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	if w := o.SimWeb; w != nil {
		if err := os.WriteFile(s.webPasswordFile(), []byte(w.Password+"\n"), 0o600); err != nil {
			return err
		}
		mods, _ := doc["modules"].(map[string]any)
		for _, name := range webModules {
			if m, ok := mods[name].(map[string]any); ok {
				m["web"] = map[string]any{"api": "auto", "username": w.User, "password_file": s.webPasswordFile(), "port": w.Port, "timeout": "1s"}
			}
		}
	}
	disc, _ := doc["discovery"].(map[string]any)
	if disc == nil {
		disc = map[string]any{}
	}
	delete(disc, "inventory_file")
	disc["interval"] = formatDuration(s.Timing.Discovery)
	disc["timeout"], disc["rate"], disc["concurrency"] = "1s", 2000, 64
	var sites []any
	for _, st := range o.Sites {
		sites = append(sites, map[string]any{
			"name": st.Name, "ranges": st.Ranges,
			"rack": map[string]any{"octet": 4, "per": 32, "format": "rack-%d"},
			"slot": map[string]any{"octet": 4, "modulo": 32, "base": 1},
		})
	}
	disc["sites"] = sites
	doc["discovery"] = disc
	return writeYAML(path, doc)
}

// scale divides a duration string by the fast-mode factor, keeping at least min.
func scale(v string, div float64, min time.Duration) string {
	d, err := parseDuration(v)
	if err != nil || d == 0 {
		return v
	}
	n := time.Duration(float64(d) / div)
	if n < min {
		n = min
	}
	return formatDuration(n)
}

// parseDuration reads Prometheus durations (1h30m, 5m, 10s, 1d, 1w).
func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	var total time.Duration
	for v != "" {
		i := 0
		for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("bad duration")
		}
		n, err := strconv.ParseFloat(v[:i], 64)
		if err != nil {
			return 0, err
		}
		j := i
		for j < len(v) && (v[j] < '0' || v[j] > '9') {
			j++
		}
		unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour}[v[i:j]]
		if unit == 0 {
			return 0, fmt.Errorf("bad unit %q", v[i:j])
		}
		total += time.Duration(n * float64(unit))
		v = v[j:]
	}
	return total, nil
}

func formatDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
}

func writeYAML(path string, doc any) error {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
