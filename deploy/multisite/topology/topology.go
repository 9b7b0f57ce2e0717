// Package topology describes a multi-site deployment (sites with their exporters and Prometheus
// shards; a centre with VictoriaMetrics, vmalert, an Alertmanager cluster and repair_receiver
// replicas on one PostgreSQL) and generates every configuration file and command line of it from
// the repository's own single-box configs (prometheus.yml, alertmanager.yml, exporter/cgminer.yml,
// receiver/receiver.yml, rules/). The end-to-end test (e2e/multisite) and the compose file
// (deploy/multisite/docker-compose.yml) both start what Generate returns, so what the test proves
// is what an operator deploys.
package topology

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Topology is deploy/multisite/topology.yml.
type Topology struct {
	Centre Centre `yaml:"centre"`
	Sites  []Site `yaml:"sites"`
}

// Centre is what every site reports to.
type Centre struct {
	// VictoriaMetrics is the single-node VictoriaMetrics' listen address (host:port).
	VictoriaMetrics string `yaml:"victoriametrics"`
	// Retention is VictoriaMetrics' -retentionPeriod (e.g. 90d); default 90d.
	Retention string `yaml:"retention,omitempty"`
	// VMAlert is vmalert's listen address.
	VMAlert       string                `yaml:"vmalert"`
	Alertmanagers []AlertmanagerReplica `yaml:"alertmanagers"`
	// Receivers are the repair_receiver replicas' listen addresses; all share Postgres.
	Receivers []string `yaml:"receivers"`
	// Postgres is the database's host:port (the compose file runs it; a real one is yours).
	Postgres string `yaml:"postgres"`
	// Price is price_exporter's listen address (dashboards/price.yml: the economics dashboard's
	// hashprice, tariffs and purchase prices), scraped by VictoriaMetrics; empty: none.
	Price string `yaml:"price,omitempty"`
}

// AlertmanagerReplica is one replica of the cluster: its web (API) and cluster (gossip) addresses.
type AlertmanagerReplica struct {
	Web     string `yaml:"web"`
	Cluster string `yaml:"cluster"`
}

// Site is one farm: its exporters (each scanning its own ranges) and its Prometheus shards
// (each scraping and alerting on the hashmod share of the site's miners).
type Site struct {
	Name      string         `yaml:"name"`
	Exporters []SiteExporter `yaml:"exporters"`
	// Shards are the Prometheus servers' listen addresses, one per shard (shard i keeps the
	// targets whose hashmod of the miner's address is i).
	Shards []string `yaml:"shards"`
	// Discovery holds further keys of this site's entry under the exporter's discovery.sites
	// (rack, slot, row, labels, module, port, inventory_file), as exporter/cgminer.yml has them.
	Discovery map[string]any `yaml:"discovery,omitempty"`
}

// SiteExporter is one cgminer_exporter of a site.
type SiteExporter struct {
	Listen string   `yaml:"listen"`
	Ranges []string `yaml:"ranges"`
}

var siteName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Load reads a topology file strictly (unknown keys are errors) and validates it.
func Load(path string) (*Topology, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse reads a topology from YAML (strict) and validates it.
func Parse(b []byte) (*Topology, error) {
	var t Topology
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// Limits on a topology: far above a real fleet, low enough that a typo cannot generate millions
// of files.
const (
	maxSites            = 1000
	maxShardsPerSite    = 256
	maxExportersPerSite = 256
	maxReplicas         = 16
)

// Validate checks names, addresses, ranges and counts, and that no two services share a listen
// address.
func (t *Topology) Validate() error {
	c := t.Centre
	used := map[string]string{}
	addr := func(what, a string) error {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return fmt.Errorf("topology: %s: %q is not host:port", what, a)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("topology: %s: bad port in %q", what, a)
		}
		if prev, ok := used[a]; ok {
			return fmt.Errorf("topology: %s and %s both listen on %s", prev, what, a)
		}
		used[a] = what
		return nil
	}
	if err := addr("centre.victoriametrics", c.VictoriaMetrics); err != nil {
		return err
	}
	if err := addr("centre.vmalert", c.VMAlert); err != nil {
		return err
	}
	if err := addr("centre.postgres", c.Postgres); err != nil {
		return err
	}
	if c.Price != "" {
		if err := addr("centre.price", c.Price); err != nil {
			return err
		}
	}
	if n := len(c.Alertmanagers); n < 1 || n > maxReplicas {
		return fmt.Errorf("topology: centre.alertmanagers: %d replicas (1..%d)", n, maxReplicas)
	}
	for i, am := range c.Alertmanagers {
		if err := addr(fmt.Sprintf("centre.alertmanagers[%d].web", i), am.Web); err != nil {
			return err
		}
		if err := addr(fmt.Sprintf("centre.alertmanagers[%d].cluster", i), am.Cluster); err != nil {
			return err
		}
	}
	if n := len(c.Receivers); n < 1 || n > maxReplicas {
		return fmt.Errorf("topology: centre.receivers: %d replicas (1..%d)", n, maxReplicas)
	}
	for i, r := range c.Receivers {
		if err := addr(fmt.Sprintf("centre.receivers[%d]", i), r); err != nil {
			return err
		}
	}
	if n := len(t.Sites); n < 1 || n > maxSites {
		return fmt.Errorf("topology: %d sites (1..%d)", n, maxSites)
	}
	names := map[string]bool{}
	var ranges []netip.Prefix
	for _, s := range t.Sites {
		if !siteName.MatchString(s.Name) {
			return fmt.Errorf("topology: site name %q: lower-case letters, digits and '-', at most 63", s.Name)
		}
		if names[s.Name] {
			return fmt.Errorf("topology: site %s twice", s.Name)
		}
		names[s.Name] = true
		if n := len(s.Shards); n < 1 || n > maxShardsPerSite {
			return fmt.Errorf("topology: site %s: %d shards (1..%d)", s.Name, n, maxShardsPerSite)
		}
		for i, sh := range s.Shards {
			if err := addr(fmt.Sprintf("site %s shard %d", s.Name, i), sh); err != nil {
				return err
			}
		}
		if n := len(s.Exporters); n < 1 || n > maxExportersPerSite {
			return fmt.Errorf("topology: site %s: %d exporters (1..%d)", s.Name, n, maxExportersPerSite)
		}
		for i, e := range s.Exporters {
			if err := addr(fmt.Sprintf("site %s exporter %d", s.Name, i), e.Listen); err != nil {
				return err
			}
			if len(e.Ranges) == 0 {
				return fmt.Errorf("topology: site %s exporter %d: no ranges", s.Name, i)
			}
			for _, r := range e.Ranges {
				p, err := netip.ParsePrefix(r)
				if err != nil {
					return fmt.Errorf("topology: site %s exporter %d: range %q: %w", s.Name, i, r, err)
				}
				for _, q := range ranges {
					if p.Overlaps(q) {
						return fmt.Errorf("topology: site %s exporter %d: range %s overlaps %s (a miner belongs to one exporter)", s.Name, i, p, q)
					}
				}
				ranges = append(ranges, p)
			}
		}
		for k := range s.Discovery {
			switch k {
			case "rack", "slot", "row", "labels", "module", "port", "inventory_file":
			default:
				return fmt.Errorf("topology: site %s: discovery key %q is not a site key the topology passes on", s.Name, k)
			}
		}
	}
	return nil
}

// ShardCount is the total number of Prometheus shards.
func (t *Topology) ShardCount() int {
	n := 0
	for _, s := range t.Sites {
		n += len(s.Shards)
	}
	return n
}
