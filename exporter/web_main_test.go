package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
)

// lockedBuffer collects a process's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The binary with a module's web credentials in a password file: GET /config shows <secret>,
// a probe with the right password reads the web API alongside 4028, one with a wrong password
// still answers cgminer_up 1, and neither /config, the probes, the debug page, /metrics nor the
// debug log shows the password.
func TestBinaryWebSecret(t *testing.T) {
	read := func(p string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", p))
		if err != nil {
			t.Fatal(err)
		}
		return bytes.TrimRight(b, "\x00\n")
	}
	replies := map[string][]byte{}
	for _, c := range []string{"version", "summary", "pools", "stats", "devs"} {
		replies[c] = read("cgminer-api/bmminer-antminer/antminer-s19pro-49.0.1.3_" + c + "_pyformat.json")
	}
	miner := fakeminer.Serve(t, replies)
	_, port, _ := net.SplitHostPort(miner)
	const password = "bin-Secret-0815"
	web := &fakeminer.Web{User: "root", Password: password, Realm: "antMiner Configuration", Replies: map[string][]byte{
		"/cgi-bin/get_system_info.cgi": read("modern/antminer-web/antminer-s21-20240711_get_system_info_pretty.json"),
		"/cgi-bin/summary.cgi":         read("modern/antminer-web/antminer-s21-20240711_summary_pretty.json"),
	}}
	webAddr := web.Start(t)
	_, webPort, _ := net.SplitHostPort(webAddr)

	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.pass"), filepath.Join(dir, "bad.pass")
	os.WriteFile(good, []byte(password+"\n"), 0o600)
	os.WriteFile(bad, []byte("wrong-"+password+"\n"), 0o600)
	cfg := filepath.Join(dir, "cgminer.yml")
	os.WriteFile(cfg, fmt.Appendf(nil, `allowed_targets: [127.0.0.0/8]
modules:
  good: {port: %s, web: {password_file: good.pass, port: %s}}
  bad: {port: %s, web: {password_file: bad.pass, port: %s}}
`, port, webPort, port, webPort), 0o600)

	bin := buildExporter(t)
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config.file="+cfg, "--web.listen-address="+addr, "--log.level=debug")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	base := "http://" + addr
	waitUp(t, base)

	seen := map[string]string{}
	_, seen["config"] = httpGet(t, base+"/config")
	if !strings.Contains(seen["config"], "password: <secret>") || !strings.Contains(seen["config"], "password_file: good.pass") {
		t.Errorf("/config:\n%s", seen["config"])
	}
	_, seen["good"] = httpGet(t, base+"/probe?module=good&target="+miner)
	if !strings.Contains(seen["good"], `cgminer_device_info{mac="02:50:53:09:da:d9",serial="SMTTATUBDJAAI00A5"} 1`) {
		t.Errorf("good probe:\n%s", seen["good"])
	}
	_, seen["bad"] = httpGet(t, base+"/probe?module=bad&target="+miner)
	if !strings.Contains(seen["bad"], "cgminer_up 1") || !strings.Contains(seen["bad"], `cgminer_command_success{command="web:summary"} 0`) {
		t.Errorf("bad probe:\n%s", seen["bad"])
	}
	_, seen["debug"] = httpGet(t, base+"/probe?module=bad&debug=true&target="+miner)
	if !strings.Contains(seen["debug"], "auth_failed") {
		t.Errorf("debug page:\n%s", seen["debug"])
	}
	_, seen["metrics"] = httpGet(t, base+"/metrics")
	if !strings.Contains(seen["metrics"], `cgminer_exporter_web_reads_total{api="antminer",result="auth_failed"}`) {
		t.Errorf("/metrics lacks the web reads")
	}
	seen["log"] = stderr.String()
	if !strings.Contains(seen["log"], "web API gave no usable reply") {
		t.Errorf("log:\n%s", seen["log"])
	}
	for what, text := range seen {
		if strings.Contains(text, password) {
			t.Errorf("%s shows the password", what)
		}
	}
}
