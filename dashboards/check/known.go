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
	"ALERTS": "Prometheus (alerting rules)",
	"up":     "Prometheus (scrape)",
}

// NewKnown returns the set holding Prometheus's own series (ALERTS, up, …).
func NewKnown() Known {
	k := Known{}
	for n, src := range builtinMetrics {
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
// _count. "fleet:…" after "site:x:op" in one cell stands for "fleet:x:op". It returns how many
// names the text gave, so a caller can tell a document that no longer has its tables.
func (k Known) AddMarkdown(source, text string) int {
	added := 0
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
