// Command repair_receiver turns Alertmanager notifications into repair tasks for technicians,
// assigns them, follows the repair and checks with Prometheus that it worked before closing.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	toolkit "github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/minefarm/cgminer-stack/receiver/config"
	"github.com/minefarm/cgminer-stack/receiver/lease"
	"github.com/minefarm/cgminer-stack/receiver/notify"
	"github.com/minefarm/cgminer-stack/receiver/remedy"
	"github.com/minefarm/cgminer-stack/receiver/repair"
	"github.com/minefarm/cgminer-stack/receiver/store/postgres"
	"github.com/minefarm/cgminer-stack/receiver/store/sqldb"
	"github.com/minefarm/cgminer-stack/receiver/store/sqlite"
	"github.com/minefarm/cgminer-stack/receiver/verify"
	"github.com/minefarm/cgminer-stack/receiver/web"
)

func main() {
	os.Exit(run())
}

func run() int {
	app := kingpin.New("repair_receiver", "Repair tasks from Alertmanager notifications, verified against Prometheus.")
	var (
		configFile     = app.Flag("config.file", "Receiver configuration file.").Default("receiver.yml").String()
		configCheck    = app.Flag("config.check", "Check the configuration files and exit.").Bool()
		storagePath    = app.Flag("storage.path", "SQLite database file (the embedded default store).").Default("repair_receiver.db").String()
		busyTimeout    = app.Flag("storage.busy-timeout", "SQLite: how long a write waits for a lock another process holds before it fails (and the receiver turns not ready).").Default("10s").Duration()
		postgresDSN    = app.Flag("storage.postgres-dsn", "PostgreSQL connection string (e.g. postgres://user@host/db); replaces the SQLite store.").String()
		promURL        = app.Flag("prometheus.url", "Prometheus base URL used to verify repairs (ALERTS series); empty: resolved notifications alone confirm.").String()
		verifyEvery    = app.Flag("verify.interval", "How often verifying tasks are checked.").Default("30s").Duration()
		sweepEvery     = app.Flag("sweep.interval", "How often grace windows and escalations are checked.").Default("30s").Duration()
		notifyEvery    = app.Flag("notify.interval", "How often the notification outbox is drained.").Default("5s").Duration()
		evidenceEvery  = app.Flag("evidence.interval", "How often new tasks' machine facts (Prometheus) and evidence snapshots (the exporter's debug probe) are fetched.").Default("5s").Duration()
		reconcileEvery = app.Flag("reconcile.interval", "How often quiet tasks are checked against Prometheus for problems that cleared without a resolved notification (silenced or inhibited alerts).").Default("5m").Duration()
		leaseInterval  = app.Flag("lease.interval", "PostgreSQL: how often the replica running the loops checks its lease and the others try to take it (whole seconds, 1s to 8s). A dead leader's loops move to another replica within one interval, a cut-off one's within seven.").Default("5s").Duration()
		remedyFile     = app.Flag("remedy.config.file", "Remediation config file (receiver/README.md, Remediation): restart the mining software of miners whose restart-curable problem persists. Empty: remediation off.").String()
		toolkitFlags   = kingpinflag.AddFlags(app, ":9155")
		logConfig      = &promslog.Config{}
		shutdownGrace  = 10 * time.Second
	)
	promslogflag.AddFlags(app, logConfig)
	app.Version(version.Print("repair_receiver"))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logger := promslog.New(logConfig)

	cfg, err := config.Load(*configFile)
	if err != nil {
		logger.Error("cannot load config", "err", err)
		return 1
	}
	webCfg, err := web.LoadWebConfig(*toolkitFlags.WebConfigFile)
	if err != nil {
		logger.Error("cannot load web config", "err", err)
		return 1
	}
	var remedyCfg *remedy.Config
	if *remedyFile != "" {
		if remedyCfg, err = remedy.LoadConfig(*remedyFile); err != nil {
			logger.Error("cannot load remedy config", "err", err)
			return 1
		}
	}
	if *configCheck {
		logger.Info("config is valid", "file", *configFile)
		return 0
	}
	logger.Info("starting repair_receiver", "version", version.Info(), "build_context", version.BuildContext())
	if cfg.Webhook.Token.Reveal() == "" {
		logger.Warn("webhook.token_file is not set: anyone who can reach the webhook can post alerts")
	}
	if webCfg.Users.Len() == 0 {
		logger.Warn("no basic_auth_users in --web.config.file: the board is read-only and nobody can act on tasks")
	}
	warnRoles(logger, cfg, webCfg)
	logger.Info("escalation", "policy", cfg.Policy().Summary(), "channels", cfg.Notify.Configured())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var st *sqldb.DB
	var locker lease.Locker = lease.Single{} // SQLite: one process, the lease is always held
	if *postgresDSN != "" {
		pl, lerr := lease.NewPostgres(*postgresDSN, *leaseInterval)
		if lerr != nil {
			logger.Error("cannot set up the lease", "err", lerr)
			return 1
		}
		defer pl.Close(context.Background())
		locker = pl
		st, err = postgres.Open(ctx, *postgresDSN)
	} else {
		st, err = sqlite.OpenWith(ctx, *storagePath, sqlite.Options{BusyTimeout: *busyTimeout})
	}
	if err != nil {
		// The error may quote the DSN's host and user, never its password (pgx redacts it).
		logger.Error("cannot open store", "err", err)
		return 1
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("repair_receiver"))
	sc := config.NewSafeConfig(cfg)
	var users atomic.Pointer[web.Users]
	users.Store(webCfg.Users)

	metrics := repair.NewMetrics(reg, st, logger)
	svc := repair.New(st, sc.Get, repair.SystemClock{}, logger, metrics)
	if err := svc.LoadWatchdog(ctx); err != nil {
		logger.Warn("cannot read the last watchdog time", "err", err)
	}

	var reloadMu sync.Mutex
	reload := func() error {
		reloadMu.Lock()
		defer reloadMu.Unlock()
		if err := sc.Reload(*configFile); err != nil {
			logger.Error("reload failed; keeping the old config", "err", err)
			return err
		}
		wc, err := web.LoadWebConfig(*toolkitFlags.WebConfigFile)
		if err != nil {
			logger.Error("web config reload failed; keeping the old users", "err", err)
			return err
		}
		users.Store(wc.Users)
		warnRoles(logger, sc.Get(), wc)
		logger.Info("escalation", "policy", sc.Get().Policy().Summary(), "channels", sc.Get().Notify.Configured())
		logger.Info("configuration reloaded")
		return nil
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)

	srvWeb, err := web.New(web.Options{Service: svc, Store: st, Config: sc.Get, Users: users.Load,
		Reload: reload, Logger: logger, Registry: reg, Metrics: metrics})
	if err != nil {
		logger.Error("web", "err", err)
		return 1
	}

	var wg sync.WaitGroup
	vm := verify.NewMetrics(reg)
	loop := &verify.Loop{Svc: svc, Logger: logger, Config: sc.Get, Metrics: vm}
	// The machine's facts (model, firmware, serial, MAC, probe error) from Prometheus, and the
	// evidence snapshot from the exporter's debug probe: loops of their own, never in the webhook.
	facts := &verify.Facts{Store: st, Config: sc.Get, Logger: logger, Metrics: vm}
	snaps := &verify.Snapshotter{Store: st, Config: sc.Get, Logger: logger, Metrics: vm}
	if *promURL != "" {
		loop.Querier = &verify.Prometheus{URL: *promURL}
		facts.Querier = loop.Querier
	} else {
		logger.Warn("--prometheus.url not set: repairs are confirmed by resolved notifications alone")
	}
	// The outbox goes through the service: a delivery given up may move its task up the ladder.
	sender := notify.NewSender(svc, sc.Get, func() time.Time { return time.Now().UTC() }, logger, reg)
	sender.Facts = st
	sender.Problems = st
	if *promURL != "" {
		sender.FactsWait = 15 * time.Second // a new task's first message names the model (the facts loop asks within seconds)
	}
	remedyMetrics := remedy.NewMetrics(reg)
	remedyOn := remedyCfg != nil && len(remedyCfg.Rules) > 0
	if remedyOn {
		for _, r := range remedyCfg.Rules {
			logger.Info("remediation rule", "rule", r.Name, "mode", r.Mode, "alerts", r.Alerts, "after_checks", r.AfterChecks,
				"per_miner_window", r.PerMinerWindow, "per_site_per_hour", r.PerSitePerHour)
		}
	}
	// Every replica takes webhooks; the loops run on the one holding the lease (package lease),
	// and stop, all of them, before it gives the lease up or tries to take it again.
	lead := func(ctx context.Context) {
		var lw sync.WaitGroup
		lw.Go(func() { loop.Run(ctx, *verifyEvery) })
		lw.Go(func() { reconcile(ctx, loop, svc, sc.Get, *reconcileEvery, logger) })
		lw.Go(func() { sender.Run(ctx, *notifyEvery) })
		lw.Go(func() { sweep(ctx, svc, *sweepEvery, logger) })
		lw.Go(func() { facts.Run(ctx, *evidenceEvery) })
		lw.Go(func() { snaps.Run(ctx, *evidenceEvery) })
		if remedyOn {
			// Opt-in remediation: its own config, allowlist and client; the exporter stays
			// read-only. A new loop for each term: its streaks of failed checks start over.
			rl := &remedy.Loop{Config: remedyCfg, Tasks: st, Svc: svc, Logger: logger, Metrics: remedyMetrics,
				Volatile: func() []string { return sc.Get().VolatileLabels }}
			if *promURL != "" {
				rl.Querier = &verify.Prometheus{URL: *promURL}
			}
			lw.Go(func() { rl.Run(ctx) })
		}
		lw.Wait()
	}
	elector := &lease.Elector{Locker: locker, Retry: *leaseInterval, Logger: logger, Metrics: lease.NewMetrics(reg)}
	wg.Go(func() { elector.Run(ctx, lead) })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-hup:
				_ = reload()
			case <-ctx.Done():
				return
			}
		}
	}()

	srv := newHTTPServer(srvWeb.Handler())
	errc := make(chan error, 1)
	go func() { errc <- serve(srv, toolkitFlags, webCfg, logger) }()
	code := 0
	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server", "err", err)
			code = 1
		}
		stop()
	case <-ctx.Done():
		logger.Info("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	_ = srv.Shutdown(sctx)
	wg.Wait()
	return code
}

// HTTP server bounds: headers (request line included) of at most 16 KiB (431 above); a client gets 10 s to
// send them and 60 s for the whole request (the webhook may carry up to webhook.max_body_bytes),
// 60 s to read the answer; idle keep-alive connections close after 2 minutes.
const (
	maxHeaderBytes    = 16 << 10
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
)

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, MaxHeaderBytes: maxHeaderBytes, ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout: readTimeout, WriteTimeout: writeTimeout, IdleTimeout: idleTimeout}
}

// warnRoles logs the configured users who have no role (they can only read) and the warnings of
// the configuration's people section.
func warnRoles(logger *slog.Logger, cfg *config.Config, wc *web.WebConfig) {
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	if len(cfg.People) == 0 {
		return
	}
	var viewers []string
	for _, u := range wc.Users.Names() {
		if _, listed := cfg.People[u]; !listed {
			viewers = append(viewers, u)
		}
	}
	if len(viewers) > 0 {
		logger.Warn("users in --web.config.file without a role in people are viewers (read only)", "users", viewers)
	}
}

// serve listens on every --web.listen-address. The toolkit's own server would enforce basic auth on
// every path, the webhook included, but Alertmanager authenticates with a bearer token; so the
// receiver checks users itself (package web) and takes only the TLS settings from the toolkit.
func serve(srv *http.Server, flags *toolkit.FlagConfig, wc *web.WebConfig, logger *slog.Logger) error {
	if wc.TLS != nil {
		tc, err := toolkit.ConfigToTLSConfig(wc.TLS)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		srv.TLSConfig = tc
	}
	errc := make(chan error, len(*flags.WebListenAddresses))
	for _, addr := range *flags.WebListenAddresses {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", addr, err)
		}
		logger.Info("listening", "address", l.Addr().String(), "tls", wc.TLS != nil)
		go func() {
			if wc.TLS != nil {
				errc <- srv.ServeTLS(l, "", "")
				return
			}
			errc <- srv.Serve(l)
		}()
	}
	return <-errc
}

func reconcile(ctx context.Context, loop *verify.Loop, svc *repair.Service, cfg func() *config.Config, every time.Duration, logger *slog.Logger) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			if _, err := loop.Reconcile(ctx, svc, cfg().Windows.ReconcileAfter); err != nil && ctx.Err() == nil {
				logger.Error("reconciliation", "err", err)
			}
		}
	}
}

func sweep(ctx context.Context, svc *repair.Service, every time.Duration, logger *slog.Logger) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		n, err := svc.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			logger.Error("sweep", "err", err)
		} else if n > 0 {
			logger.Info("sweep changed tasks", "tasks", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}
