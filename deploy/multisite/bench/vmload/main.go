// Command vmload replays a simulated farm into VictoriaMetrics for the centre's sizing
// (deploy/multisite/BENCHMARKS.md): it reads every miner's exposition from rules/bench/farmgen
// once, and writes it as `steps` one-minute scrapes in the past (as a shard's remote write would
// after an outage, or many shards at once), with the shard's labels (site, rack, instance, job,
// shard), gauges jittered by ±0.5 % so the samples do not compress better than real ones, and
// counters growing. Loopback only; every request is bounded in count and time.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

func main() {
	farmgen := flag.String("farmgen", "http://127.0.0.1:29254", "farmgen's base URL (loopback)")
	vm := flag.String("vm", "http://127.0.0.1:29228", "VictoriaMetrics' base URL (loopback)")
	miners := flag.Int("miners", 100000, "miners to replay (at most farmgen's)")
	steps := flag.Int("steps", 10, "one-minute scrapes per miner")
	shards := flag.Int("shards", 10, "the shard label cycles over this many values")
	workers := flag.Int("workers", 4, "concurrent writers")
	batch := flag.Int("batch", 50000, "samples per import request")
	flag.Parse()
	for _, u := range []string{*farmgen, *vm} {
		p, err := url.Parse(u)
		if err != nil || !strings.HasPrefix(p.Hostname(), "127.") {
			log.Fatalf("vmload: %s is not a loopback URL", u)
		}
	}
	if *miners < 1 || *miners > 1_000_000 || *steps < 1 || *steps > 1440 || *workers < 1 || *workers > 64 || *batch < 1000 || *batch > 1_000_000 {
		log.Fatal("vmload: miners 1..1e6, steps 1..1440, workers 1..64, batch 1000..1e6")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := run(ctx, *farmgen, *vm, *miners, *steps, *shards, *workers, *batch); err != nil {
		log.Fatal("vmload: ", err)
	}
}

type target struct {
	addr, site, rack string
}

func run(ctx context.Context, farmgen, vm string, miners, steps, shards, workers, batch int) error {
	client := &http.Client{Timeout: 5 * time.Minute}
	targets, err := discover(ctx, client, farmgen, miners)
	if err != nil {
		return err
	}
	var samples, bytesSent atomic.Int64
	start := time.Now()
	now := start.Truncate(time.Minute)
	next := make(chan int)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(next)
		for i := range targets {
			select {
			case next <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	var mu sync.Mutex
	fetchTime := time.Duration(0)
	for w := 0; w < workers; w++ {
		g.Go(func() error {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var buf bytes.Buffer
			n := 0
			flush := func() error {
				if n == 0 {
					return nil
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", vm+"/api/v1/import/prometheus", bytes.NewReader(buf.Bytes()))
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					return fmt.Errorf("import: status %d", resp.StatusCode)
				}
				samples.Add(int64(n))
				bytesSent.Add(int64(buf.Len()))
				buf.Reset()
				n = 0
				return nil
			}
			for i := range next {
				t := targets[i]
				fs := time.Now()
				lines, err := probe(ctx, client, farmgen, t.addr)
				if err != nil {
					return err
				}
				mu.Lock()
				fetchTime += time.Since(fs)
				mu.Unlock()
				extra := fmt.Sprintf(`instance="%s",job="cgminer",site="%s",rack="%s",shard="%d"`, t.addr, t.site, t.rack, i%shards)
				for _, l := range lines {
					name, labels, v := l.name, l.labels, l.value
					counter := strings.HasSuffix(name, "_total")
					for s := 0; s < steps; s++ {
						ts := now.Add(-time.Duration(steps-s) * time.Minute).UnixMilli()
						val := v
						if counter {
							val = v + float64(s)*60*(1+v/1e9)
						} else if v != 0 && v != 1 {
							val = v * (1 + (rng.Float64()-0.5)*0.01)
						}
						buf.WriteString(name)
						buf.WriteByte('{')
						buf.WriteString(extra)
						if labels != "" {
							buf.WriteByte(',')
							buf.WriteString(labels)
						}
						buf.WriteString("} ")
						buf.WriteString(strconv.FormatFloat(val, 'g', -1, 64))
						buf.WriteByte(' ')
						buf.WriteString(strconv.FormatInt(ts, 10))
						buf.WriteByte('\n')
						n++
					}
				}
				if n >= batch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			return flush()
		})
	}
	tick := time.NewTicker(15 * time.Second)
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	for {
		select {
		case err := <-done:
			tick.Stop()
			el := time.Since(start)
			fmt.Printf("   replayed %d miners × %d scrapes = %d samples (%.0f MB of text) in %s: %.0f samples/s (fetching the expositions from farmgen: %s of worker time)\n",
				len(targets), steps, samples.Load(), float64(bytesSent.Load())/1e6, el.Round(time.Second), float64(samples.Load())/el.Seconds(), fetchTime.Round(time.Second))
			return err
		case <-tick.C:
			fmt.Fprintf(os.Stderr, "vmload: %d samples, %.0f/s\n", samples.Load(), float64(samples.Load())/time.Since(start).Seconds())
		}
	}
}

func discover(ctx context.Context, client *http.Client, farmgen string, miners int) ([]target, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", farmgen+"/sd", nil)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var groups []struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&groups); err != nil {
		return nil, err
	}
	var out []target
	for _, g := range groups {
		for _, a := range g.Targets {
			if len(out) < miners {
				out = append(out, target{addr: a, site: g.Labels["site"], rack: g.Labels["rack"]})
			}
		}
	}
	return out, nil
}

type line struct {
	name, labels string
	value        float64
}

// probe reads one miner's exposition: name, labels (without braces) and value per sample line.
func probe(ctx context.Context, client *http.Client, farmgen, addr string) ([]line, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", farmgen+"/probe?target="+url.QueryEscape(addr), nil)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []line
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() && len(out) < 1000 {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(l, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[sp+1:], 64)
		if err != nil {
			continue
		}
		series := l[:sp]
		name, labels := series, ""
		if i := strings.IndexByte(series, '{'); i >= 0 && strings.HasSuffix(series, "}") {
			name, labels = series[:i], series[i+1:len(series)-1]
		}
		out = append(out, line{name: name, labels: labels, value: v})
	}
	return out, sc.Err()
}
