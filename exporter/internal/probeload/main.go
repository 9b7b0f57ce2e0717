// Command probeload measures probe throughput: it serves fake miners on loopback addresses (each
// answering every request with one recorded Antminer S19 Pro joined reply, NUL-terminated, as
// cgminer does), drives an exporter's /probe with concurrent requests for random miners, and
// reports probes per second, the exporter's CPU time per probe (from /proc/PID/stat) and its peak
// memory (VmHWM). The same run can drive Debian's blackbox_exporter (tcp prober, query_response)
// against the same miners for comparison, and the floor: a minimal exporter (probeload
// --floor-serve, floor.go) that only dials the miner, sends the joined command, reads the reply and
// answers two lines, what any exporter of this pattern pays at least. With --rounds the exporters
// are driven in turn, round after round, and the summary gives each one's CPU per probe as a ratio
// to the floor's in the same round. With --external and --targets it drives miners that already
// listen (minersim), each --subject on its own range and port: protocols.sh measures each protocol
// so. See BENCHMARKS.md.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

func main() {
	var (
		exporter    = flag.String("url", "http://127.0.0.1:9154/probe?module=default&target=%s", "cgminer_exporter probe URL; %s is the target")
		serve       = flag.Bool("serve", false, "only serve the fake miners until interrupted")
		floorServe  = flag.String("floor-serve", "", "run the floor exporter on this loopback address (host:port) until interrupted, instead of measuring")
		base        = flag.String("base", "127.90.0.1", "first fake miner address")
		miners      = flag.Int("miners", 1000, "fake miners")
		port        = flag.Int("port", 4028, "miner port")
		fixtures    = flag.String("fixtures", "exporter/testdata/cgminer-api", "fixture folder")
		concurrency = flag.Int("concurrency", 64, "requests in flight")
		duration    = flag.Duration("duration", 20*time.Second, "measured duration of each exporter in each round")
		warmup      = flag.Duration("warmup", 3*time.Second, "unmeasured warm-up before each measurement")
		rounds      = flag.Int("rounds", 1, "rounds; each drives every exporter once, in an order rotated from round to round")
		probeRate   = flag.Float64("rate", 0, "probes per second, all requests together (0: as fast as the exporter answers)")
		pid         = flag.Int("pid", 0, "PID of the cgminer_exporter, for CPU and memory")
		withPort    = flag.Bool("target-port", false, "send the cgminer_exporter target as IP:PORT")
		noExporter  = flag.Bool("no-exporter", false, "do not drive --url (only the floor and blackbox)")
		floorURL    = flag.String("floor-url", "", "also drive the floor exporter (probeload --floor-serve) at this probe URL (%s is IP:PORT)")
		floorPID    = flag.Int("floor-pid", 0, "PID of the floor exporter")
		bbURL       = flag.String("blackbox-url", "", "also drive this blackbox_exporter probe URL (%s is IP:PORT) against the same miners")
		bbPID       = flag.Int("blackbox-pid", 0, "PID of the blackbox_exporter")
		external    = flag.Bool("external", false, "do not serve fake miners: the miners (e.g. minersim) already listen from --base")
		simPID      = flag.Int("sim-pid", 0, "PID of the process serving the miners, to report its CPU")
		more        subjectsFlag
		own         = targetsFlag{}
	)
	flag.Var(&more, "subject", "also drive NAME,PID,URL (%s is IP:PORT; repeatable): another build of an exporter, for an A/B run")
	flag.Var(own, "targets", "NAME,IP:PORT (repeatable): the --subject NAME drives --miners miners from IP on PORT instead of --base and --port, e.g. miners of another protocol (with --external)")
	flag.Parse()
	if *floorServe != "" {
		log.Fatal(serveFloor(*floorServe))
	}
	reply, err := s19Reply(*fixtures)
	if err != nil {
		log.Fatal(err)
	}
	var addrs []netip.Addr
	if *external {
		a := netip.MustParseAddr(*base)
		for i := 0; i < *miners; i++ {
			addrs = append(addrs, a)
			a = a.Next()
		}
	} else if addrs, err = startMiners(*base, *miners, *port, reply); err != nil {
		log.Fatal(err)
	}
	if *serve {
		fmt.Printf("serving %d fake miners from %s port %d\n", len(addrs), *base, *port)
		select {}
	}
	targets := make([]string, len(addrs))
	withPorts := make([]string, len(addrs))
	for i, a := range addrs {
		targets[i] = a.String()
		withPorts[i] = net.JoinHostPort(a.String(), strconv.Itoa(*port))
		if *withPort {
			targets[i] = withPorts[i]
		}
	}
	var subjects []subject
	if *floorURL != "" {
		subjects = append(subjects, subject{name: "floor", url: *floorURL, targets: withPorts, pid: *floorPID})
	}
	if !*noExporter {
		subjects = append(subjects, subject{name: "cgminer_exporter", url: *exporter, targets: targets, pid: *pid})
	}
	if *bbURL != "" {
		subjects = append(subjects, subject{name: "blackbox_exporter", url: *bbURL, targets: withPorts, pid: *bbPID})
	}
	for _, m := range more {
		m.targets = withPorts
		if t, ok := own[m.name]; ok {
			if m.targets, err = rangeTargets(t, *miners); err != nil {
				log.Fatal(err)
			}
		}
		subjects = append(subjects, m)
	}
	if len(subjects) == 0 {
		log.Fatal("nothing to drive")
	}
	sim0 := cpuSeconds(*simPID)
	sim0t := time.Now()
	results := map[string][]result{}
	for r := 0; r < max(*rounds, 1); r++ {
		for i := range subjects {
			s := subjects[(i+r)%len(subjects)]
			fmt.Printf("round %d %s: ", r+1, s.name)
			res := drive(s.url, s.targets, *concurrency, *probeRate, *warmup, *duration, s.pid)
			results[s.name] = append(results[s.name], res)
		}
	}
	if *simPID > 0 {
		el := time.Since(sim0t).Seconds()
		fmt.Printf("miners' process CPU over the run: %.2fs (%.2f cores)\n", cpuSeconds(*simPID)-sim0, (cpuSeconds(*simPID)-sim0)/el)
	}
	summarize(subjects, results)
}

// subject is one exporter driven.
type subject struct {
	name    string
	url     string
	targets []string
	pid     int
}

// subjectsFlag is the repeatable --subject NAME,PID,URL.
type subjectsFlag []subject

func (f *subjectsFlag) String() string { return fmt.Sprint(len(*f)) }

func (f *subjectsFlag) Set(v string) error {
	parts := strings.SplitN(v, ",", 3)
	if len(parts) != 3 {
		return fmt.Errorf("want NAME,PID,URL")
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil {
		return fmt.Errorf("PID %q: %w", parts[1], err)
	}
	*f = append(*f, subject{name: parts[0], pid: pid, url: parts[2]})
	return nil
}

// targetsFlag is the repeatable --targets NAME,IP:PORT: the first miner of subject NAME's own range.
type targetsFlag map[string]netip.AddrPort

func (f targetsFlag) String() string { return fmt.Sprint(len(f)) }

func (f targetsFlag) Set(v string) error {
	name, ap, ok := strings.Cut(v, ",")
	if !ok {
		return fmt.Errorf("want NAME,IP:PORT")
	}
	a, err := netip.ParseAddrPort(ap)
	if err != nil || !a.Addr().Is4() || !a.Addr().IsLoopback() {
		return fmt.Errorf("%q: want a loopback IPv4 IP:PORT", ap)
	}
	f[name] = a
	return nil
}

// rangeTargets gives n targets IP:PORT, the IP counting up from first's, all on loopback.
func rangeTargets(first netip.AddrPort, n int) ([]string, error) {
	out := make([]string, 0, n)
	a := first.Addr()
	for i := 0; i < n; i++ {
		if !a.IsLoopback() {
			return nil, fmt.Errorf("--targets %s: %d miners leave loopback", first, n)
		}
		out = append(out, netip.AddrPortFrom(a, first.Port()).String())
		a = a.Next()
	}
	return out, nil
}

// result is one exporter's measurement in one round.
type result struct {
	probes  int64
	failed  int64
	perSec  float64
	cpuPer  float64 // seconds of the exporter's CPU per probe (0: unknown)
	cores   float64
	hwmKB   int64
	elapsed time.Duration
}

// summarize prints each exporter's median CPU per probe over the rounds and, when the floor ran,
// each one's ratio to the floor of the same round (the median of those ratios): on a shared
// machine the load moves every exporter's figure, the ratio far less.
func summarize(subjects []subject, results map[string][]result) {
	floor := results["floor"]
	fmt.Printf("\nsummary over %d round(s)\n", len(results[subjects[0].name]))
	fmt.Printf("%-18s %10s %14s %14s %12s\n", "exporter", "probes/s", "CPU per probe", "× floor", "peak RSS")
	for _, s := range subjects {
		rs := results[s.name]
		var ps, cpu, ratio []float64
		var hwm int64
		for i, r := range rs {
			ps = append(ps, r.perSec)
			if r.cpuPer > 0 {
				cpu = append(cpu, r.cpuPer)
				if i < len(floor) && floor[i].cpuPer > 0 {
					ratio = append(ratio, r.cpuPer/floor[i].cpuPer)
				}
			}
			hwm = max(hwm, r.hwmKB)
		}
		rt := "-"
		if len(ratio) > 0 && s.name != "floor" {
			rt = fmt.Sprintf("%.2f (%s)", median(ratio), spread(ratio))
		}
		fmt.Printf("%-18s %10.0f %11.1f µs %14s %9.1f MB\n", s.name, median(ps), median(cpu)*1e6, rt, float64(hwm)/1024)
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func spread(v []float64) string {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return fmt.Sprintf("%.2f–%.2f", lo, hi)
}

func drive(url string, targets []string, concurrency int, perSecond float64, warmup, duration time.Duration, pid int) result {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency * 2, MaxConnsPerHost: concurrency * 2}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	var ok, bad atomic.Int64
	var measuring atomic.Bool
	ctx, cancel := context.WithTimeout(context.Background(), warmup+duration)
	defer cancel()
	var lim *rate.Limiter
	if perSecond > 0 {
		lim = rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond/100)))
	}
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if lim != nil && lim.Wait(ctx) != nil {
					return
				}
				t := targets[rand.IntN(len(targets))]
				resp, err := client.Get(fmt.Sprintf(url, t))
				good := err == nil && resp.StatusCode == 200
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					good = good && (bytes.Contains(body, []byte("cgminer_up 1")) || bytes.Contains(body, []byte("probe_success 1")))
				}
				if !measuring.Load() {
					continue
				}
				if good {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	time.Sleep(warmup)
	cpu0 := cpuSeconds(pid)
	measuring.Store(true)
	start := time.Now()
	time.Sleep(duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu1 := cpuSeconds(pid)
	cancel()
	wg.Wait()
	n := ok.Load()
	res := result{probes: n, failed: bad.Load(), perSec: float64(n) / elapsed.Seconds(), elapsed: elapsed, hwmKB: vmHWM(pid)}
	fmt.Printf("probes ok: %d, failed: %d, in %.1fs: %.0f probes/s", n, res.failed, elapsed.Seconds(), res.perSec)
	if pid > 0 && n > 0 {
		res.cpuPer, res.cores = (cpu1-cpu0)/float64(n), (cpu1-cpu0)/elapsed.Seconds()
		fmt.Printf("; CPU %.2fs, %.1f µs per probe, %.2f cores; peak RSS (VmHWM) %d kB", cpu1-cpu0, res.cpuPer*1e6, res.cores, res.hwmKB)
	}
	fmt.Println()
	return res
}

// s19Reply is the joined reply of an S19 Pro to version+summary+pools+stats+devs+devdetails.
func s19Reply(dir string) ([]byte, error) {
	d := filepath.Join(dir, "bmminer-antminer", "antminer-s19pro-49.0.1.3_")
	var b bytes.Buffer
	b.WriteString("{")
	for _, c := range []string{"version", "summary", "pools", "stats", "devs"} {
		raw, err := os.ReadFile(d + c + "_pyformat.json")
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%q:[%s],", c, bytes.TrimSpace(raw))
	}
	b.WriteString(`"devdetails":[{"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command"}],"id":1}],"id":1}`)
	b.WriteByte(0)
	return b.Bytes(), nil
}

func startMiners(base string, n, port int, reply []byte) ([]netip.Addr, error) {
	a, err := netip.ParseAddr(base)
	if err != nil || !a.Is4() || !netip.MustParsePrefix("127.0.0.0/8").Contains(a) {
		return nil, fmt.Errorf("--base must be a 127.x.y.z address")
	}
	var out []netip.Addr
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(a.String(), strconv.Itoa(port)))
		if err != nil {
			return nil, err
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					buf := make([]byte, 1024)
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					if _, err := c.Read(buf); err != nil {
						return
					}
					_, _ = c.Write(reply)
				}()
			}
		}()
		out = append(out, a)
		a = a.Next()
	}
	return out, nil
}

func cpuSeconds(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func vmHWM(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}
