// Command price_exporter serves the prices the economics dashboard needs as Prometheus metrics:
// the hashprice (fetched from a configured URL, or derived from a coin price, or a constant), the
// electricity tariff per site and each model's purchase price. See dashboards/README.md "Prices".
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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

	"github.com/minefarm/cgminer-stack/dashboards/price"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	app := kingpin.New("price_exporter", "Prices for the mining farm's economics dashboard, as Prometheus metrics.")
	var (
		configFile   = app.Flag("config.file", "Price configuration file.").Default("price.yml").String()
		configCheck  = app.Flag("config.check", "Check the configuration file and exit.").Bool()
		toolkitFlags = kingpinflag.AddFlags(app, ":9157")
	)
	promslogConfig := &promslog.Config{}
	promslogflag.AddFlags(app, promslogConfig)
	app.Version(version.Print("price_exporter"))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logger := promslog.New(promslogConfig)
	cfg, err := price.Load(*configFile)
	if err != nil {
		logger.Error("cannot load config", "err", err)
		return 1
	}
	if *configCheck {
		logger.Info("config is valid", "file", *configFile)
		return 0
	}
	logger.Info("starting price_exporter", "version", version.Info())

	src := price.New(cfg, price.Options{Logger: logger, UserAgent: "price_exporter/" + version.Version})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("price_exporter"), src)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go src.Run(ctx)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "Healthy") })
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "price_exporter",
		Description: "Hashprice, electricity tariffs and purchase prices for the economics dashboard",
		Version:     version.Info(),
		Links:       []web.LandingLinks{{Address: "/metrics", Text: "Metrics"}},
	})
	if err != nil {
		logger.Error("landing page", "err", err)
		return 1
	}
	mux.Handle("GET /", landing)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
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
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}
	return 0
}
