// Command runstack is `make run`: the whole stack against the simulated farm (or, with
// --real-farm, against the miners that exporter/cgminer.yml's discovery sites name), until Ctrl-C.
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
	flag.Parse()
	o.Log = os.Stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := stack.Start(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		os.Exit(1)
	}
	fmt.Printf(`
The stack is up (Ctrl-C stops everything it started).

  Prometheus     %s   (alerts: %s/alerts)
  Alertmanager   %s
  Repair board   %s   demo logins: alice / alice-demo, bob / bob-demo (technicians, site-a), carol / carol-demo (lead), dave / dave-demo (technician, other sites), admin / admin-demo, viewer / viewer-demo
  Exporter       %s   (try %s/probe?target=127.1.0.5&debug=true, %s/sd)
`, s.URLs.Prometheus, s.URLs.Prometheus, s.URLs.Alertmanager, s.URLs.Receiver, s.URLs.Exporter, s.URLs.Exporter, s.URLs.Exporter)
	if s.URLs.SimControl != "" {
		fmt.Printf("  Farm control   %s/miners\n                 inject a fault: curl -H 'Authorization: Bearer %s' -XPOST %s/miners/127.1.0.9/faults -d '{\"fault\":\"fan_stopped\"}'\n", s.URLs.SimControl, s.SimToken, s.URLs.SimControl)
	}
	fmt.Printf("  Logs and data  %s\n\n", o.WorkDir)
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
