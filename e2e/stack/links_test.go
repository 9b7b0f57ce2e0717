package stack

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakePeer answers the paths in pages with 200 and their body, everything else with status.
func fakePeer(t *testing.T, pages map[string]string, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, ok := pages[r.URL.Path]; ok {
			_, _ = w.Write([]byte(b))
			return
		}
		http.Error(w, "Error opening React index.html", status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func names(links []Link) string {
	var n []string
	for _, l := range links {
		n = append(n, l.Name+" "+l.URL)
	}
	return strings.Join(n, "\n")
}

// The links follow the binaries: Prometheus 3's UI paths, Debian 2.42's classic ones, none for a
// Prometheus without a UI (a plain `go install` answers 500); Alertmanager's new UI when "/" is
// mk/peers.sh's page, its "/" otherwise; the receiver with a demo login; and a link that does not
// answer is not printed.
func TestLinks(t *testing.T) {
	const placeholder = `<html><head><meta name="generator" content="cgminer-stack mk/peers.sh"><title>Alertmanager</title>`
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "viewer" || p != "viewer-demo" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("<title>board</title>"))
	}))
	defer receiver.Close()
	exporter := fakePeer(t, map[string]string{"/probe": "cgminer_up 1\n", "/sd": "[]"}, http.StatusNotFound)
	sim := fakePeer(t, map[string]string{"/miners": `{"miners":[]}`}, http.StatusNotFound)

	for _, c := range []struct {
		name       string
		prometheus version
		promPages  map[string]string
		amPages    map[string]string
		want       []string // link names and paths, in order
	}{
		{"current pair", version{3, 16, 0},
			map[string]string{"/alerts": "<title>Prometheus</title>", "/query": "q", "/targets": "t"},
			map[string]string{"/": placeholder, "/ui/": "<title>Alertmanager</title>", "/api/v2/alerts": "[]"},
			[]string{"Prometheus alerts /alerts", "Prometheus query /query", "Prometheus targets /targets",
				"Alertmanager status /ui/#/status", "Alertmanager alerts /api/v2/alerts", "Repair board /",
				"Exporter probe /probe?target=127.1.0.1&debug=true", "Exporter discovery /sd", "Farm control /miners"}},
		{"debian prometheus, alertmanager release with its UI", version{2, 42, 0},
			map[string]string{"/classic/alerts": "a", "/classic/graph": "g", "/classic/targets": "t"},
			map[string]string{"/": "<title>Alertmanager</title>", "/api/v2/alerts": "[]"},
			[]string{"Prometheus alerts /classic/alerts", "Prometheus query /classic/graph", "Prometheus targets /classic/targets",
				"Alertmanager /", "Alertmanager alerts /api/v2/alerts", "Repair board /",
				"Exporter probe /probe?target=127.1.0.1&debug=true", "Exporter discovery /sd", "Farm control /miners"}},
		{"prometheus 3 without its UI", version{3, 16, 0},
			map[string]string{},
			map[string]string{"/": placeholder, "/ui/": "<title>Alertmanager</title>", "/api/v2/alerts": "[]"},
			[]string{"Alertmanager status /ui/#/status", "Alertmanager alerts /api/v2/alerts", "Repair board /",
				"Exporter probe /probe?target=127.1.0.1&debug=true", "Exporter discovery /sd", "Farm control /miners"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var log bytes.Buffer
			s := &Stack{opts: Options{Log: &log}, prometheusVersion: c.prometheus, firstMiner: "127.1.0.1"}
			s.URLs = URLs{Prometheus: fakePeer(t, c.promPages, http.StatusInternalServerError),
				Alertmanager: fakePeer(t, c.amPages, http.StatusNotFound), Exporter: exporter, Receiver: receiver.URL, SimControl: sim}
			got := s.answering(context.Background(), s.candidateLinks(context.Background()))
			var want []string
			for _, w := range c.want {
				name, path, _ := strings.Cut(w, " /")
				base := map[string]string{"Prometheus": s.URLs.Prometheus, "Alertmanager": s.URLs.Alertmanager, "Repair": s.URLs.Receiver,
					"Exporter": s.URLs.Exporter, "Farm": s.URLs.SimControl}[strings.Fields(name)[0]]
				want = append(want, name+" "+base+"/"+path)
			}
			if names(got) != strings.Join(want, "\n") {
				t.Errorf("links:\n%s\nwant:\n%s\nlog:\n%s", names(got), strings.Join(want, "\n"), log.String())
			}
			for _, l := range got {
				if l.Name == "Repair board" && l.Login != "viewer" {
					t.Errorf("the board's link has login %q", l.Login)
				}
			}
			s.links = got
			banner := s.Banner()
			for _, l := range got {
				if !strings.Contains(banner, l.URL) {
					t.Errorf("the banner does not print %s", l.URL)
				}
			}
		})
	}
}
