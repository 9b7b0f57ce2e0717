// Command cgminer_exporter is a Prometheus multi-target exporter for ASIC miners that speak the
// cgminer API (TCP 4028): GET /probe?target=…&module=… probes one miner on demand.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"go.yaml.in/yaml/v3"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/config"
	"github.com/minefarm/cgminer-stack/exporter/discovery"
	"github.com/minefarm/cgminer-stack/exporter/inventory"
	"github.com/minefarm/cgminer-stack/exporter/probe"
	"github.com/minefarm/cgminer-stack/exporter/webapi"
	"github.com/minefarm/cgminer-stack/exporter/wm3"
)

func main() {
	os.Exit(run())
}

// webConfigUsers returns the basic-auth users the exporter-toolkit web config names now (nil
// when there is no file, it cannot be read, or it names none).
func webConfigUsers(file string) map[string]string {
	if file == "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var wc struct {
		Users map[string]string `yaml:"basic_auth_users"`
	}
	if yaml.Unmarshal(b, &wc) != nil {
		return nil
	}
	return wc.Users
}

// reloadHandler serves POST /-/reload. A mutating endpoint: a browser's cross-origin request is
// refused (403), so a page the operator visits cannot reload the exporter; otherwise a local
// caller may reload, and one from another host only while the web config (read at each request,
// as exporter-toolkit reads it to authenticate) names basic-auth users and the caller came as one
// of them.
func reloadHandler(webConfigFile string, reload func() error) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fromLoopback(r) {
			user, _, ok := r.BasicAuth()
			if _, known := webConfigUsers(webConfigFile)[user]; !ok || !known {
				http.Error(w, "reload from another host needs basic_auth_users in --web.config.file (or send SIGHUP)", http.StatusForbidden)
				return
			}
		}
		if err := reload(); err != nil {
			http.Error(w, fmt.Sprintf("reload failed: %v", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "config reloaded")
	})
	return http.NewCrossOriginProtection().Handler(h)
}

// maxModuleTimeout is the longest timeout config accepts for a module.
const maxModuleTimeout = 5 * time.Minute

// newServer is the HTTP server with every timeout set: slow or idle clients cannot hold
// connections (and file descriptors) open. WriteTimeout outlasts the longest probe; /probe sets
// its own write deadline from the probe's, and every other endpoint has responseTimeout.
func newServer(h http.Handler, timeoutOffset time.Duration) *http.Server {
	return &http.Server{
		Handler:           writeDeadline(h, responseTimeout),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      maxModuleTimeout + timeoutOffset + time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
}

// responseTimeout is how long a response other than a probe's may take to be written.
const responseTimeout = time.Minute

// writeDeadline gives each request a write deadline d from its start; a handler may move it
// (the probe handler does, to its probe's deadline).
func writeDeadline(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
		h.ServeHTTP(w, r)
	})
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func run() int {
	app := kingpin.New("cgminer_exporter", "Prometheus exporter for ASIC miners speaking the cgminer API.")
	var (
		configFile    = app.Flag("config.file", "Exporter configuration file.").Default("cgminer.yml").String()
		configCheck   = app.Flag("config.check", "Check the configuration file and exit.").Bool()
		maxConcurrent = app.Flag("probe.max-concurrent", "Probes talking to miners at once.").Default("1024").Int()
		timeoutOffset = app.Flag("probe.timeout-offset", "Taken off Prometheus's scrape timeout so the answer arrives in time.").Default("500ms").Duration()
		debugRate     = app.Flag("probe.debug-rate", "debug=true probes per second, all clients together (429 beyond); 0 turns them off.").Default("1").Float64()
		debugBurst    = app.Flag("probe.debug-burst", "debug=true probes allowed at once above --probe.debug-rate.").Default("5").Int()
		stateFile     = app.Flag("discovery.state-file", "The miner inventory's file (what answered, family, identity, discovery's listing), kept across restarts (silent miners stay in /sd until forget_after); empty keeps it in memory only.").Default("").String()
		saveInterval  = app.Flag("inventory.save-interval", "How often the inventory (--discovery.state-file) is written when something in it changed; also at shutdown, never per probe.").Default("1m").Duration()
		maxRecords    = app.Flag("inventory.max-records", "Miners the inventory remembers at most (the stalest that discovery does not list make room).").Default("1048576").Int()
		webLogins     = app.Flag("web.max-concurrent-logins", "Logins to miners' web APIs (Braiins OS, VNish) in flight at once, all miners together; one miner never has two.").Default("16").Int()
		toolkitFlags  = kingpinflag.AddFlags(app, ":9154")
	)
	promslogConfig := &promslog.Config{}
	promslogflag.AddFlags(app, promslogConfig)
	app.Version(version.Print("cgminer_exporter"))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logger := promslog.New(promslogConfig)
	if !(*debugRate >= 0) || *debugBurst < 1 || *timeoutOffset < 0 || *timeoutOffset > time.Minute {
		fmt.Fprintln(os.Stderr, "--probe.debug-rate must be ≥ 0, --probe.debug-burst ≥ 1, --probe.timeout-offset 0 to 1m")
		return 2
	}
	if *saveInterval < time.Second || *maxRecords < 1 || *maxRecords > 1<<24 {
		fmt.Fprintln(os.Stderr, "--inventory.save-interval must be at least 1s, --inventory.max-records 1 to 16777216")
		return 2
	}
	if *webLogins < 1 || *webLogins > 4096 {
		fmt.Fprintln(os.Stderr, "--web.max-concurrent-logins must be 1 to 4096")
		return 2
	}
	if *debugRate == 0 {
		*debugRate = -1 // probe.Options: negative is off, 0 the default
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("cgminer_exporter"))
	sc := config.NewSafeConfig(reg)
	if err := sc.Reload(*configFile, logger); err != nil {
		logger.Error("cannot load config", "file", *configFile, "err", err)
		return 1
	}
	if *configCheck {
		logger.Info("config is valid", "file", *configFile)
		return 0
	}
	logger.Info("starting cgminer_exporter", "version", version.Info(), "build_context", version.BuildContext())

	// One memory per miner: the inventory, fed by discovery and probes alike through one Prober.
	inv := inventory.New(inventory.Options{File: *stateFile, MaxRecords: *maxRecords, Logger: logger, Registerer: reg})
	if err := inv.Load(); err != nil {
		logger.Warn("inventory not loaded; starting empty", "file", *stateFile, "err", err)
	}
	prober := probe.NewProber(inv, map[string]probe.Reader{
		config.ProtocolCGMiner:      probe.CGMiner(&cgminer.Client{}),
		config.ProtocolWhatsminerV3: probe.WhatsminerV3(&wm3.Client{}),
	}).WithWeb(webapi.NewClient(*webLogins, reg))
	handler := probe.New(sc.Get, prober, logger, reg, probe.Options{MaxConcurrent: *maxConcurrent, TimeoutOffset: *timeoutOffset,
		DebugRate: *debugRate, DebugBurst: *debugBurst})
	disc := discovery.New(sc.Get, prober, inv, logger, reg)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reload := func() error {
		if err := sc.Reload(*configFile, logger); err != nil {
			logger.Error("reload failed; keeping the old config", "file", *configFile, "err", err)
			return err
		}
		disc.Reconfigure()
		return nil
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for {
			select {
			case <-hup:
				_ = reload()
			case <-ctx.Done():
				return
			}
		}
	}()
	go disc.Run(ctx)
	go inv.Run(ctx, *saveInterval)

	mux := http.NewServeMux()
	mux.Handle("GET /probe", handler)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("GET /sd", disc)
	mux.Handle("POST /-/reload", reloadHandler(*toolkitFlags.WebConfigFile, reload))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		out, err := config.Marshal(sc.Get())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(out)
	})
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "cgminer_exporter",
		Description: "Prometheus exporter for ASIC miners speaking the cgminer API",
		Version:     version.Info(),
		Form: web.LandingForm{
			Action: "/probe",
			Inputs: []web.LandingFormInput{
				{Label: "Target", Type: "text", Name: "target", Placeholder: "10.0.0.1[:4028]"},
				{Label: "Module", Type: "text", Name: "module", Placeholder: "default", Value: "default"},
				{Label: "Debug", Type: "checkbox", Name: "debug", Value: "true"},
			},
		},
		Links: []web.LandingLinks{
			{Address: "/metrics", Text: "Exporter metrics"},
			{Address: "/sd", Text: "Discovered miners (HTTP SD)"},
			{Address: "/config", Text: "Configuration"},
		},
	})
	if err != nil {
		logger.Error("landing page", "err", err)
		return 1
	}
	mux.Handle("GET /", landing)

	srv := newServer(mux, *timeoutOffset)
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(srv, toolkitFlags, logger) }()
	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server", "err", err)
			return 1
		}
	case <-ctx.Done():
		logger.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := inv.Save(); err != nil {
			logger.Error("cannot save the inventory", "err", err)
		}
	}
	return 0
}
