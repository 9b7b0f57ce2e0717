package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadPassword: the HTTP password file is read bounded, its trailing line break dropped, and
// an error names the file, never its content.
func TestReadPassword(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if pw, err := readPassword(write("ok", "hunter2\r\n")); err != nil || pw.Reveal() != "hunter2" || pw.String() != "<secret>" {
		t.Errorf("password %q (%v), err %v", pw.Reveal(), pw, err)
	}
	for name, content := range map[string]string{"empty": "\n", "long": strings.Repeat("p", maxPasswordFile+1)} {
		_, err := readPassword(write(name, content))
		if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "ppp") {
			t.Errorf("%s: err %v", name, err)
		}
	}
	if _, err := readPassword(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file read")
	}
}
