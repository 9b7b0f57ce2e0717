package main

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkReplicasIntake: webhook intake of a burst on PostgreSQL, through the built binary on
// loopback. One iteration is a burst of 200 deliveries of 10 firing alerts on 5 machines never
// seen before (every alert a new problem, every machine a new task, its assignment, history and
// outbox rows), sent by 8 workers per Alertmanager:
//
//   - one: a single Alertmanager into a single receiver (the baseline);
//   - split: two Alertmanagers, one replica each, each with half of the burst;
//   - same: two Alertmanagers, one replica each, each with the whole burst at once (an HA pair
//     that both notify): every alert arrives twice, on two processes, and is stored once.
//
// alerts/s counts distinct alerts stored; p50/p99 are the webhook's answer times. With loops=on
// the leader's loops run meanwhile, as they would (every new task's notification to a loopback
// gateway, its escalation 2 s later, sweeps every 500 ms); loops=idle sets their intervals to an
// hour, to see intake alone.
func BenchmarkReplicasIntake(b *testing.B) {
	bin := buildBinary(b)
	const burst, workers = 200, 8
	for _, loops := range []string{"on", "idle"} {
		for _, mode := range []string{"one", "split", "same"} {
			b.Run("loops="+loops+"/"+mode, func(b *testing.B) { benchIntake(b, bin, loops == "idle", mode, burst, workers) })
		}
	}
}

func benchIntake(b *testing.B, bin string, idle bool, mode string, burst, workers int) {
	dsn := pgDatabase(b)
	_, url := newGateway(b)
	cfg := replicaConfig(b, url)
	args := []string{"--log.level=warn"}
	if idle {
		args = append(args, "--sweep.interval=1h", "--notify.interval=1h", "--verify.interval=1h", "--evidence.interval=1h")
	}
	ps := []*proc{replica(b, bin, dsn, cfg, args...)}
	if mode != "one" {
		ps = append(ps, replica(b, bin, dsn, cfg, args...))
	}
	var lat []time.Duration
	var total time.Duration
	for it := 0; b.Loop(); it++ {
		base := it * burst
		type job struct {
			to *proc
			i  int
		}
		var jobs [][]job // per Alertmanager
		switch mode {
		case "one":
			jobs = make([][]job, 1)
			for i := range burst {
				jobs[0] = append(jobs[0], job{ps[0], base + i})
			}
		case "split":
			jobs = make([][]job, 2)
			for i := range burst {
				jobs[i%2] = append(jobs[i%2], job{ps[i%2], base + i})
			}
		case "same":
			jobs = make([][]job, 2)
			for i := range burst {
				jobs[0] = append(jobs[0], job{ps[0], base + i})
				jobs[1] = append(jobs[1], job{ps[1], base + i})
			}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for _, js := range jobs {
			next := make(chan job)
			for range workers {
				wg.Go(func() {
					for j := range next {
						t0 := time.Now()
						code, err := post(j.to.addr, delivery(j.i))
						d := time.Since(t0)
						if err != nil || code != 200 {
							b.Errorf("delivery %d: %d %v", j.i, code, err)
						}
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}
				})
			}
			wg.Go(func() {
				for _, j := range js {
					next <- j
				}
				close(next)
			})
		}
		wg.Wait()
		total += time.Since(start)
	}
	tasks, problems, occ := pgCounts(b, dsn)
	n := b.N * burst
	if tasks != n*5 || problems != n*10 || occ != problems {
		b.Fatalf("%d tasks (want %d), %d problems (want %d), %d distinct", tasks, n*5, problems, n*10, occ)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(n*10)/total.Seconds(), "alerts/s")
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
