package probe

import (
	"encoding/json"
	"os/exec"
	"strings"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func execLookPath(name string) (string, error) { return exec.LookPath(name) }

func runWithInput(bin, input string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
