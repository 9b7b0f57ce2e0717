// Package docker checks the container build statically, where no Docker engine runs: the
// Dockerfiles of the three binaries (multi-stage, static Go build, non-root final image) and,
// in its tests, docker-compose.yml as docker-compose itself resolves it.
package docker

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Instruction is one Dockerfile instruction with its continuation lines joined.
type Instruction struct {
	Line int    // where it starts
	Cmd  string // upper case: FROM, RUN, COPY, …
	Args string
}

// Stage is one FROM and the instructions under it.
type Stage struct {
	Image        string
	Name         string // AS name, lower case; "" when unnamed
	Instructions []Instruction
}

// Parse reads a Dockerfile into its stages. Parser directives and comments are dropped; an
// instruction before the first FROM other than ARG is an error.
func Parse(path string) ([]Stage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	var stages []Stage
	var cur strings.Builder
	start, n := 0, 0
	flush := func() error {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := Instruction{Line: start, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		if in.Cmd == "FROM" {
			fields := strings.Fields(in.Args)
			// FROM [--platform=…] image [AS name]
			for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
				fields = fields[1:]
			}
			if len(fields) == 0 {
				return fmt.Errorf("%s:%d: FROM without an image", path, start)
			}
			s := Stage{Image: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.Name = strings.ToLower(fields[2])
			} else if len(fields) != 1 {
				return fmt.Errorf("%s:%d: FROM %s: want FROM image [AS name]", path, start, in.Args)
			}
			stages = append(stages, s)
			return nil
		}
		if len(stages) == 0 {
			if in.Cmd == "ARG" {
				return nil
			}
			return fmt.Errorf("%s:%d: %s before the first FROM", path, start, in.Cmd)
		}
		last := &stages[len(stages)-1]
		last.Instructions = append(last.Instructions, in)
		return nil
	}

	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue // comments and parser directives, also inside a continued instruction
		}
		if cur.Len() == 0 {
			if trimmed == "" {
				continue
			}
			start = n
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), `\`); ok {
			cur.WriteString(body)
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s: no FROM", path)
	}
	return stages, nil
}

var (
	// image[:tag][@digest]; the tag is what we pin.
	imageTagRe = regexp.MustCompile(`^[a-z0-9./_-]+(?::([A-Za-z0-9._-]+))?(?:@sha256:[a-f0-9]{64})?$`)
	// Final images allowed: distroless static as nonroot, or Debian slim with a user of our own.
	finalImageRe = regexp.MustCompile(`^(gcr\.io/distroless/static-debian\d+:nonroot|debian:[a-z]+-slim)(@sha256:[a-f0-9]{64})?$`)
	cgoOffRe     = regexp.MustCompile(`(^|\s)CGO_ENABLED=0(\s|$)`)
	goBuildRe    = regexp.MustCompile(`\bgo build\b.*\s\./([a-z0-9_/]+)\b`)
	fromFlagRe   = regexp.MustCompile(`--from=(\S+)`)
)

// Lint checks a Dockerfile for one of our binaries: pkg is the Go package it must build
// ("exporter" builds ./exporter). It returns every problem found, one line each.
func Lint(path, pkg string) ([]string, error) {
	stages, err := Parse(path)
	if err != nil {
		return nil, err
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, path+": "+fmt.Sprintf(format, args...)) }

	names := map[string]bool{}
	for i, s := range stages {
		if !names[strings.ToLower(s.Image)] {
			m := imageTagRe.FindStringSubmatch(s.Image)
			switch {
			case m == nil:
				bad("stage %d: image %q is not a plain image reference", i+1, s.Image)
			case m[1] == "" && !strings.Contains(s.Image, "@"):
				bad("stage %d: image %s has no tag: pin it", i+1, s.Image)
			case m[1] == "latest":
				bad("stage %d: image %s: pin a version, not latest", i+1, s.Image)
			}
		}
		for _, in := range s.Instructions {
			if in.Cmd == "COPY" {
				if fm := fromFlagRe.FindStringSubmatch(in.Args); fm != nil && !names[strings.ToLower(fm[1])] {
					bad("line %d: COPY --from=%s: no earlier stage of that name", in.Line, fm[1])
				}
			}
			if in.Cmd == "ADD" && strings.Contains(in.Args, "://") {
				bad("line %d: ADD of a URL: fetch in a RUN with a checksum, or COPY", in.Line)
			}
		}
		if s.Name != "" {
			names[s.Name] = true
		}
	}
	if len(stages) < 2 {
		bad("one stage: want a build stage and a run stage (FROM golang:… AS build, then the runtime image)")
		return problems, nil
	}

	build := stages[0]
	if build.Name != "build" || !strings.HasPrefix(build.Image, "golang:") {
		bad("first stage is FROM %s AS %q: want FROM golang:<version> AS build", build.Image, build.Name)
	}
	cgoOff, built := false, false
	for _, in := range build.Instructions {
		if (in.Cmd == "ENV" || in.Cmd == "RUN") && cgoOffRe.MatchString(in.Args) {
			cgoOff = true
		}
		if in.Cmd == "RUN" {
			if m := goBuildRe.FindStringSubmatch(in.Args); m != nil && m[1] == pkg {
				built = true
			}
		}
	}
	if !cgoOff {
		bad("build stage does not set CGO_ENABLED=0: the binary must be static for the distroless image")
	}
	if !built {
		bad("build stage has no `go build … ./%s`", pkg)
	}

	final := stages[len(stages)-1]
	if !finalImageRe.MatchString(final.Image) {
		bad("final image %s: want gcr.io/distroless/static-debian12:nonroot or debian:<release>-slim", final.Image)
	}
	user, entry := "", ""
	for _, in := range final.Instructions {
		switch in.Cmd {
		case "USER":
			user = in.Args
		case "ENTRYPOINT":
			entry = in.Args
		}
	}
	switch name, _, _ := strings.Cut(user, ":"); name {
	case "":
		bad("final stage has no USER: run as a non-root user")
	case "0", "root":
		bad("final stage runs as %s: want a non-root user", user)
	}
	var argv []string
	if err := json.Unmarshal([]byte(entry), &argv); err != nil || len(argv) == 0 {
		bad("final stage ENTRYPOINT %q: want the exec form, [\"/bin/…\"] (no shell in distroless)", entry)
	}
	return problems, nil
}
