package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Link is one address `make run` prints. Every link answers when it is printed (Start drops the
// ones that do not), and the e2e test follows each.
type Link struct {
	Name string
	URL  string
	Note string
	// Login is a demo user (receiver/web.yml; password: the name with "-demo") the page needs.
	Login string
}

// Links are the addresses Banner prints.
func (s *Stack) Links() []Link { return append([]Link(nil), s.links...) }

// DemoLogins is receiver/web.yml's demo users, as Banner prints them.
const DemoLogins = "alice / alice-demo, bob / bob-demo (technicians, site-a), carol / carol-demo (lead), " +
	"dave / dave-demo (technician, other sites), admin / admin-demo, viewer / viewer-demo"

// candidateLinks are the pages worth printing for the binaries this run has.
func (s *Stack) candidateLinks(ctx context.Context) []Link {
	p, a, e := s.URLs.Prometheus, s.URLs.Alertmanager, s.URLs.Exporter
	var l []Link
	switch {
	case s.prometheusVersion.major >= 3:
		l = append(l,
			Link{Name: "Prometheus alerts", URL: p + "/alerts", Note: "every alert rule, pending and firing"},
			Link{Name: "Prometheus query", URL: p + "/query"},
			Link{Name: "Prometheus targets", URL: p + "/targets", Note: "the miners, the exporter, the receiver"})
	case s.prometheusVersion.major == 2:
		// Debian's 2.42 has only the classic UI (its React UI is not packaged).
		l = append(l,
			Link{Name: "Prometheus alerts", URL: p + "/classic/alerts", Note: "every alert rule, pending and firing"},
			Link{Name: "Prometheus query", URL: p + "/classic/graph"},
			Link{Name: "Prometheus targets", URL: p + "/classic/targets"})
	}
	if alertmanagerPlaceholder(ctx, a) {
		// Built by mk/peers.sh: no classic (Elm) UI; the new UI's status and config pages work.
		l = append(l, Link{Name: "Alertmanager status", URL: a + "/ui/#/status", Note: "status and config (this build has no alert list page)"})
	} else {
		l = append(l, Link{Name: "Alertmanager", URL: a + "/"})
	}
	l = append(l, Link{Name: "Alertmanager alerts", URL: a + "/api/v2/alerts", Note: "JSON (amtool: below)"})
	l = append(l, Link{Name: "Repair board", URL: s.URLs.Receiver + "/", Note: "demo logins below", Login: "viewer"})
	if s.firstMiner != "" {
		l = append(l, Link{Name: "Exporter probe", URL: e + "/probe?target=" + url.QueryEscape(s.firstMiner) + "&debug=true",
			Note: "one miner's replies and metrics"})
	}
	l = append(l, Link{Name: "Exporter discovery", URL: e + "/sd", Note: "the miners found (HTTP SD)"})
	if s.URLs.SimControl != "" {
		l = append(l, Link{Name: "Farm control", URL: s.URLs.SimControl + "/miners", Note: "the simulated miners and their faults"})
	}
	l = append(l,
		Link{Name: "Mail (mailpit)", URL: s.URLs.Mailpit + "/", Note: "every e-mail of Alertmanager and the receiver (SMTP " + s.SMTP + ")"},
		Link{Name: "Telegram (fake)", URL: s.URLs.Telegram + "/", Note: "every Telegram message of Alertmanager and the receiver"})
	return l
}

// alertmanagerPlaceholder tells whether Alertmanager's "/" is the page mk/peers.sh builds in place
// of the classic UI.
func alertmanagerPlaceholder(ctx context.Context, base string) bool {
	b, status, _, err := get(ctx, base+"/", "")
	return err == nil && status == http.StatusOK && strings.Contains(string(b), `<meta name="generator" content="cgminer-stack mk/peers.sh">`)
}

// answering keeps the links that answer 200.
func (s *Stack) answering(ctx context.Context, links []Link) []Link {
	var out []Link
	for _, l := range links {
		_, status, _, err := get(ctx, l.URL, l.Login)
		if err == nil && status == http.StatusOK {
			out = append(out, l)
			continue
		}
		reason := fmt.Sprint(err)
		if err == nil {
			reason = fmt.Sprintf("status %d", status)
		}
		fmt.Fprintf(s.opts.Log, "not listing %s (%s): %s\n", l.Name, l.URL, reason)
	}
	return out
}

// get fetches a URL (the fragment stays in the browser), with a demo login when user is set.
func get(ctx context.Context, u, user string) (body []byte, status int, contentType string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, "", err
	}
	if user != "" {
		req.SetBasicAuth(user, user+"-demo")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, "", err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return body, resp.StatusCode, resp.Header.Get("Content-Type"), err
}

// firstMinerAddress asks minersim for the farm's first miner.
func firstMinerAddress(ctx context.Context, control string) string {
	b, status, _, err := get(ctx, control+"/miners", "")
	if err != nil || status != http.StatusOK {
		return ""
	}
	var r struct {
		Miners []struct {
			Address string `json:"address"`
		} `json:"miners"`
	}
	if json.Unmarshal(b, &r) != nil || len(r.Miners) == 0 {
		return ""
	}
	return r.Miners[0].Address
}

// Banner is what `make run` prints once the stack is up: the links, the demo logins, commands
// (lines "    $ …": list the alerts, inject a fault), where the logs are.
func (s *Stack) Banner() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nThe stack is up (Ctrl-C stops everything it started): Prometheus %s, Alertmanager %s.\n\n",
		s.prometheusVersion, s.alertmanagerVersion)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, l := range s.links {
		fmt.Fprintf(w, "  %s\t%s\t%s\n", l.Name, l.URL, l.Note)
	}
	_ = w.Flush()
	fmt.Fprintf(&b, "\n  Demo logins: %s\n", DemoLogins)
	if len(s.chats) > 0 {
		var c []string
		for _, id := range sortedKeys(s.chats) {
			c = append(c, s.chats[id]+" "+id)
		}
		fmt.Fprintf(&b, "  Telegram chats the fake knows (receiver/receiver.yml people, alertmanager.yml): %s\n", strings.Join(c, ", "))
	}
	if len(s.opts.TelegramBlocked) > 0 {
		fmt.Fprintf(&b, "  Chats that blocked the bot (the fake answers 403): %s\n", strings.Join(s.opts.TelegramBlocked, ", "))
	}
	fmt.Fprintf(&b, "\n")
	for _, l := range s.Timing.Lines() {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	fmt.Fprintf(&b, "\n")
	amtool := filepath.Join(filepath.Dir(s.alertmanagerPath), "amtool")
	if _, err := os.Stat(amtool); err != nil {
		amtool = "amtool"
	}
	fmt.Fprintf(&b, "  The alerts Alertmanager holds:\n    $ %s alert --alertmanager.url=%s\n", amtool, s.URLs.Alertmanager)
	if s.URLs.SimControl != "" && s.firstMiner != "" {
		fmt.Fprintf(&b, "  Inject a fault:\n    $ curl -H 'Authorization: Bearer %s' -XPOST %s/miners/%s/faults -d '{\"fault\":\"fan_stopped\"}'\n",
			s.SimToken, s.URLs.SimControl, s.firstMiner)
	}
	fmt.Fprintf(&b, "  Logs and data: %s\n\n", s.opts.WorkDir)
	return b.String()
}
