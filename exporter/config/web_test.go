package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const testPassword = "hunter2-Sekret"

func writePassword(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "antminer.pass")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A module's web block reads its password from a file (relative to the config file), fills in
// the defaults, and counts its port as one of the module's.
func TestWebLoad(t *testing.T) {
	dir := t.TempDir()
	writePassword(t, dir, testPassword+"\n")
	cfgPath := filepath.Join(dir, "cgminer.yml")
	if err := os.WriteFile(cfgPath, []byte(`
modules:
  s21:
    timeout: 8s
    web: {password_file: antminer.pass}
  bos:
    web: {api: braiins, username: admin, password: inline-pw, scheme: https, insecure_skip_verify: true, timeout: 2s}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Modules["s21"].Web
	if w.API != WebAuto || w.Username != "root" || w.Scheme != "http" || w.Port != 80 || w.Timeout != 5*time.Second || w.Password.Reveal() != testPassword {
		t.Errorf("s21 web: %+v (password %q)", w, w.Password.Reveal())
	}
	if got := c.Modules["s21"].Ports(); !slices.Equal(got, []int{4028, 4433, 80}) {
		t.Errorf("s21 ports %v", got)
	}
	if !c.PortAllowed(c.Modules["s21"], 80) || c.PortAllowed(c.Modules["default"], 80) {
		t.Error("the web port is the module's, and only its")
	}
	b := c.Modules["bos"].Web
	if b.Port != 443 || b.Username != "admin" || b.Password.Reveal() != "inline-pw" || b.Timeout != 2*time.Second {
		t.Errorf("bos web: %+v", b)
	}
}

// The password shows nowhere: not in GET /config's YAML, not through fmt or slog, not in JSON,
// not in the errors a bad file gives.
func TestWebSecretNeverShown(t *testing.T) {
	dir := t.TempDir()
	path := writePassword(t, dir, testPassword)
	c, err := Parse(fmt.Appendf(nil, "modules: {s21: {web: {password_file: %q}}}", path))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), testPassword) || !strings.Contains(string(out), "password: <secret>") || !strings.Contains(string(out), path) {
		t.Errorf("GET /config:\n%s", out)
	}
	w := c.Modules["s21"].Web
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	logger.Info("web", "web", w, "password", w.Password)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("web", "web", w, "password", w.Password)
	j, _ := json.Marshal(w)
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", w), "%+v": fmt.Sprintf("%+v", *w), "%#v": fmt.Sprintf("%#v", *w), "String": w.Password.String(),
		"%q": fmt.Sprintf("%q", w.Password), "json": string(j), "slog": logs.String(),
	} {
		if strings.Contains(s, testPassword) {
			t.Errorf("%s shows the password: %s", name, s)
		}
	}
}

func TestWebErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	huge := filepath.Join(dir, "huge")
	os.WriteFile(huge, bytes.Repeat([]byte("x"), MaxPasswordFileBytes+1), 0o600)
	secretFile := writePassword(t, dir, testPassword+"\nsecond line")
	for name, web := range map[string]string{
		"no password":          "{}",
		"both":                 fmt.Sprintf("{password: x, password_file: %q}", empty),
		"missing file":         fmt.Sprintf("{password_file: %q}", filepath.Join(dir, "nope")),
		"empty file":           fmt.Sprintf("{password_file: %q}", empty),
		"huge file":            fmt.Sprintf("{password_file: %q}", huge),
		"two lines":            fmt.Sprintf("{password_file: %q}", secretFile),
		"unknown key":          "{password: x, passwrd: y}",
		"unknown api":          "{password: x, api: whatsminer}",
		"bad scheme":           "{password: x, scheme: ftp}",
		"bad port":             "{password: x, port: 70000}",
		"timeout over module":  "{password: x, timeout: 11s}",
		"colon in user":        "{password: x, username: 'a:b'}",
		"insecure over http":   "{password: x, insecure_skip_verify: true}",
		"newline in password":  "{password: \"a\\nb\"}",
		"negative web timeout": "{password: x, timeout: -1s}",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte("modules: {m: {web: " + web + "}}"))
			if err == nil {
				t.Fatalf("accepted %s", web)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("the error shows the file's content: %v", err)
			}
		})
	}
}
