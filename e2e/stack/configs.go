package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

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
	o, t := s.opts, s.Timing
	doc, err := readYAML(filepath.Join(o.Root, "prometheus.yml"), ports)
	if err != nil {
		return err
	}
	absPaths(doc, o.Root)
	if t.Scrape > 0 {
		g, _ := doc["global"].(map[string]any)
		if g == nil {
			g = map[string]any{}
			doc["global"] = g
		}
		g["scrape_interval"], g["evaluation_interval"], g["scrape_timeout"] = formatDuration(t.Scrape), formatDuration(t.Scrape), formatDuration(t.ScrapeTimeout)
		if jobs, ok := doc["scrape_configs"].([]any); ok {
			for _, j := range jobs {
				if m, ok := j.(map[string]any); ok {
					delete(m, "scrape_interval")
					delete(m, "scrape_timeout")
					for _, sd := range []string{"http_sd_configs", "file_sd_configs"} {
						if l, ok := m[sd].([]any); ok {
							for _, e := range l {
								if c, ok := e.(map[string]any); ok {
									c["refresh_interval"] = formatDuration(t.SDRefresh)
								}
							}
						}
					}
				}
			}
		}
	}
	// Rule files: absolute, and at another speed rewritten with shorter `for:`.
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
			if t.ForDiv <= 1 && t.GroupDiv <= 1 {
				rules = append(rules, m)
				continue
			}
			dst := filepath.Join(o.WorkDir, "rules", filepath.Base(m))
			if err := scaleRules(m, dst, t); err != nil {
				return fmt.Errorf("%s: %w", m, err)
			}
			rules = append(rules, dst)
		}
	}
	doc["rule_files"] = rules
	return writeYAML(out, doc)
}

// unscaled are the rules whose `for:` is kept at every speed: MinerRestarting's short_uptime
// compares the miner's uptime with 10 real minutes, so a shorter `for:` would fire on any single
// restart (remediation's).
var unscaled = map[string]bool{"MinerRestarting/short_uptime": true}

// scaleRules copies a rule file with every `for:` and `keep_firing_for:` and every group's
// interval divided.
func scaleRules(src, dst string, t Timing) error {
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
			gm["interval"] = scale(iv, t.GroupDiv, t.GroupMin)
		}
		rules, _ := gm["rules"].([]any)
		for _, r := range rules {
			rm, _ := r.(map[string]any)
			labels, _ := rm["labels"].(map[string]any)
			if name, _ := rm["alert"].(string); unscaled[name+"/"+fmt.Sprint(labels["reason"])] {
				continue
			}
			for _, k := range []string{"for", "keep_firing_for"} {
				if v, ok := rm[k].(string); ok {
					rm[k] = scale(v, t.ForDiv, t.ForMin)
				}
			}
		}
	}
	return writeYAML(dst, doc)
}

// alertmanagerConfig is alertmanager.yml with its e-mail sent to this run's mailpit and its
// Telegram messages to the run's Bot API fake: nothing leaves the machine (a telegram_configs
// without api_url would post to api.telegram.org, an e-mail go to the host's port 25).
func (s *Stack) alertmanagerConfig(ports *strings.Replacer, out string) error {
	o, t := s.opts, s.Timing
	doc, err := readYAML(filepath.Join(o.Root, "alertmanager.yml"), ports)
	if err != nil {
		return err
	}
	absPaths(doc, o.Root)
	g, _ := doc["global"].(map[string]any)
	if g == nil {
		g = map[string]any{}
		doc["global"] = g
	}
	g["smtp_smarthost"], g["smtp_require_tls"] = s.SMTP, false
	if rs, ok := doc["receivers"].([]any); ok {
		for _, r := range rs {
			rm, _ := r.(map[string]any)
			tcs, _ := rm["telegram_configs"].([]any)
			for _, tc := range tcs {
				if m, ok := tc.(map[string]any); ok {
					m["api_url"] = s.URLs.Telegram
					if id := fmt.Sprint(m["chat_id"]); id != "" && id != "<nil>" {
						s.chats[id] = "Alertmanager " + fmt.Sprint(rm["name"])
					}
				}
			}
			ecs, _ := rm["email_configs"].([]any)
			for _, ec := range ecs {
				if m, ok := ec.(map[string]any); ok {
					if _, set := m["smarthost"]; set {
						m["smarthost"], m["require_tls"] = s.SMTP, false
					}
				}
			}
		}
	}
	if t.GroupWait > 0 {
		var walk func(r map[string]any)
		walk = func(r map[string]any) {
			r["group_wait"], r["group_interval"] = formatDuration(t.GroupWait), formatDuration(t.GroupInterval)
			if _, ok := r["repeat_interval"]; ok && t.RepeatInterval > 0 {
				r["repeat_interval"] = formatDuration(t.RepeatInterval)
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

// receiverConfig is receiver/receiver.yml with the run's URLs, its notifications through mailpit
// and the Telegram fake, and the speed's windows and escalation timeouts.
func (s *Stack) receiverConfig(ports *strings.Replacer, out string) error {
	o, t := s.opts, &s.Timing
	doc, err := readYAML(filepath.Join(o.Root, "receiver", "receiver.yml"), ports)
	if err != nil {
		return err
	}
	absPaths(doc, filepath.Join(o.Root, "receiver"))
	doc["external_url"] = s.URLs.Receiver
	if n, ok := doc["notify"].(map[string]any); ok {
		if tg, ok := n["telegram"].(map[string]any); ok {
			tg["api_url"] = s.URLs.Telegram
			if id, ok := tg["chat_id"].(string); ok && id != "" {
				s.chats[id] = "the crew's group"
			}
		}
		if em, ok := n["email"].(map[string]any); ok {
			em["smarthost"] = s.SMTP
			delete(em, "starttls") // mailpit offers none; auto uses it when a server does
		}
	}
	if people, ok := doc["people"].(map[string]any); ok {
		for name, p := range people {
			if pm, ok := p.(map[string]any); ok {
				if id, ok := pm["telegram_chat_id"].(string); ok && id != "" {
					s.chats[id] = name
				}
			}
		}
	}

	w, _ := doc["windows"].(map[string]any)
	if w == nil {
		w = map[string]any{}
		doc["windows"] = w
	}
	defaults := map[string]string{"grace": "10m", "reopen_window": "24h", "settle": "2m", "verify_window": "15m", "reconcile_after": "30m"}
	t.Windows = map[string]time.Duration{}
	for k, def := range defaults {
		v, ok := w[k].(string)
		if !ok {
			v = def
		}
		switch {
		case o.RealVerification && (k == "settle" || k == "verify_window"):
		case o.Speed == Fast:
			v = scale(v, receiverDiv, 2*time.Second)
		case o.Speed == Demo && demoWindows[k] > 0:
			v = formatDuration(demoWindows[k])
		}
		w[k] = v
		t.Windows[k], _ = parseDuration(v)
	}

	e, _ := doc["escalation"].(map[string]any)
	if e != nil {
		sev, _ := e["severities"].(map[string]any)
		t.Escalation = map[string][2]time.Duration{}
		for name, v := range sev {
			tm, _ := v.(map[string]any)
			if tm == nil {
				tm = map[string]any{}
				sev[name] = tm
			}
			var got [2]time.Duration
			for i, k := range []string{"ack_timeout", "progress_timeout"} {
				str, ok := tm[k].(string)
				if !ok {
					continue
				}
				switch o.Speed {
				case Fast:
					str = scale(str, receiverDiv, 10*time.Second)
				case Demo:
					if d := demoEscalation[name][i]; d > 0 {
						str = formatDuration(d)
					}
				}
				tm[k] = str
				got[i], _ = parseDuration(str)
			}
			if o.Speed != Real {
				delete(tm, "repeat") // the last step repeats every wait of this run
			}
			t.Escalation[name] = got
		}
		ladder, _ := e["ladder"].([]any)
		t.Ladder = nil
		for i, st := range ladder {
			sm, _ := st.(map[string]any)
			step := fmt.Sprintf("%d %v over %v", i+1, sm["to"], sm["channels"])
			if em, ok := sm["emails"].([]any); ok && len(em) > 0 {
				step += fmt.Sprintf(" and %v", em)
			}
			if sm["assign"] == true {
				step += " (takes the task)"
			}
			t.Ladder = append(t.Ladder, strings.NewReplacer("[", "", "]", "").Replace(step))
		}
	}
	return writeYAML(out, doc)
}

// remedyConfig is receiver/remedy.yml (the demo remediation) restricted to this run's farm and
// checking at the speed's interval.
func (s *Stack) remedyConfig(out string) error {
	o, t := s.opts, &s.Timing
	doc, err := readYAML(filepath.Join(o.Root, "receiver", "remedy.yml"), strings.NewReplacer())
	if err != nil {
		return err
	}
	absPaths(doc, filepath.Join(o.Root, "receiver"))
	doc["allowed_targets"] = []string{o.SimRange}
	if t.RemedyInterval > 0 {
		doc["interval"] = formatDuration(t.RemedyInterval)
	}
	interval := fmt.Sprint(doc["interval"])
	rules, _ := doc["rules"].([]any)
	t.Remedy = nil
	for _, r := range rules {
		rm, _ := r.(map[string]any)
		t.Remedy = append(t.Remedy, fmt.Sprintf("rule %v: %v of %v after %v failed checks %s apart, at most once per miner per %v",
			rm["name"], rm["mode"], strings.NewReplacer("[", "", "]", "").Replace(fmt.Sprint(rm["alerts"])), rm["after_checks"], interval, rm["per_miner_window"]))
	}
	return writeYAML(out, doc)
}
