package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoExporterCode: no package of the simulator (the minersim binary, farm, control) builds on
// the exporter's code, directly or through another package. The simulator renders every reply
// from its own code and the captures in farm/testdata, so a codec bug in the exporter is caught
// by the simulator instead of mirrored by it. (The farm's tests may read the simulator with the
// exporter's client: that is the two sides testing each other, not the simulator using it.)
func TestNoExporterCode(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the simulator's dependencies: %v", err)
	}
	const module = "github.com/minefarm/cgminer-stack/"
	out, err := exec.Command(goTool, "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || !strings.HasPrefix(fields[0], module) {
			continue
		}
		checked++
		if strings.HasPrefix(fields[0], module+"exporter") {
			t.Errorf("the simulator builds on %s", fields[0])
			continue
		}
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, module+"exporter") {
				t.Errorf("%s imports %s", fields[0], imp)
			}
		}
	}
	if checked < 3 {
		t.Fatalf("go list found %d of the simulator's packages, want minersim, farm and control:\n%s", checked, out)
	}
}
