// Command farmgen stands in for cgminer_exporter in the rules benchmark (rules/BENCHMARKS.md): it
// serves /sd with N miners spread over sites and racks, and /probe with a deterministic, realistic
// exposition for each (about 90 series for a 3-board Antminer-like miner, a few per cent of them
// faulty, sleeping or on VNish with a DevFee pool), so the real Prometheus scrapes a farm of any
// size through prometheus.yml's own relabelling and evaluates the real rules on it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type farm struct {
	miners, sites, racks int
	start                time.Time
}

func main() {
	listen := flag.String("listen", "127.0.0.1:19154", "loopback address to serve /sd, /probe and /metrics on")
	miners := flag.Int("miners", 10000, "miners in the farm")
	sites := flag.Int("sites", 10, "sites the miners are spread over")
	racks := flag.Int("racks", 20, "racks per site")
	flag.Parse()
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("--listen %q: must be a loopback IP:port", *listen)
	}
	f := &farm{miners: *miners, sites: *sites, racks: *racks, start: time.Now()}
	mux := http.NewServeMux()
	mux.HandleFunc("/sd", f.sd)
	mux.HandleFunc("/probe", f.probe)
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "cgminer_exporter_probes_total{module=\"default\",result=\"success\"} %d\n", int(time.Since(f.start).Seconds())*f.miners/60)
	})
	log.Printf("farmgen: %d miners on %s", f.miners, *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}

// addr is miner i's address: 127.<10+site>.<x>.<y>.
func (f *farm) addr(i int) string {
	site := i % f.sites
	n := i / f.sites
	return fmt.Sprintf("127.%d.%d.%d", 10+site, n/250, n%250+1)
}

func (f *farm) sd(w http.ResponseWriter, _ *http.Request) {
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	groups := map[string]*group{}
	var order []string
	for i := 0; i < f.miners; i++ {
		site, rack := i%f.sites, (i/f.sites)%f.racks
		key := fmt.Sprintf("%d/%d", site, rack)
		g, ok := groups[key]
		if !ok {
			g = &group{Labels: map[string]string{
				"site": fmt.Sprintf("site-%02d", site), "rack": fmt.Sprintf("rack-%02d", rack), "__param_module": "default",
			}}
			groups[key] = g
			order = append(order, key)
		}
		g.Targets = append(g.Targets, f.addr(i))
	}
	out := make([]*group, 0, len(order))
	for _, k := range order {
		out = append(out, groups[k])
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (f *farm) probe(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("target")
	if target == "" {
		http.Error(w, "target parameter is missing", http.StatusBadRequest)
		return
	}
	h := fnv.New32a()
	h.Write([]byte(target))
	seed := h.Sum32()
	pick := func(salt uint32, perMille uint32) bool { return (seed^(salt*2654435761))%1000 < perMille }
	elapsed := time.Since(f.start).Seconds()
	var b strings.Builder
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	p := func(name string, v float64, labels ...string) {
		b.WriteString(name)
		if len(labels) > 0 {
			b.WriteByte('{')
			for i := 0; i < len(labels); i += 2 {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(labels[i] + `="` + labels[i+1] + `"`)
			}
			b.WriteByte('}')
		}
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		b.WriteByte('\n')
	}
	p("cgminer_probe_duration_seconds", 0.05)
	if pick(1, 10) { // 1 % do not answer
		p("cgminer_up", 0)
		p("cgminer_probe_error_info", 1, "reason", "timeout")
		_, _ = w.Write([]byte(b.String()))
		return
	}
	sleeping := pick(2, 20)
	vnish := pick(3, 100)
	boards := 3
	if pick(4, 10) {
		boards = 2
	}
	hot := pick(5, 10)
	fanStopped := pick(6, 10)
	restarts := pick(7, 5)

	nominal := 104e12
	hashrate := nominal * (0.97 + float64(seed%50)/1000)
	if sleeping {
		hashrate = 0
	}
	hashrate = hashrate * float64(boards) / 3
	uptime := 86400 + elapsed
	if restarts {
		uptime = float64(int(elapsed) % 540)
	}
	p("cgminer_up", 1)
	p("cgminer_info", 1, "api_version", "3.1", "firmware", map[bool]string{true: "vnish", false: "stock"}[vnish],
		"model", "Antminer S19j Pro", "software", "bmminer", "software_version", "1.0.0")
	p("cgminer_sleeping", map[bool]float64{true: 1, false: 0}[sleeping])
	p("cgminer_uptime_seconds", uptime)
	p("cgminer_hashrate_hashes_per_second", hashrate)
	p("cgminer_hashrate_average_hashes_per_second", hashrate)
	p("cgminer_hashrate_nominal_hashes_per_second", nominal)
	p("cgminer_hashes_total", hashrate*uptime)
	p("cgminer_boards", float64(boards))
	p("cgminer_boards_expected", 3)
	for i := 0; i < boards; i++ {
		bd := strconv.Itoa(i)
		p("cgminer_board_hashrate_hashes_per_second", hashrate/float64(boards), "board", bd)
		p("cgminer_board_hashrate_nominal_hashes_per_second", nominal/3, "board", bd)
		p("cgminer_board_chips", 126, "board", bd)
		p("cgminer_board_chips_expected", 126, "board", bd)
		p("cgminer_board_chips_failed", 0, "board", bd)
		p("cgminer_board_hardware_errors_total", 10*uptime/60, "board", bd)
		chip := 68 + float64(seed%10)
		if hot && i == 0 {
			chip = 95
		}
		p("cgminer_board_temperature_celsius", chip, "board", bd, "sensor", "chip")
		p("cgminer_board_temperature_celsius", chip-12, "board", bd, "sensor", "pcb")
		p("cgminer_device_alive", 1, "device", bd)
		p("cgminer_device_enabled", 1, "device", bd)
	}
	p("cgminer_temperature_celsius", 25, "sensor", "inlet")
	p("cgminer_temperature_celsius", 45, "sensor", "outlet")
	for i := 0; i < 4; i++ {
		rpm := 5400.0
		if fanStopped && i == 1 {
			rpm = 0
		}
		p("cgminer_fan_speed_rpm", rpm, "fan", strconv.Itoa(i))
	}
	p("cgminer_fans_expected", 4)
	p("cgminer_power_watts", 3050*float64(boards)/3)
	shares := uptime * hashrate / 4294967296 / 65536
	p("cgminer_shares_accepted_total", shares)
	p("cgminer_shares_rejected_total", shares/200)
	p("cgminer_shares_stale_total", 0)
	p("cgminer_hardware_errors_total", 30*uptime/60)
	p("cgminer_difficulty_accepted_total", shares*65536)
	p("cgminer_difficulty_rejected_total", shares*65536/200)
	pools := [][3]string{
		{"0", "stratum+tcp://pool.example.com:3333", "farm.w" + strconv.Itoa(int(seed%1000))},
		{"1", "stratum+tcp://backup.example.com:3333", "farm.w" + strconv.Itoa(int(seed%1000))},
		{"2", "stratum+tcp://backup2.example.com:443", "farm.w" + strconv.Itoa(int(seed%1000))},
	}
	if vnish {
		pools = append(pools, [3]string{"3", "DevFee", "DevFee"})
	}
	for i, pl := range pools {
		l := []string{"pool", pl[0], "url", pl[1], "user", pl[2]}
		fee := pl[1] == "DevFee"
		p("cgminer_pool_up", 1, l...)
		p("cgminer_pool_active", map[bool]float64{true: 1, false: 0}[i == 0 || fee], l...)
		p("cgminer_pool_priority", float64(i), l...)
		p("cgminer_pool_expected", 1, l...) // the farm's pools, and VNish's fee pool counts as expected
		p("cgminer_pool_devfee", map[bool]float64{true: 1, false: 0}[fee], l...)
		acc := 0.0
		if i == 0 {
			acc = shares
		} else if fee {
			acc = shares / 50
		}
		p("cgminer_pool_shares_accepted_total", acc, l...)
		p("cgminer_pool_shares_rejected_total", acc/200, l...)
		p("cgminer_pool_difficulty_accepted_total", acc*65536, l...)
		p("cgminer_pool_last_share_timestamp_seconds", float64(time.Now().Unix()), l...)
	}
	if vnish {
		p("cgminer_devfee_share_ratio", 0.03)
	}
	for _, c := range []string{"summary", "stats", "pools", "devs"} {
		p("cgminer_command_success", 1, "command", c)
	}
	_, _ = w.Write([]byte(b.String()))
}
