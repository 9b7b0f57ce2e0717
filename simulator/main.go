// Command minersim runs a farm of simulated ASIC miners on loopback addresses that answer the
// cgminer API, Whatsminer API v3 and the stock Antminer HTTP API as their models do, with faults
// injected at run time through a JSON control API or a scenario file.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"

	"github.com/minefarm/cgminer-stack/simulator/control"
	"github.com/minefarm/cgminer-stack/simulator/farm"
)

func main() {
	app := kingpin.New("minersim", "A farm of simulated ASIC miners on loopback (cgminer API, Whatsminer API v3, Antminer HTTP API), with fault injection.")
	var httpPortSet bool
	var (
		rangeFlag    = app.Flag("range", "Loopback CIDR the miners live in (inside 127.0.0.0/8).").Default("127.1.0.0/24").String()
		miners       = app.Flag("miners", "How many miners (0: every host address of --range).").Default("0").Int()
		models       = app.Flag("models", "Model mix, key=weight,… Keys: "+strings.Join(farm.ModelKeys(), ", ")+".").Default(farm.DefaultMix).String()
		seed         = app.Flag("seed", "Seed for models, values and scenario selections.").Default("1").Uint64()
		scenarioFile = app.Flag("scenario", "YAML file of timed faults.").String()
		port         = app.Flag("port", "cgminer API port of every miner that has the API.").Default("4028").Int()
		v3Port       = app.Flag("v3.port", "Whatsminer API v3 port of the models that speak it (m60s); 0 turns it off.").Default(strconv.Itoa(farm.DefaultV3Port)).Int()
		httpPort     = app.Flag("http.port", "Antminer HTTP API port of the models that have it (s19jpro, s9); 0 turns it off. Below 1024 needs root or CAP_NET_BIND_SERVICE; without either, the default 80 is turned off with a warning.").
				IsSetByUser(&httpPortSet).Default("80").Int()
		httpUser     = app.Flag("http.user", "HTTP Digest user of the Antminer HTTP API.").Default(farm.DefaultHTTPUser).String()
		httpPassFile = app.Flag("http.password-file", "File holding the HTTP Digest password (a trailing newline is dropped); without it the stock firmware's, root.").String()
		listen       = app.Flag("control.listen-address", "Loopback address of the control API.").Default("127.0.0.1:9156").String()
		tokenFile    = app.Flag("control.token-file", "File holding the bearer token that setting and clearing faults needs (none: open on loopback).").String()
		slowDelay    = app.Flag("fault.slow-delay", "How long a miner with the slow fault waits before answering.").Default(farm.DefaultSlowDelay.String()).Duration()
		restart      = app.Flag("fault.restart-period", "How often restart_loop restarts the mining software.").Default(farm.DefaultRestartPeriod.String()).Duration()
		devFee       = app.Flag("vnish.devfee", "How much of each hour a VNish miner mines on its DevFee pool.").Default(farm.DefaultDevFee.String()).Duration()
		allowRestart = app.Flag("api.allow-restart", "Carry out the privileged restart command (cgminer/bmminer models), as a miner whose api-allow gives the caller W: access; off: refused with Code 45 like stock firmware.").Bool()
		restartDelay = app.Flag("fault.restart-delay", "How long an accepted restart keeps a miner's API silent (connection refused) before it answers again with uptime reset.").Default(farm.DefaultRestartDelay.String()).Duration()
		restartClrs  = app.Flag("fault.restart-clears", "Faults a restart cures, comma-separated (empty: none).").Default(faultList(farm.DefaultRestartClears)).String()
		stateFile    = app.Flag("state.file", "File that keeps the faults across a restart of minersim: loaded at start, rewritten atomically after every change.").String()
	)
	logConfig := &promslog.Config{}
	promslogflag.AddFlags(app, logConfig)
	app.Version(version.Print("minersim"))
	app.HelpFlag.Short('h')
	kingpin.MustParse(app.Parse(os.Args[1:]))
	logger := promslog.New(logConfig)

	if err := run(logger, config{
		rangeCIDR: *rangeFlag, miners: *miners, models: *models, seed: *seed, scenario: *scenarioFile,
		port: *port, listen: *listen, tokenFile: *tokenFile, slowDelay: *slowDelay, restart: *restart, devFee: *devFee,
		allowRestart: *allowRestart, restartDelay: *restartDelay, restartClears: *restartClrs, stateFile: *stateFile,
		v3Port: *v3Port, httpPort: *httpPort, httpPortSet: httpPortSet, httpUser: *httpUser, httpPasswordFile: *httpPassFile,
	}); err != nil {
		logger.Error("minersim failed", "err", err)
		os.Exit(1)
	}
}

type config struct {
	rangeCIDR, models, scenario, listen, tokenFile string
	miners, port                                   int
	seed                                           uint64
	slowDelay, restart, devFee, restartDelay       time.Duration
	allowRestart                                   bool
	restartClears, stateFile                       string
	v3Port, httpPort                               int
	httpPortSet                                    bool
	httpUser, httpPasswordFile                     string
}

func faultList(fs []farm.Fault) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.String()
	}
	return strings.Join(names, ",")
}

func run(logger *slog.Logger, c config) error {
	prefix, err := netip.ParsePrefix(c.rangeCIDR)
	if err != nil {
		return fmt.Errorf("--range %q: %w", c.rangeCIDR, err)
	}
	if err := farm.CheckLoopback(prefix); err != nil {
		return fmt.Errorf("--range: %w", err)
	}
	if err := checkControlAddress(c.listen); err != nil {
		return err
	}
	mix, err := farm.ParseMix(c.models)
	if err != nil {
		return fmt.Errorf("--models: %w", err)
	}
	clears, err := farm.ParseFaults(c.restartClears)
	if err != nil {
		return fmt.Errorf("--fault.restart-clears: %w", err)
	}
	token := ""
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return fmt.Errorf("--control.token-file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return fmt.Errorf("--control.token-file %s is empty", c.tokenFile)
		}
	} else {
		// Setting and clearing faults is never open: without a token file, a fresh token is made
		// and printed for whoever started the farm.
		buf := make([]byte, 16)
		if _, err := rand.Read(buf); err != nil {
			return fmt.Errorf("generate control token: %w", err)
		}
		token = hex.EncodeToString(buf)
		fmt.Fprintf(os.Stderr, "minersim: control API token (send as Authorization: Bearer): %s\n", token)
	}
	password := farm.Secret("")
	if c.httpPasswordFile != "" {
		if password, err = readPassword(c.httpPasswordFile); err != nil {
			return fmt.Errorf("--http.password-file: %w", err)
		}
	}
	v3 := c.v3Port
	if v3 == 0 {
		v3 = -1 // farm.Config: 0 is the default port, negative none
	}
	if c.httpPort > 0 && c.httpPort < 1024 && !c.httpPortSet && !canBind(prefix, c.httpPort) {
		logger.Warn("Antminer HTTP API off: port 80 needs root or CAP_NET_BIND_SERVICE; give --http.port (e.g. 8080) to serve it",
			"port", c.httpPort)
		c.httpPort = 0
	}
	var plan *farm.Plan
	f, err := farm.New(farm.Config{Range: prefix, Miners: c.miners, Port: c.port, V3Port: v3, HTTPPort: c.httpPort,
		HTTPUser: c.httpUser, HTTPPassword: password, Mix: mix, Seed: c.seed,
		SlowDelay: c.slowDelay, RestartPeriod: c.restart, DevFee: c.devFee, AllowRestart: c.allowRestart,
		RestartDelay: c.restartDelay, RestartClears: clears, StateFile: c.stateFile, Logger: logger})
	if err != nil {
		return err
	}
	if c.scenario != "" {
		data, err := os.ReadFile(c.scenario)
		if err != nil {
			return fmt.Errorf("--scenario: %w", err)
		}
		sc, err := farm.ParseScenario(data)
		if err != nil {
			return fmt.Errorf("--scenario %s: %w", c.scenario, err)
		}
		if plan, err = f.Plan(sc); err != nil {
			return fmt.Errorf("--scenario %s: %w", c.scenario, err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("control API: %w", err)
	}
	began := time.Now()
	if err := f.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	defer f.Close()
	logger.Info("farm started", "miners", f.Len(), "range", prefix, "port", f.Port(), "v3_port", f.V3Port(),
		"http_port", f.HTTPPort(), "seed", c.seed,
		"startup", time.Since(began).Round(time.Millisecond), "allow_restart", c.allowRestart, "state_file", c.stateFile,
		"version", version.Info())
	if plan != nil {
		go plan.Run(ctx, f, time.Second)
	}
	srv := &http.Server{Handler: control.New(f, token, logger).Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	logger.Info("control API listening", "address", ln.Addr().String(), "token", token != "")
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("control API: %w", err)
	}
	return nil
}

// maxPasswordFile bounds the password file read (a password is far shorter).
const maxPasswordFile = 4096

// readPassword reads a password file: at most maxPasswordFile bytes, a trailing line break dropped,
// not empty. Errors name the file, never its content.
func readPassword(path string) (farm.Secret, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxPasswordFile {
		return "", fmt.Errorf("%s: longer than %d bytes", path, maxPasswordFile)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return farm.Secret(pw), nil
}

// canBind reports whether the process may listen on port of the range's first address (a port
// below 1024 needs root or CAP_NET_BIND_SERVICE).
func canBind(prefix netip.Prefix, port int) bool {
	hosts := farm.Hosts(prefix)
	if len(hosts) == 0 {
		return false
	}
	ln, err := net.Listen("tcp4", net.JoinHostPort(hosts[0].String(), strconv.Itoa(port)))
	if err != nil {
		return !errors.Is(err, syscall.EACCES)
	}
	_ = ln.Close()
	return true
}

// checkControlAddress refuses a control listen address that is not loopback.
func checkControlAddress(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("control listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("control listen address %q is not a loopback address: the control API never listens elsewhere", addr)
	}
	return nil
}
