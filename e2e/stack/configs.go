package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Fast mode divides the rules' `for:` by this (MinerOffline's 5m becomes 10s) and the receiver's
// windows by receiverDiv.
const (
	forDiv      = 30
	receiverDiv = 60
)

// closedTelegramAPI is where the stack's Alertmanager sends Telegram messages: nothing listens there.
const closedTelegramAPI = "http://127.0.0.1:9"

func readYAML(path string, ports *strings.Replacer) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(ports.Replace(string(b))), &doc); err != nil {
		return nil, err
	}
	if doc == nil {
		doc = map[string]any{}
	}
	return doc, nil
}

// absPaths makes every relative path under a key ending in "_file", or listed under "files",
// absolute (relative to dir), so the copy works from the work folder.
func absPaths(v any, dir string) {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			switch {
			case strings.HasSuffix(k, "_file"):
				if s, ok := val.(string); ok && s != "" && !filepath.IsAbs(s) {
					t[k] = filepath.Join(dir, s)
				}
			case k == "files":
				if l, ok := val.([]any); ok {
					for i, e := range l {
						if s, ok := e.(string); ok && !filepath.IsAbs(s) {
							l[i] = filepath.Join(dir, s)
						}
					}
				}
			default:
				absPaths(val, dir)
			}
		}
	case []any:
		for _, e := range t {
			absPaths(e, dir)
		}
	}
}

func (s *Stack) prometheusConfig(ports *strings.Replacer, out string) error {
	o := s.opts
	doc, err := readYAML(filepath.Join(o.Root, "prometheus.yml"), ports)
	if err != nil {
		return err
	}
	absPaths(doc, o.Root)
	if o.Fast {
		g, _ := doc["global"].(map[string]any)
		if g == nil {
			g = map[string]any{}
			doc["global"] = g
		}
		g["scrape_interval"], g["evaluation_interval"], g["scrape_timeout"] = "2s", "2s", "1500ms"
		if jobs, ok := doc["scrape_configs"].([]any); ok {
			for _, j := range jobs {
				if m, ok := j.(map[string]any); ok {
					delete(m, "scrape_interval")
					delete(m, "scrape_timeout")
					for _, sd := range []string{"http_sd_configs", "file_sd_configs"} {
						if l, ok := m[sd].([]any); ok {
							for _, e := range l {
								if c, ok := e.(map[string]any); ok {
									c["refresh_interval"] = "2s"
								}
							}
						}
					}
				}
			}
		}
	}
	// Rule files: absolute, and in Fast mode rewritten with shorter `for:`.
	var rules []any
	files, _ := doc["rule_files"].([]any)
	for _, f := range files {
		pattern, _ := f.(string)
		if !filepath.IsAbs(pattern) {
			pattern = filepath.Join(o.Root, pattern)
		}
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return err
		}
		for _, m := range matches {
			if !o.Fast {
				rules = append(rules, m)
				continue
			}
			dst := filepath.Join(o.WorkDir, "rules", filepath.Base(m))
			if err := scaleRules(m, dst); err != nil {
				return fmt.Errorf("%s: %w", m, err)
			}
			rules = append(rules, dst)
		}
	}
	doc["rule_files"] = rules
	return writeYAML(out, doc)
}

// scaleRules copies a rule file with every `for:` and `keep_firing_for:` divided.
func scaleRules(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	doc, err := readYAML(src, strings.NewReplacer())
	if err != nil {
		return err
	}
	groups, _ := doc["groups"].([]any)
	for _, g := range groups {
		gm, _ := g.(map[string]any)
		if iv, ok := gm["interval"].(string); ok {
			gm["interval"] = scale(iv, forDiv, 2e9)
		}
		rules, _ := gm["rules"].([]any)
		for _, r := range rules {
			rm, _ := r.(map[string]any)
			for _, k := range []string{"for", "keep_firing_for"} {
				if v, ok := rm[k].(string); ok {
					rm[k] = scale(v, forDiv, 4e9)
				}
			}
		}
	}
	return writeYAML(dst, doc)
}

func (s *Stack) alertmanagerConfig(ports *strings.Replacer, out string) error {
	o := s.opts
	doc, err := readYAML(filepath.Join(o.Root, "alertmanager.yml"), ports)
	if err != nil {
		return err
	}
	absPaths(doc, o.Root)
	// Telegram never leaves the machine: a receiver's telegram_configs without api_url would post to
	// api.telegram.org. Until the stack runs a fake of the Bot API, they post to a closed loopback
	// port (Alertmanager logs the failed notification and retries).
	if rs, ok := doc["receivers"].([]any); ok {
		for _, r := range rs {
			rm, _ := r.(map[string]any)
			tcs, _ := rm["telegram_configs"].([]any)
			for _, tc := range tcs {
				if m, ok := tc.(map[string]any); ok && m["api_url"] == nil {
					m["api_url"] = closedTelegramAPI
				}
			}
		}
	}
	if o.Fast {
		var walk func(r map[string]any)
		walk = func(r map[string]any) {
			for k, v := range map[string]string{"group_wait": "1s", "group_interval": "2s", "repeat_interval": "1m"} {
				if _, ok := r[k]; ok || r["receiver"] != nil && k != "repeat_interval" {
					r[k] = v
				}
			}
			if subs, ok := r["routes"].([]any); ok {
				for _, sr := range subs {
					if m, ok := sr.(map[string]any); ok {
						walk(m)
					}
				}
			}
		}
		if root, ok := doc["route"].(map[string]any); ok {
			walk(root)
		}
	}
	return writeYAML(out, doc)
}

func (s *Stack) receiverConfig(ports *strings.Replacer, out string) error {
	o := s.opts
	doc, err := readYAML(filepath.Join(o.Root, "receiver", "receiver.yml"), ports)
	if err != nil {
		return err
	}
	absPaths(doc, filepath.Join(o.Root, "receiver"))
	doc["external_url"] = "http://127.0.0.1:" + fmt.Sprint(o.ReceiverPort)
	if o.Fast {
		w, _ := doc["windows"].(map[string]any)
		if w == nil {
			w = map[string]any{}
			doc["windows"] = w
		}
		defaults := map[string]string{"grace": "10m", "reopen_window": "24h", "settle": "2m", "verify_window": "15m", "escalate_after": "30m", "escalate_repeat": "30m"}
		for k, def := range defaults {
			v, ok := w[k].(string)
			if !ok {
				v = def
			}
			w[k] = scale(v, receiverDiv, 2e9)
		}
	}
	return writeYAML(out, doc)
}
