package check

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Known is a set of metric names that exist, each with where it was found.
type Known map[string]string

// Always present: the series Prometheus itself makes for every target and alerting rule.
var builtinMetrics = map[string]string{
	"ALERTS":                  "Prometheus (alerting rules)",
	"up":                      "Prometheus (scrape)",
	"scrape_duration_seconds": "Prometheus (scrape)",
	"scrape_samples_scraped":  "Prometheus (scrape)",
}

// PeerMetrics are the names of Prometheus's and Alertmanager's own metrics (their /metrics, which
// prometheus.yml scrapes as jobs prometheus and alertmanager) that the dashboards may use. No
// document of ours defines them; TestPeerMetricsExist holds each one to what the real binaries
// (Debian's Prometheus 2.42, the current 3.x, Alertmanager 0.35) expose, so a name that a release
// renames or drops fails there.
var PeerMetrics = map[string]string{
	"prometheus_rule_group_last_duration_seconds":             "Prometheus /metrics",
	"prometheus_rule_group_interval_seconds":                  "Prometheus /metrics",
	"prometheus_rule_group_iterations_missed_total":           "Prometheus /metrics",
	"prometheus_rule_group_iterations_total":                  "Prometheus /metrics",
	"prometheus_rule_group_last_evaluation_timestamp_seconds": "Prometheus /metrics",
	"prometheus_rule_evaluation_failures_total":               "Prometheus /metrics",
	"prometheus_notifications_sent_total":                     "Prometheus /metrics",
	"prometheus_notifications_dropped_total":                  "Prometheus /metrics",
	"prometheus_notifications_errors_total":                   "Prometheus /metrics",
	"prometheus_notifications_queue_length":                   "Prometheus /metrics",
	"prometheus_notifications_alertmanagers_discovered":       "Prometheus /metrics",
	"prometheus_sd_discovered_targets":                        "Prometheus /metrics",
	"prometheus_target_scrapes_exceeded_sample_limit_total":   "Prometheus /metrics",
	"alertmanager_alerts":                                     "Alertmanager /metrics",
	"alertmanager_alerts_received_total":                      "Alertmanager /metrics",
	"alertmanager_notifications_total":                        "Alertmanager /metrics",
	"alertmanager_notifications_failed_total":                 "Alertmanager /metrics",
}

// NewKnown returns the set holding Prometheus's own series (ALERTS, up, …) and PeerMetrics.
func NewKnown() Known {
	k := Known{}
	for n, src := range builtinMetrics {
		k[n] = src
	}
	for n, src := range PeerMetrics {
		k[n] = src
	}
	return k
}

// Names returns the known names, sorted.
func (k Known) Names() []string {
	out := make([]string, 0, len(k))
	for n := range k {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

var (
	codeRe       = regexp.MustCompile("`([^`]+)`")
	metricNameRe = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
)

// AddMarkdown adds the metric names of every Markdown table in text whose first column is headed
// "metric" or "rule": each code span of a row's first cell that is a metric name. A histogram
// (the "type" column says so) adds its _bucket, _sum and _count series, a summary its _sum and
// _count. "fleet:…" after "site:x:op" in one cell stands for "fleet:x:op". Prose that names
// metrics counts too (see addProse). It returns how many names the text gave, so a caller can tell
// a document that no longer has its tables.
func (k Known) AddMarkdown(source, text string) int {
	added := k.addProse(source, text)
	var header []string
	for line := range strings.SplitSeq(text, "\n") {
		cells, ok := tableRow(line)
		if !ok {
			header = nil
			continue
		}
		if header == nil {
			header = cells
			continue
		}
		if isSeparator(cells) {
			continue
		}
		first := strings.ToLower(header[0])
		if first != "metric" && first != "rule" {
			continue
		}
		kind := ""
		for i, h := range header {
			if strings.EqualFold(h, "type") && i < len(cells) {
				kind = strings.ToLower(cells[i])
			}
		}
		prev := ""
		for _, m := range codeRe.FindAllStringSubmatch(cells[0], -1) {
			name := m[1]
			if level, ok := strings.CutSuffix(name, "…"); ok && prev != "" {
				// "fleet:…": the previous rule at another level.
				if _, rest, found := strings.Cut(prev, ":"); found {
					name = level + rest
				}
			}
			if !metricNameRe.MatchString(name) {
				continue
			}
			prev = name
			for _, n := range expand(name, kind) {
				if _, dup := k[n]; !dup {
					k[n] = source
				}
				added++
			}
		}
	}
	return added
}

func expand(name, kind string) []string {
	switch {
	case strings.HasPrefix(kind, "histogram"):
		return []string{name + "_bucket", name + "_sum", name + "_count"}
	case strings.HasPrefix(kind, "summary"):
		return []string{name, name + "_sum", name + "_count"}
	}
	return []string{name}
}

func tableRow(line string) ([]string, bool) {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") || len(line) < 2 {
		return nil, false
	}
	parts := strings.Split(line[1:len(line)-1], "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts, true
}

func isSeparator(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, "-: ") != "" {
			return false
		}
	}
	return true
}

// AddMarkdownFile is AddMarkdown on a file; a file without any metric table is an error (a renamed
// heading or a moved table would otherwise empty the list silently).
func (k Known) AddMarkdownFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if k.AddMarkdown(filepath.Base(path), string(data)) == 0 {
		return fmt.Errorf("%s: no table headed \"metric\" or \"rule\" with metric names", path)
	}
	return nil
}

// ruleFile is the part of a Prometheus rule file read here.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// AddRules adds the recording rule names of every *.yml and *.yaml file directly in dir. A missing
// dir adds nothing (the rules may not exist yet); a file that is not a rule file is an error.
func (k Known) AddRules(dir string) (int, error) {
	var files []string
	for _, pat := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return 0, err
		}
		files = append(files, m...)
	}
	added := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return added, err
		}
		var rf ruleFile
		if err := yaml.Unmarshal(data, &rf); err != nil {
			return added, fmt.Errorf("%s: %w", f, err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					k[r.Record] = filepath.Base(f)
					added++
				}
			}
		}
	}
	return added, nil
}

var (
	proseRe     = regexp.MustCompile(`\b[Mm]etrics?\s+` + "`")
	proseNameRe = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?$`)
)

// addProse adds the metrics that prose outside tables introduces with the word "Metric" or
// "Metrics" directly followed by code spans, as docs/contract-additions.md does for the
// receiver's later metrics: "Metrics `a_total{x,y}`, `b{z}` (remark) and `c`." Each span that is
// a metric name, with or without {labels}, counts, up to the first thing that is not another span,
// a comma, "and" or a parenthesised remark (whose spans are label values, not metrics). So in
// "Metric `a_total{result}`; label values `b{result}`" only a_total counts.
func (k Known) addProse(source, text string) int {
	var prose strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		if _, ok := tableRow(line); !ok {
			prose.WriteString(line)
			prose.WriteByte('\n')
		}
	}
	s := prose.String()
	added := 0
	for _, loc := range proseRe.FindAllStringIndex(s, -1) {
		i := loc[1] - 1 // at the opening backtick
		for i < len(s) {
			switch {
			case s[i] == '`':
				end := strings.IndexByte(s[i+1:], '`')
				if end < 0 {
					i = len(s)
					continue
				}
				span := s[i+1 : i+1+end]
				i += end + 2
				if m := proseNameRe.FindStringSubmatch(span); m != nil && strings.Contains(m[1], "_") {
					if _, dup := k[m[1]]; !dup {
						k[m[1]] = source
					}
					added++
				}
			case s[i] == ',' || s[i] == ' ' || s[i] == '\n' || s[i] == '\t':
				i++
			case strings.HasPrefix(s[i:], "and") && i+3 < len(s) && (s[i+3] == ' ' || s[i+3] == '\n'):
				i += len("and")
			case s[i] == '(':
				end := strings.IndexByte(s[i:], ')')
				if end < 0 {
					i = len(s)
					continue
				}
				i += end + 1
			default:
				i = len(s) // anything else ends the list
			}
		}
	}
	return added
}
