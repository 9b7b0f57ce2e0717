package docker

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

const root = ".."

// service is what docker-compose's resolved configuration says of one service.
type service struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	NetworkMode string            `yaml:"network_mode"`
	Profiles    []string          `yaml:"profiles"`
	Volumes     []string          `yaml:"volumes"`
	WorkingDir  string            `yaml:"working_dir"`
	Environment map[string]string `yaml:"environment"`
	User        string            `yaml:"user"`
}

type compose struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

func dockerCompose(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatal("docker-compose not found: install Debian's docker-compose package (make tools) — it validates docker-compose.yml without an engine")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The file's own defaults, not whatever the caller's shell exports.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool {
		return strings.HasPrefix(e, "GRAFANA_ADMIN_PASSWORD=") || strings.HasPrefix(e, "COMPOSE_")
	})
	err = cmd.Run()
	if err != nil {
		return stdout.Bytes(), &composeError{err: err, stderr: stderr.String()}
	}
	return stdout.Bytes(), nil
}

type composeError struct {
	err    error
	stderr string
}

func (e *composeError) Error() string { return e.err.Error() + ": " + e.stderr }

// resolved is docker-compose.yml as docker-compose reads it, demo profile included: anchors
// merged, relative paths made absolute. docker-compose runs once for all the tests.
func resolved(t *testing.T) compose {
	t.Helper()
	resolvedOnce.Do(func() { resolvedConfig, resolvedErr = resolve(t) })
	if resolvedErr != nil {
		t.Fatal(resolvedErr)
	}
	return resolvedConfig
}

var (
	resolvedOnce   sync.Once
	resolvedConfig compose
	resolvedErr    error
)

func resolve(t *testing.T) (compose, error) {
	file := filepath.Join(root, "docker-compose.yml")
	if _, err := dockerCompose(t, "-f", file, "config", "-q"); err != nil {
		return compose{}, fmt.Errorf("docker-compose config -q: %w", err)
	}
	out, err := dockerCompose(t, "-f", file, "--profile", "demo", "config")
	if err != nil {
		return compose{}, fmt.Errorf("docker-compose --profile demo config: %w", err)
	}
	var c compose
	if err := yaml.Unmarshal(out, &c); err != nil {
		return compose{}, fmt.Errorf("docker-compose config output: %w\n%s", err, out)
	}
	return c, nil
}

func TestComposeServices(t *testing.T) {
	c := resolved(t)
	var names []string
	for n := range c.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{"alertmanager", "cgminer_exporter", "grafana", "minersim", "price_exporter", "prometheus", "repair_receiver"}
	if !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}

	pinned := regexp.MustCompile(`^(prom/prometheus|prom/alertmanager|grafana/grafana):v?\d+\.\d+\.\d+$`)
	built := map[string]string{
		"cgminer_exporter": "docker/exporter.Dockerfile",
		"repair_receiver":  "docker/receiver.Dockerfile",
		"minersim":         "docker/simulator.Dockerfile",
		"price_exporter":   "docker/price.Dockerfile",
	}
	for name, s := range c.Services {
		t.Run(name, func(t *testing.T) {
			if s.NetworkMode != "host" {
				t.Errorf("network_mode %q, want host (prometheus.yml and alertmanager.yml use 127.0.0.1)", s.NetworkMode)
			}
			if s.User == "root" || s.User == "0" || strings.HasPrefix(s.User, "0:") {
				t.Errorf("runs as %s", s.User)
			}
			wantProfiles := []string(nil)
			if name == "minersim" {
				wantProfiles = []string{"demo"}
			}
			if !slices.Equal(s.Profiles, wantProfiles) {
				t.Errorf("profiles %v, want %v", s.Profiles, wantProfiles)
			}
			if df, ok := built[name]; ok {
				if s.Build == nil || s.Build.Dockerfile != df {
					t.Fatalf("build %+v, want dockerfile %s", s.Build, df)
				}
				abs, _ := filepath.Abs(root)
				if s.Build.Context != abs {
					t.Errorf("build context %s, want the repository root %s", s.Build.Context, abs)
				}
				if _, ok := binaries[filepath.Base(df)]; !ok {
					t.Errorf("%s is not one of the linted Dockerfiles", df)
				}
				if strings.HasSuffix(s.Image, ":latest") || !strings.Contains(s.Image, ":") {
					t.Errorf("image %q: tag the built image", s.Image)
				}
			} else if !pinned.MatchString(s.Image) {
				t.Errorf("image %q: want a pinned release of prom/prometheus, prom/alertmanager or grafana/grafana", s.Image)
			}
		})
	}
}

// Every file a service reads is mounted read-only from the repository and exists there; state is
// on named volumes; each path a flag names inside the container is provided by a mount.
func TestComposeMounts(t *testing.T) {
	c := resolved(t)
	repo, _ := filepath.Abs(root)
	for name, s := range c.Services {
		t.Run(name, func(t *testing.T) {
			var targets []string
			for _, v := range s.Volumes {
				parts := strings.Split(v, ":")
				if len(parts) < 2 {
					t.Errorf("volume %q: want source:target[:mode]", v)
					continue
				}
				src, dst := parts[0], parts[1]
				mode := ""
				if len(parts) > 2 {
					mode = parts[2]
				}
				targets = append(targets, dst)
				if !filepath.IsAbs(src) {
					if _, ok := c.Volumes[src]; !ok {
						t.Errorf("volume %q is not declared under volumes:", src)
					}
					continue
				}
				if !strings.HasPrefix(src, repo+string(filepath.Separator)) {
					t.Errorf("bind mount %s is outside the repository", src)
				}
				if mode != "ro" {
					t.Errorf("bind mount %s is %q: mount configuration and secrets read-only", v, mode)
				}
				if _, err := os.Stat(src); err != nil {
					t.Errorf("bind mount source missing: %v (docker would create an empty directory there)", err)
				}
			}
			for _, arg := range s.Command {
				_, val, ok := strings.Cut(arg, "=")
				if !ok || !strings.HasPrefix(val, "/") {
					continue
				}
				if !mounted(val, targets) {
					t.Errorf("%s: %s is on no volume or mount", arg, val)
				}
			}
		})
	}
}

func mounted(path string, targets []string) bool {
	for _, t := range targets {
		if path == t || strings.HasPrefix(path, strings.TrimSuffix(t, "/")+"/") {
			return true
		}
	}
	return false
}

// The flags and addresses the brief and the contract fix.
func TestComposeFlags(t *testing.T) {
	c := resolved(t)
	want := map[string][]string{
		"prometheus":       {"--config.file=/stack/prometheus.yml", "--web.listen-address=127.0.0.1:9090"},
		"alertmanager":     {"--config.file=/stack/alertmanager.yml", "--web.listen-address=127.0.0.1:9093"},
		"cgminer_exporter": {"--config.file=/stack/exporter/cgminer.yml", "--web.listen-address=127.0.0.1:9154"},
		"repair_receiver": {"--config.file=/stack/receiver/receiver.yml", "--web.config.file=/stack/receiver/web.yml",
			"--storage.path=/data/receiver.db", "--prometheus.url=http://127.0.0.1:9090", "--web.listen-address=127.0.0.1:9155"},
		"minersim":       {"--range=127.1.0.0/24", "--scenario=/stack/simulator/scenarios/demo.yml", "--control.listen-address=127.0.0.1:9156"},
		"price_exporter": {"--config.file=/stack/dashboards/price.yml", "--web.listen-address=127.0.0.1:9157"},
	}
	for name, flags := range want {
		for _, f := range flags {
			if !slices.Contains(c.Services[name].Command, f) {
				t.Errorf("%s: no %s in %v", name, f, c.Services[name].Command)
			}
		}
	}
	if !slices.Contains(c.Services["repair_receiver"].Volumes, "receiver-data:/data:rw") {
		t.Errorf("repair_receiver: the SQLite file needs the named volume receiver-data at /data: %v", c.Services["repair_receiver"].Volumes)
	}
	g := c.Services["grafana"].Environment
	if g["GF_SERVER_HTTP_ADDR"] != "127.0.0.1" || g["GF_SERVER_HTTP_PORT"] != "3000" {
		t.Errorf("grafana listens on %s:%s, want 127.0.0.1:3000", g["GF_SERVER_HTTP_ADDR"], g["GF_SERVER_HTTP_PORT"])
	}
}

// Grafana gets the provisioning folder and every dashboard, at the path the provider reads.
func TestComposeGrafanaProvisioning(t *testing.T) {
	c := resolved(t)
	data, err := os.ReadFile(filepath.Join(root, "dashboards", "provisioning", "dashboards", "cgminer.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(false)
	if err := dec.Decode(&prov); err != nil {
		t.Fatal(err)
	}
	if prov.APIVersion != 1 || len(prov.Providers) != 1 || prov.Providers[0].Type != "file" {
		t.Fatalf("provisioning: %+v", prov)
	}
	dir := prov.Providers[0].Options.Path
	repo, _ := filepath.Abs(root)
	vols := c.Services["grafana"].Volumes
	if !slices.Contains(vols, filepath.Join(repo, "dashboards", "provisioning")+":/etc/grafana/provisioning:ro") {
		t.Errorf("grafana: provisioning not mounted at /etc/grafana/provisioning: %v", vols)
	}
	dashboards, _ := filepath.Glob(filepath.Join(repo, "dashboards", "*.json"))
	if len(dashboards) == 0 {
		t.Fatal("no dashboards")
	}
	for _, d := range dashboards {
		want := d + ":" + dir + "/" + filepath.Base(d) + ":ro"
		if !slices.Contains(vols, want) {
			t.Errorf("grafana: %s not mounted where the provider reads (%s)", filepath.Base(d), want)
		}
	}

	ds, err := os.ReadFile(filepath.Join(root, "dashboards", "provisioning", "datasources", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var dsp struct {
		Datasources []struct {
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(ds, &dsp); err != nil {
		t.Fatal(err)
	}
	if len(dsp.Datasources) != 1 || dsp.Datasources[0].Type != "prometheus" || dsp.Datasources[0].URL != "http://127.0.0.1:9090" {
		t.Errorf("datasource: %+v", dsp)
	}
}

// docker-compose's own validation refuses a broken file, so the check above can fail.
func TestComposeRefusesBrokenFile(t *testing.T) {
	_, err := dockerCompose(t, "-f", filepath.Join("testdata", "broken-compose.yml"), "config", "-q")
	if err == nil {
		t.Fatal("docker-compose accepted testdata/broken-compose.yml")
	}
	if !strings.Contains(err.Error(), "netwrok_mode") {
		t.Errorf("want the unknown key named, got %v", err)
	}
}
