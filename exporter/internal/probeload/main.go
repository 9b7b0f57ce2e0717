// Command probeload measures probe throughput: it serves fake miners on loopback addresses (each
// answering every request with one recorded Antminer S19 Pro joined reply, NUL-terminated, as
// cgminer does), drives an exporter's /probe with concurrent requests for random miners, and
// reports probes per second, the exporter's CPU time per probe (from /proc/PID/stat) and its peak
// memory (VmHWM). The same run can drive Debian's blackbox_exporter (tcp prober, query_response)
// against the same miners for comparison. See BENCHMARKS.md.
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	var (
		exporter    = flag.String("url", "http://127.0.0.1:9154/probe?module=default&target=%s", "probe URL; %s is the target")
		serve       = flag.Bool("serve", false, "only serve the fake miners until interrupted")
		base        = flag.String("base", "127.90.0.1", "first fake miner address")
		miners      = flag.Int("miners", 1000, "fake miners")
		port        = flag.Int("port", 4028, "miner port")
		fixtures    = flag.String("fixtures", "exporter/testdata/cgminer-api", "fixture folder")
		concurrency = flag.Int("concurrency", 64, "requests in flight")
		duration    = flag.Duration("duration", 20*time.Second, "measured duration")
		warmup      = flag.Duration("warmup", 3*time.Second, "unmeasured warm-up")
		pid         = flag.Int("pid", 0, "PID of the exporter, for CPU and memory")
		withPort    = flag.Bool("target-port", false, "send target as IP:PORT")
		bbURL       = flag.String("blackbox-url", "", "also drive this blackbox_exporter probe URL (%s is IP:PORT) against the same miners")
		bbPID       = flag.Int("blackbox-pid", 0, "PID of the blackbox_exporter")
		external    = flag.Bool("external", false, "do not serve fake miners: the miners (e.g. minersim) already listen from --base")
		simPID      = flag.Int("sim-pid", 0, "PID of the process serving the miners, to report its CPU")
	)
	flag.Parse()
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
	fmt.Printf("cgminer_exporter: ")
	sim0 := cpuSeconds(*simPID)
	drive(*exporter, targets, *concurrency, *warmup, *duration, *pid)
	if *simPID > 0 {
		fmt.Printf("miners' process CPU over warm-up and run: %.2fs (%.2f cores)\n", cpuSeconds(*simPID)-sim0, (cpuSeconds(*simPID)-sim0)/(*warmup+*duration).Seconds())
	}
	if *bbURL != "" {
		fmt.Printf("blackbox_exporter: ")
		drive(*bbURL, withPorts, *concurrency, *warmup, *duration, *bbPID)
	}
}

func drive(url string, targets []string, concurrency int, warmup, duration time.Duration, pid int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency * 2, MaxConnsPerHost: concurrency * 2}, Timeout: 30 * time.Second}
	var ok, bad atomic.Int64
	var measuring atomic.Bool
	ctx, cancel := context.WithTimeout(context.Background(), warmup+duration)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
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
	fmt.Printf("probes ok: %d, failed: %d, in %.1fs: %.0f probes/s\n", n, bad.Load(), elapsed.Seconds(), float64(n)/elapsed.Seconds())
	if pid > 0 && n > 0 {
		fmt.Printf("exporter CPU: %.2fs, %.1f µs per probe, %.2f cores; peak RSS (VmHWM): %s\n",
			cpu1-cpu0, (cpu1-cpu0)/float64(n)*1e6, (cpu1-cpu0)/elapsed.Seconds(), vmHWM(pid))
	}
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

func vmHWM(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}
