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
	"github.com/minefarm/cgminer-stack/exporter/probe"
)

func main() {
	os.Exit(run())
}

// webConfigHasUsers reports whether the exporter-toolkit web config names basic-auth users.
func webConfigHasUsers(file string) bool {
	if file == "" {
		return false
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	var wc struct {
		Users map[string]string `yaml:"basic_auth_users"`
	}
	return yaml.Unmarshal(b, &wc) == nil && len(wc.Users) > 0
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
		stateFile     = app.Flag("discovery.state-file", "Where the discovery inventory persists across restarts.").Default("cgminer_inventory.json").String()
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

	client := &cgminer.Client{}
	handler := probe.New(sc.Get, client, logger, reg, probe.Options{MaxConcurrent: *maxConcurrent, TimeoutOffset: *timeoutOffset})
	disc := discovery.New(sc.Get, client, logger, reg, *stateFile)

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

	mux := http.NewServeMux()
	mux.Handle("GET /probe", handler)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("GET /sd", disc)
	authUsers := webConfigHasUsers(*toolkitFlags.WebConfigFile)
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		// A mutating endpoint: with basic_auth_users in --web.config.file the toolkit has already
		// authenticated the caller; without them only a local caller may reload.
		if !authUsers && !fromLoopback(r) {
			http.Error(w, "reload from another host needs basic_auth_users in --web.config.file (or send SIGHUP)", http.StatusForbidden)
			return
		}
		if err := reload(); err != nil {
			http.Error(w, fmt.Sprintf("reload failed: %v", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "config reloaded")
	})
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

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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
		disc.Save()
	}
	return 0
}
