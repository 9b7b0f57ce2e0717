package probe

import (
	"os/exec"
	"strings"
)

func execLookPath(name string) (string, error) { return exec.LookPath(name) }

func runWithInput(bin, input string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
