package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/e2e/stack"
)

// Text a page must show once a browser has rendered it (its scripts ran and fetched their data):
// the single-page UIs answer 200 with the same empty shell whatever happens next.
var renderedText = map[string]string{
	"Prometheus alerts":   "MinerOffline",
	"Prometheus query":    "Execute",
	"Prometheus targets":  "cgminer",
	"Alertmanager status": "Cluster Status",
	"Mail (mailpit)":      "Mark all read",
	"Telegram (fake)":     "Telegram messages",
}

// The links `make run` must print on the current Prometheus and Alertmanager.
var requiredLinks = []string{"Prometheus alerts", "Prometheus query", "Alertmanager status", "Alertmanager alerts",
	"Repair board", "Exporter probe", "Exporter discovery", "Farm control", "Mail (mailpit)", "Telegram (fake)"}

// checkLinks follows every link the banner of `make run` prints: each answers 200; an HTML page is
// no error page, names a title, and every script, stylesheet and icon it loads answers 200 from the
// same server; a page in renderedText shows its text once Chromium has rendered it; JSON parses
// (and a Prometheus-style status is "success").
func checkLinks(t *testing.T, s *stack.Stack) {
	banner := s.Banner()
	t.Logf("banner:\n%s", banner)
	links := s.Links()
	byURL := map[string]stack.Link{}
	names := map[string]bool{}
	for _, l := range links {
		byURL[l.URL] = l
		names[l.Name] = true
	}
	for _, n := range requiredLinks {
		if !names[n] {
			t.Errorf("the banner does not list %q", n)
		}
	}
	// Every address printed outside a command ("    $ …") is one of the links followed below.
	urlRE := regexp.MustCompile(`https?://[^\s'"]+`)
	for _, line := range strings.Split(banner, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "$ ") {
			continue
		}
		for _, u := range urlRE.FindAllString(line, -1) {
			if _, ok := byURL[u]; !ok {
				t.Errorf("the banner prints %s, which is not a followed link", u)
			}
		}
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: `make tools` installs Debian's chromium")
	}
	for _, l := range links {
		t.Run(l.Name, func(t *testing.T) {
			ct, page, problems := follow(l)
			for _, p := range problems {
				t.Error(p)
			}
			want, ok := renderedText[l.Name]
			if !ok || !strings.HasPrefix(ct, "text/html") {
				return
			}
			text := render(t, chromium, l.URL)
			if !strings.Contains(text, want) {
				t.Errorf("%s rendered shows no %q:\n%.2000s\n(served: %.500s)", l.URL, want, text, page)
			}
		})
	}
}

var errorPage = regexp.MustCompile(`(?i)404 page not found|error opening react index|internal server error|<title>[^<]*(error|not found)`)

// follow GETs a link as a browser would (the fragment stays behind) and says what is wrong with
// what comes back.
func follow(l stack.Link) (contentType, body string, problems []string) {
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	b, resp, err := fetch(l.URL, l.Login)
	if err != nil {
		return "", "", []string{err.Error()}
	}
	contentType = resp.Header.Get("Content-Type")
	body = string(b)
	if resp.StatusCode != http.StatusOK {
		bad("%s: status %d: %.300s", l.URL, resp.StatusCode, b)
		return contentType, body, problems
	}
	switch {
	case strings.HasPrefix(contentType, "text/html"):
		if errorPage.MatchString(body) {
			bad("%s is an error page: %.500s", l.URL, body)
		}
		if m := regexp.MustCompile(`(?is)<title>\s*([^<]*?)\s*</title>`).FindStringSubmatch(body); m == nil || m[1] == "" {
			bad("%s has no title: %.500s", l.URL, body)
		}
		base := resp.Request.URL
		for _, ref := range assets(body) {
			u, err := base.Parse(ref)
			if err != nil {
				bad("%s loads %q: %v", l.URL, ref, err)
				continue
			}
			if u.Host != base.Host {
				bad("%s loads %s from another host (this network reaches none)", l.URL, u)
				continue
			}
			ab, aresp, err := fetch(u.String(), l.Login)
			if err != nil {
				bad("%s loads %s: %v", l.URL, u, err)
			} else if aresp.StatusCode != http.StatusOK || len(ab) == 0 {
				bad("%s loads %s: status %d, %d bytes", l.URL, u, aresp.StatusCode, len(ab))
			}
		}
	case strings.HasPrefix(contentType, "application/json"):
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			bad("%s: not JSON: %v: %.300s", l.URL, err, b)
		}
		if m, ok := v.(map[string]any); ok && m["status"] != nil && m["status"] != "success" {
			bad("%s: status %v: %.300s", l.URL, m["status"], b)
		}
	default:
		if len(strings.TrimSpace(body)) == 0 {
			bad("%s (%s) is empty", l.URL, contentType)
		}
	}
	return contentType, body, problems
}

func fetch(u, user string) ([]byte, *http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	if user != "" {
		req.SetBasicAuth(user, user+"-demo")
	}
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return b, resp, nil
}

// assets are the scripts, stylesheets and icons a page loads.
func assets(page string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?is)<script\b[^>]*\bsrc\s*=\s*["']([^"']+)["']`).FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	for _, tag := range regexp.MustCompile(`(?is)<link\b[^>]*>`).FindAllString(page, -1) {
		rel := regexp.MustCompile(`(?i)\brel\s*=\s*["']([^"']+)["']`).FindStringSubmatch(tag)
		href := regexp.MustCompile(`(?i)\bhref\s*=\s*["']([^"']+)["']`).FindStringSubmatch(tag)
		if rel != nil && href != nil && regexp.MustCompile(`(?i)stylesheet|icon|modulepreload`).MatchString(rel[1]) {
			out = append(out, href[1])
		}
	}
	return out
}

// render is the text of a page after headless Chromium ran its scripts (flags as this machine
// needs them: no sandbox as root, no background connections to the closed network).
func render(t *testing.T, chromium, u string) string {
	t.Helper()
	if _, err := url.Parse(u); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=15000", "--dump-dom", u)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%.2000s", u, err, stderr.String())
	}
	dom := regexp.MustCompile(`(?is)<(script|style)\b.*?</(script|style)>`).ReplaceAllString(string(out), " ")
	text := regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(dom, " ")
	return strings.Join(strings.Fields(text), " ")
}

// binaries is the current Prometheus and Alertmanager: PROMETHEUS and ALERTMANAGER (make exports
// them), else the newest in .tools/.
func binaries(t *testing.T, root string) (prometheus, alertmanager string) {
	t.Helper()
	p, a, err := stack.Binaries(root, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return p, a
}

// The checker itself: each way a page can be broken is reported, a working page is not.
func TestFollow(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		html := func(b string) { w.Header().Set("Content-Type", "text/html; charset=utf-8"); _, _ = w.Write([]byte(b)) }
		switch r.URL.Path {
		case "/ok/":
			html(`<!doctype html><title>UI</title><link rel="stylesheet" href="./app.css"><script type="module" src="./app.js"></script>`)
		case "/ok/app.js", "/ok/app.css", "/broken/app.css":
			_, _ = w.Write([]byte("x"))
		case "/broken/":
			// mailpit built by `go install`: the page answers, its script does not.
			html(`<title>Mailpit</title><link rel=stylesheet href="/broken/app.css"><script src="/broken/app.js"></script>`)
		case "/untitled":
			html(`<div id="root"></div>`)
		case "/error":
			html(`<title>Error</title>`)
		case "/remote":
			html(`<title>x</title><script src="https://cdn.example.com/x.js"></script>`)
		case "/board":
			if u, p, ok := r.BasicAuth(); !ok || u != "viewer" || p != "viewer-demo" {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			html(`<title>Board</title>`)
		case "/api/ok":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"success","data":[]}`))
		case "/api/error":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"error","error":"bad"}`))
		case "/api/garbage":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":`))
		default:
			// Prometheus 3 built without its UI.
			http.Error(w, "Error opening React index.html: open static/mantine-ui/index.html: no such file or directory", 500)
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		path, login string
		broken      bool
	}{
		{"/ok/#/status", "", false},
		{"/board", "viewer", false},
		{"/api/ok", "", false},
		{"/broken/", "", true},
		{"/untitled", "", true},
		{"/error", "", true},
		{"/remote", "", true},
		{"/board", "", true},
		{"/api/error", "", true},
		{"/api/garbage", "", true},
		{"/alerts", "", true},
	} {
		t.Run(c.path+" "+c.login, func(t *testing.T) {
			_, _, problems := follow(stack.Link{Name: c.path, URL: srv.URL + c.path, Login: c.login})
			if got := len(problems) > 0; got != c.broken {
				t.Errorf("broken = %v, want %v: %q", got, c.broken, problems)
			}
		})
	}
}
