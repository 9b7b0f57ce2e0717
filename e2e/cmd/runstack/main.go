// Command runstack is `make run`: the whole stack against the simulated farm (or, with
// --real-farm, against the miners that exporter/cgminer.yml's discovery sites name), until Ctrl-C.
// Prometheus, Alertmanager and mailpit are the current ones `make peers` builds into .tools/ (or
// PROMETHEUS, ALERTMANAGER and MAILPIT from the environment); --prometheus=/usr/bin/prometheus runs
// Debian's 2.42 (its classic UI) instead.
//
// Each run gets a folder of its own under --runs (.work/run/<start time>/: configs, databases,
// every part's log, the Telegram fake's messages, mailpit's database), never overwritten;
// .work/run/latest points at the newest. Ctrl-C (or SIGTERM) stops everything the run started and
// exits 0: on a terminal runstack makes itself the terminal's foreground process group, so the
// interrupt reaches it alone and make, waiting for it, sees 0 instead of dying of SIGINT itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/minefarm/cgminer-stack/e2e/stack"
)

func main() { os.Exit(run()) }

func run() int {
	root, _ := os.Getwd()
	var o stack.Options
	var runs, speed, blocked string
	flag.StringVar(&o.Root, "root", root, "repository root")
	flag.StringVar(&o.BinDir, "bin", filepath.Join(root, "bin"), "folder with the built binaries")
	flag.StringVar(&runs, "runs", filepath.Join(root, ".work", "run"), "each run's folder is made in here (<start time>/, and latest pointing at the newest)")
	flag.StringVar(&o.WorkDir, "work", "", "use this folder for configs, data and logs instead of a new one under --runs")
	flag.StringVar(&o.SimRange, "range", "127.1.0.0/25", "the simulated farm's loopback range")
	flag.IntVar(&o.Miners, "miners", 100, "simulated miners")
	flag.StringVar(&o.Models, "models", "", "model mix (minersim --models)")
	flag.StringVar(&o.Scenario, "scenario", filepath.Join(root, "simulator", "scenarios", "demo.yml"), "fault scenario (empty: none)")
	flag.BoolVar(&o.RealFarm, "real-farm", false, "no simulator: probe the miners in exporter/cgminer.yml's discovery sites (timing real unless --speed says otherwise)")
	flag.StringVar(&o.ExporterConfig, "exporter.config", filepath.Join(root, "exporter", "cgminer.yml"), "exporter config for --real-farm")
	flag.StringVar(&speed, "speed", "", "demo (short windows, the default), real (the repository's files as they are; the default with --real-farm) or fast (the tests')")
	flag.BoolVar(&o.FreePorts, "free-ports", false, "listen on free loopback ports instead of the standard ones (a second stack beside one running)")
	flag.StringVar(&blocked, "telegram.blocked", "", "comma-separated chat ids whose user blocked the bot: the Telegram fake answers 403 (a drill of an undeliverable notification)")
	prom, am, binErr := stack.Binaries(root, os.Getenv)
	mailpit, mailErr := stack.FindMailpit(root, os.Getenv)
	flag.StringVar(&o.Prometheus, "prometheus", prom, "Prometheus binary (default: $PROMETHEUS, else the newest in .tools/)")
	flag.StringVar(&o.Alertmanager, "alertmanager", am, "Alertmanager binary (>= 0.26; default: $ALERTMANAGER, else the newest in .tools/)")
	flag.StringVar(&o.Mailpit, "mailpit", mailpit, "mailpit binary (default: $MAILPIT, else the newest in .tools/)")
	flag.Parse()
	if o.Prometheus == "" || o.Alertmanager == "" {
		fmt.Fprintln(os.Stderr, "stack:", binErr)
		return 1
	}
	if o.Mailpit == "" {
		fmt.Fprintln(os.Stderr, "stack:", mailErr)
		return 1
	}
	switch speed {
	case "":
		o.Speed = stack.Demo
		if o.RealFarm {
			o.Speed = stack.Real
		}
	case "demo":
		o.Speed = stack.Demo
	case "real":
		o.Speed = stack.Real
	case "fast":
		o.Speed = stack.Fast
	default:
		fmt.Fprintf(os.Stderr, "stack: --speed %q: demo, real or fast\n", speed)
		return 2
	}
	for _, c := range strings.Split(blocked, ",") {
		if c = strings.TrimSpace(c); c != "" {
			o.TelegramBlocked = append(o.TelegramBlocked, c)
		}
	}
	if o.WorkDir == "" {
		dir, err := newRun(runs, time.Now())
		if err != nil {
			fmt.Fprintln(os.Stderr, "stack:", err)
			return 1
		}
		o.WorkDir = dir
	}
	o.Log = os.Stdout

	restore := takeTerminal()
	defer restore()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("run folder %s\n", o.WorkDir)
	s, err := stack.Start(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Println("\ninterrupted while starting; stopped.")
			return 0
		}
		fmt.Fprintln(os.Stderr, "stack:", err)
		return 1
	}
	fmt.Print(s.Banner())
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println("\nstopping (each part gets up to 10 s)…")
			s.Stop()
			fmt.Printf("stopped; logs and data kept in %s\n", o.WorkDir)
			return 0
		case <-tick.C:
			if name := s.Exited(); name != "" {
				fmt.Fprintf(os.Stderr, "%s exited; see its log in %s/logs. Stopping the rest.\n", name, o.WorkDir)
				s.Stop()
				return 1
			}
		}
	}
}

// newRun makes runs/<start time>/ (a suffix when two runs start in one second) and points
// runs/latest at it.
func newRun(runs string, now time.Time) (string, error) {
	if err := os.MkdirAll(runs, 0o755); err != nil {
		return "", err
	}
	base := now.Format("2006-01-02T15-04-05")
	name := base
	for i := 2; ; i++ {
		err := os.Mkdir(filepath.Join(runs, name), 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || i > 100 {
			return "", err
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
	latest := filepath.Join(runs, "latest")
	tmp := latest + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(name, tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, latest); err != nil {
		return "", fmt.Errorf("%s: %w (remove it: a run folder is made per run now)", latest, err)
	}
	return filepath.Join(runs, name), nil
}
