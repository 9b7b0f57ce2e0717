package topology

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// ComposeOptions are the paths the compose file's containers see: the repository read-only at
// /stack, the generated files under /stack/<configDir>, each service's state in a volume at
// /data/<service>.
func ComposeOptions(root, configDir string) Options {
	return Options{Root: root, RepoDir: "/stack", ConfigDir: filepath.Join("/stack", configDir), DataDir: "/data"}
}

// Images: the ones the e2e's binaries are (Prometheus 3.16, Alertmanager 0.35, VictoriaMetrics,
// vmalert 1.79.5 — Debian bookworm's, the 1.79 long-term-support line), and the repository's own.
var images = map[Kind]string{
	Prometheus:      "prom/prometheus:v3.16.0",
	Alertmanager:    "prom/alertmanager:v0.35.0",
	VictoriaMetrics: "victoriametrics/victoria-metrics:v1.79.5",
	VMAlert:         "victoriametrics/vmalert:v1.79.5",
	Exporter:        "cgminer-stack/cgminer_exporter:dev",
	Receiver:        "cgminer-stack/repair_receiver:dev",
	Price:           "cgminer-stack/price_exporter:dev",
}

// dashboardFiles are the dashboards Grafana provisions, as in the single-box docker-compose.yml.
var dashboardFiles = []string{"farm.json", "miner.json", "repairs.json", "site.json", "rack.json", "health.json", "pools.json", "energy.json"}

var dockerfiles = map[Kind]string{
	Exporter: "docker/exporter.Dockerfile",
	Receiver: "docker/receiver.Dockerfile",
	Price:    "docker/price.Dockerfile",
}

// Compose is the docker-compose file of the whole topology (every service on the host's network,
// as the single-box docker-compose.yml): PostgreSQL for the receivers, Grafana on VictoriaMetrics,
// and with --profile demo one minersim farm per site on its first exporter's first range.
// composeDir is the compose file's folder relative to the repository root.
func (d *Deployment) Compose(t *Topology, composeDir string) ([]byte, error) {
	rel, err := filepath.Rel(composeDir, ".")
	if err != nil {
		return nil, err
	}
	repo := rel // the repository, relative to the compose file
	services := map[string]any{}
	volumes := map[string]any{}
	_, pgPort, _ := net.SplitHostPort(t.Centre.Postgres)
	pgHost, _, _ := net.SplitHostPort(t.Centre.Postgres)
	services["postgres"] = map[string]any{
		"image": "postgres:15", "network_mode": "host", "restart": "unless-stopped",
		"command": []any{"-c", "listen_addresses=" + pgHost, "-p", pgPort},
		"environment": map[string]any{
			"POSTGRES_USER": "repair", "POSTGRES_DB": "repair",
			"POSTGRES_PASSWORD": "${RECEIVER_PG_PASSWORD:-repair-demo}",
		},
		"volumes": []any{"postgres-data:/var/lib/postgresql/data"},
	}
	volumes["postgres-data"] = nil
	for _, s := range d.Services {
		svc := map[string]any{
			"image": images[s.Kind], "network_mode": "host", "restart": "unless-stopped", "working_dir": "/stack",
			"command": s.Args,
		}
		if df, ok := dockerfiles[s.Kind]; ok {
			svc["build"] = map[string]any{"context": repo, "dockerfile": df}
		}
		vols := []any{repo + ":/stack:ro"}
		if s.Data {
			vols = append(vols, s.Name+"-data:/data/"+s.Name)
			volumes[s.Name+"-data"] = nil
		}
		svc["volumes"] = vols
		switch s.Kind {
		case Receiver:
			svc["environment"] = map[string]any{"PGPASSWORD": "${RECEIVER_PG_PASSWORD:-repair-demo}"}
			svc["depends_on"] = []any{"postgres"}
		case Prometheus, VMAlert:
			svc["depends_on"] = []any{"victoriametrics"}
		}
		services[s.Name] = svc
	}
	services["grafana"] = map[string]any{
		"image": "grafana/grafana:12.3.1", "network_mode": "host", "restart": "unless-stopped",
		"working_dir": "/usr/share/grafana", "depends_on": []any{"victoriametrics"},
		"environment": map[string]any{
			"GF_SERVER_HTTP_ADDR": "127.0.0.1", "GF_SERVER_HTTP_PORT": "3000",
			"GF_SECURITY_ADMIN_PASSWORD": "${GRAFANA_ADMIN_PASSWORD:-admin}",
			"GF_AUTH_ANONYMOUS_ENABLED":  "true", "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
			"GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": "/etc/grafana/dashboards/cgminer/farm.json",
			"GF_ANALYTICS_REPORTING_ENABLED":            "false", "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
		},
		"volumes": []any{
			filepath.Join(repo, composeDir, "config/centre/grafana-datasource.yml") + ":/etc/grafana/provisioning/datasources/victoriametrics.yml:ro",
			filepath.Join(repo, "dashboards/provisioning/dashboards") + ":/etc/grafana/provisioning/dashboards:ro",
		},
	}
	gv := services["grafana"].(map[string]any)
	for _, f := range dashboardFiles {
		gv["volumes"] = append(gv["volumes"].([]any), filepath.Join(repo, "dashboards", f)+":/etc/grafana/dashboards/cgminer/"+f+":ro")
	}
	gv["volumes"] = append(gv["volumes"].([]any), "grafana-data:/var/lib/grafana")
	volumes["grafana-data"] = nil
	for i, s := range t.Sites {
		services["minersim-"+s.Name] = map[string]any{
			"image": "cgminer-stack/minersim:dev", "network_mode": "host", "restart": "unless-stopped", "profiles": []any{"demo"},
			"build": map[string]any{"context": repo, "dockerfile": "docker/simulator.Dockerfile"},
			"command": []any{"--range=" + s.Exporters[0].Ranges[0], "--seed=" + strconv.Itoa(i+1),
				fmt.Sprintf("--control.listen-address=127.0.0.1:%d", 9156+10*i)},
		}
	}
	var buf bytes.Buffer
	buf.WriteString(header)
	buf.WriteString("#\n#   docker compose -f deploy/multisite/docker-compose.yml up -d --build\n" +
		"#   docker compose -f deploy/multisite/docker-compose.yml --profile demo up -d --build   # plus a simulated farm per site\n" +
		"#\n# Every service on the host's network, listening where deploy/multisite/topology.yml says (loopback\n" +
		"# here: one host plays every site and the centre). The repository is mounted read-only at /stack.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(map[string]any{"services": services, "volumes": volumes}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
