package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/e2e/stack"
)

// What the tests read back from the stack's peers: mailpit's API (the e-mail Alertmanager and the
// receiver sent), the Telegram fake's record, the receiver's metrics.

// mail is a message in mailpit's list.
type mail struct {
	ID      string `json:"ID"`
	Subject string `json:"Subject"`
	To      []struct {
		Address string `json:"Address"`
	} `json:"To"`
	Created time.Time `json:"Created"`
}

func (m mail) to(addr string) bool {
	for _, a := range m.To {
		if strings.EqualFold(a.Address, addr) {
			return true
		}
	}
	return false
}

func (c *client) mails() []mail {
	c.t.Helper()
	resp, err := http.Get(c.s.URLs.Mailpit + "/api/v1/messages?limit=1000")
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Messages []mail `json:"messages"`
	}
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("mailpit messages: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		c.t.Fatalf("mailpit messages: %v", err)
	}
	return r.Messages
}

// waitMail waits for a message mailpit received that cond accepts (the oldest such).
func (c *client) waitMail(what string, within time.Duration, cond func(mail) bool) mail {
	c.t.Helper()
	var found mail
	c.eventually(what, within, func() (bool, string) {
		ms := c.mails()
		for i := len(ms) - 1; i >= 0; i-- { // newest first in the list
			if cond(ms[i]) {
				found = ms[i]
				return true, ""
			}
		}
		var subjects []string
		for _, m := range ms {
			subjects = append(subjects, m.Subject)
		}
		return false, fmt.Sprintf("%d messages: %q", len(ms), subjects)
	})
	return found
}

// mailBody is a message's text and HTML parts.
func (c *client) mailBody(id string) string {
	c.t.Helper()
	resp, err := http.Get(c.s.URLs.Mailpit + "/api/v1/message/" + url.PathEscape(id))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct {
		Text string `json:"Text"`
		HTML string `json:"HTML"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		c.t.Fatalf("mailpit message %s: %v", id, err)
	}
	return m.Text + "\n" + m.HTML
}

// waitTelegram waits for a message the Telegram fake answered that cond accepts, read through the
// fake's JSON API as a person's script would.
func (c *client) waitTelegram(what string, within time.Duration, cond func(stack.TelegramMessage) bool) stack.TelegramMessage {
	c.t.Helper()
	var found stack.TelegramMessage
	c.eventually(what, within, func() (bool, string) {
		resp, err := http.Get(c.s.URLs.Telegram + "/api/messages")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var r struct {
			Messages []stack.TelegramMessage `json:"messages"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return false, err.Error()
		}
		for _, m := range r.Messages {
			if cond(m) {
				found = m
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d messages", len(r.Messages))
	})
	return found
}

// metric is the sum of a receiver metric's series whose labels contain match (`channel="telegram"`).
func (c *client) metric(name, match string) float64 {
	c.t.Helper()
	resp, err := http.Get(c.s.URLs.Receiver + "/metrics")
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		series, v, ok := strings.Cut(l, " ")
		if !ok || (match != "" && !strings.Contains(series, match)) {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			sum += f
		}
	}
	return sum
}

// mailpitBinary is $MAILPIT (make exports it), else the newest in .tools/; without it the e2e fails.
func mailpitBinary(t *testing.T, root string) string {
	t.Helper()
	p, err := stack.FindMailpit(root, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// buildBinaries builds cgminer_exporter, repair_receiver, minersim and runstack once for every test
// of the package.
func buildBinaries(t *testing.T, root string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "cgminer-stack-e2e-bin-")
		if buildErr != nil {
			return
		}
		for _, c := range [][2]string{{"cgminer_exporter", "./exporter"}, {"repair_receiver", "./receiver"}, {"minersim", "./simulator"}, {"runstack", "./e2e/cmd/runstack"}} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, c[0]), c[1])
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", c[0], err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
