// Command runstack is `make run`: the whole stack against the simulated farm (or, with
// --real-farm, against the miners that exporter/cgminer.yml's discovery sites name), until Ctrl-C.
// Prometheus and Alertmanager are the current ones `make peers` builds into .tools/ (or PROMETHEUS
// and ALERTMANAGER from the environment); --prometheus=/usr/bin/prometheus runs Debian's 2.42 (its
// classic UI) instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/minefarm/cgminer-stack/e2e/stack"
)

func main() {
	root, _ := os.Getwd()
	var o stack.Options
	flag.StringVar(&o.Root, "root", root, "repository root")
	flag.StringVar(&o.BinDir, "bin", filepath.Join(root, "bin"), "folder with the built binaries")
	flag.StringVar(&o.WorkDir, "work", filepath.Join(root, ".work", "run"), "configs, data and logs of this run")
	flag.StringVar(&o.SimRange, "range", "127.1.0.0/25", "the simulated farm's loopback range")
	flag.IntVar(&o.Miners, "miners", 100, "simulated miners")
	flag.StringVar(&o.Models, "models", "", "model mix (minersim --models)")
	flag.StringVar(&o.Scenario, "scenario", filepath.Join(root, "simulator", "scenarios", "demo.yml"), "fault scenario")
	flag.BoolVar(&o.RealFarm, "real-farm", false, "no simulator: probe the miners in exporter/cgminer.yml's discovery sites")
	flag.StringVar(&o.ExporterConfig, "exporter.config", filepath.Join(root, "exporter", "cgminer.yml"), "exporter config for --real-farm")
	prom, am, binErr := stack.Binaries(root, os.Getenv)
	flag.StringVar(&o.Prometheus, "prometheus", prom, "Prometheus binary (default: $PROMETHEUS, else the newest in .tools/)")
	flag.StringVar(&o.Alertmanager, "alertmanager", am, "Alertmanager binary (>= 0.26; default: $ALERTMANAGER, else the newest in .tools/)")
	flag.Parse()
	if o.Prometheus == "" || o.Alertmanager == "" {
		fmt.Fprintln(os.Stderr, "stack:", binErr)
		os.Exit(1)
	}
	o.Log = os.Stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := stack.Start(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		os.Exit(1)
	}
	fmt.Print(s.Banner())
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println("\nstopping…")
			s.Stop()
			return
		case <-tick.C:
			if name := s.Exited(); name != "" {
				fmt.Fprintf(os.Stderr, "%s exited; see its log in %s/logs. Stopping the rest.\n", name, o.WorkDir)
				s.Stop()
				os.Exit(1)
			}
		}
	}
}
