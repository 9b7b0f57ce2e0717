package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/minefarm/cgminer-stack/exporter/webapi"
)

// Secret is a password: it prints, logs and marshals as "<secret>" (webapi.Secret).
type Secret = webapi.Secret

// SecretMask is what a Secret shows instead of itself.
const SecretMask = webapi.SecretMask

// The vendors' HTTP APIs a module's `web:` block may name (`api:`).
const (
	// WebAuto picks the API by the family the miner's main protocol identified: stock Antminer
	// firmware → WebAntminer, VNish → WebVNish, Braiins OS → WebBraiins; others have none.
	WebAuto = "auto"
	// WebAntminer is the stock Antminer HTTP API (/cgi-bin/*.cgi, HTTP Digest authentication).
	WebAntminer = webapi.Antminer
	// WebBraiins is the Braiins OS public REST API (/api/v1/…, 25.07 and later; a token from
	// /api/v1/auth/login).
	WebBraiins = webapi.Braiins
	// WebVNish is the VNish HTTP API (/api/v1/…; a token from /api/v1/unlock).
	WebVNish = webapi.VNish
)

// WebAPIs lists the names `api:` takes.
var WebAPIs = []string{WebAuto, WebAntminer, WebBraiins, WebVNish}

// Bounds on the web block.
const (
	// MaxPasswordFileBytes bounds a password file (a password is far shorter).
	MaxPasswordFileBytes = 4096
	// MaxUsernameBytes bounds a user name.
	MaxUsernameBytes = 128
	// DefaultWebTimeout caps the web part of a probe when the module gives no web timeout.
	DefaultWebTimeout = 5 * time.Second
)

// Web is a module's access to the vendor's HTTP API, read alongside the module's main protocol
// when it holds what the crew needs (serial numbers, MAC, the firmware's status codes, sleep).
// A failure of the web part never makes a probe fail.
type Web struct {
	// API is one of WebAPIs (WebAuto when unset).
	API string `yaml:"api"`
	// Username is the web login (root when unset; VNish has none and ignores it).
	Username string `yaml:"username"`
	// Password is the password written in the config; PasswordFile names a file holding it (read
	// at every load and reload; a trailing newline is dropped). Exactly one is given.
	Password     Secret `yaml:"password,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"`
	// Scheme is http or https (http when unset: what the firmware serves by default).
	Scheme string `yaml:"scheme"`
	// Port is the web server's port (80, or 443 for https, when unset). It counts as one of the
	// module's ports for allowed_ports.
	Port int `yaml:"port"`
	// Timeout caps the web part of a probe; the probe's own deadline caps it further
	// (DefaultWebTimeout, never more than the module's timeout).
	Timeout time.Duration `yaml:"timeout"`
	// InsecureSkipVerify accepts any certificate over https (miners' certificates are
	// self-signed). Off by default.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify,omitempty"`
}

func (w *Web) setDefaults(moduleTimeout time.Duration) {
	if w.API == "" {
		w.API = WebAuto
	}
	if w.Username == "" {
		w.Username = "root"
	}
	if w.Scheme == "" {
		w.Scheme = "http"
	}
	if w.Port == 0 {
		w.Port = 80
		if w.Scheme == "https" {
			w.Port = 443
		}
	}
	if w.Timeout == 0 {
		w.Timeout = min(DefaultWebTimeout, moduleTimeout)
	}
}

// load checks the block and reads the password file (relative to dir).
func (w *Web) load(dir string, moduleTimeout time.Duration) error {
	w.setDefaults(moduleTimeout)
	switch {
	case !slices.Contains(WebAPIs, w.API):
		return fmt.Errorf("unknown api %q (one of %s)", w.API, strings.Join(WebAPIs, ", "))
	case w.Scheme != "http" && w.Scheme != "https":
		return fmt.Errorf("scheme %q: http or https", w.Scheme)
	case w.Port < 1 || w.Port > 65535:
		return fmt.Errorf("port %d out of range", w.Port)
	case w.Timeout < 0 || w.Timeout > moduleTimeout:
		return fmt.Errorf("timeout %s out of range (0 to the module's timeout, %s)", w.Timeout, moduleTimeout)
	case len(w.Username) > MaxUsernameBytes || !printable(w.Username):
		return fmt.Errorf("username: at most %d printable characters, no colon", MaxUsernameBytes)
	case w.InsecureSkipVerify && w.Scheme != "https":
		return fmt.Errorf("insecure_skip_verify needs scheme https")
	}
	switch {
	case w.Password != "" && w.PasswordFile != "":
		return fmt.Errorf("give password or password_file, not both")
	case w.Password == "" && w.PasswordFile == "":
		return fmt.Errorf("password_file (or password) is missing")
	case w.PasswordFile != "":
		path := w.PasswordFile
		if dir != "" && !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		pw, err := readPassword(path)
		if err != nil {
			// The error names the file, never its content.
			return fmt.Errorf("password_file: %w", err)
		}
		w.Password = pw
	}
	if !utf8.ValidString(string(w.Password)) || strings.ContainsAny(string(w.Password), "\x00\r\n") {
		return fmt.Errorf("password: not valid UTF-8, or holds a NUL or a line break")
	}
	return nil
}

func readPassword(path string) (Secret, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPasswordFileBytes+1))
	if err != nil {
		return "", err
	}
	if len(data) > MaxPasswordFileBytes {
		return "", fmt.Errorf("%s: longer than %d bytes", path, MaxPasswordFileBytes)
	}
	pw := bytes.TrimRight(data, "\r\n")
	if len(pw) == 0 {
		return "", fmt.Errorf("%s is empty", path)
	}
	return Secret(pw), nil
}

// printable reports whether s is printable ASCII without a colon (Digest and the logins put the
// user name in a header or JSON; a colon would split HA1's fields).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == ':' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
