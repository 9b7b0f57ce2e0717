package docker

import (
	"path/filepath"
	"strings"
	"testing"
)

// The Dockerfile of each binary and the package it builds.
var binaries = map[string]string{
	"exporter.Dockerfile":  "exporter",
	"receiver.Dockerfile":  "receiver",
	"simulator.Dockerfile": "simulator",
	"price.Dockerfile":     "dashboards/cmd/price_exporter",
}

func TestDockerfiles(t *testing.T) {
	for file, pkg := range binaries {
		t.Run(file, func(t *testing.T) {
			problems, err := Lint(file, pkg)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Error(p)
			}
			stages, err := Parse(file)
			if err != nil {
				t.Fatal(err)
			}
			if got := stages[0].Image; got != "golang:1.26" {
				t.Errorf("builder image %s, want golang:1.26 (the toolchain go.mod is built with)", got)
			}
		})
	}
}

func TestLintRefuses(t *testing.T) {
	tests := []struct {
		file, pkg string
		want      []string
	}{
		{
			file: "one_stage.Dockerfile", pkg: "exporter",
			want: []string{
				"golang:latest: pin a version",
				"one stage: want a build stage and a run stage",
			},
		},
		{
			file: "root_user.Dockerfile", pkg: "receiver",
			want: []string{
				`first stage is FROM golang:1.26 AS "builder"`,
				"does not set CGO_ENABLED=0",
				"no `go build … ./receiver`",
				"image alpine has no tag",
				"final image alpine",
				"COPY --from=compiler: no earlier stage",
				"ADD of a URL",
				"final stage runs as root",
				"ENTRYPOINT \"/bin/repair_receiver --config.file=/etc/receiver.yml\": want the exec form",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			problems, err := Lint(filepath.Join("testdata", tt.file), tt.pkg)
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(problems, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("no problem says %q; got:\n%s", w, all)
				}
			}
			if len(problems) != len(tt.want) {
				t.Errorf("%d problems, want %d:\n%s", len(problems), len(tt.want), all)
			}
		})
	}
}

func TestParseContinuations(t *testing.T) {
	path := filepath.Join("testdata", "continued.Dockerfile")
	stages, err := Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 || stages[0].Name != "build" || stages[0].Image != "golang:1.26" {
		t.Fatalf("stages: %+v", stages)
	}
	run := stages[0].Instructions[1]
	if run.Cmd != "RUN" || run.Line != 5 || !strings.Contains(run.Args, "go build -trimpath") || !strings.Contains(run.Args, "./simulator") ||
		strings.Contains(run.Args, "comment") {
		t.Errorf("continued RUN: %+v", run)
	}
	problems, err := Lint(path, "simulator")
	if err != nil || len(problems) != 0 {
		t.Errorf("a good Dockerfile: %v %v", problems, err)
	}
	if _, err := Parse(filepath.Join("testdata", "SOURCES.md")); err == nil {
		t.Error("a file without FROM: want an error")
	}
}
