// Command multisite-config writes a multi-site deployment's configs and compose file from a
// topology (deploy/multisite/README.md):
//
//	go run ./deploy/multisite/cmd/multisite-config                 # deploy/multisite/topology.yml → deploy/multisite/
//	go run ./deploy/multisite/cmd/multisite-config --check         # exit 1 when the committed files differ
//	go run ./deploy/multisite/cmd/multisite-config --topology my.yml --local DIR
//
// Run it from the repository root. The committed files are for the compose file's containers
// (the repository at /stack); --local writes configs for processes started on this machine from
// this checkout (paths absolute, state under DIR/data), and the command lines in DIR/commands.txt.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/minefarm/cgminer-stack/deploy/multisite/topology"
)

func main() {
	topo := flag.String("topology", "deploy/multisite/topology.yml", "topology file")
	out := flag.String("out", "deploy/multisite", "folder (relative to the repository root) for config/ and docker-compose.yml")
	check := flag.Bool("check", false, "compare with the files in --out instead of writing them")
	local := flag.String("local", "", "write configs for processes on this machine into this folder instead")
	flag.Parse()
	var err error
	if *local != "" {
		err = runLocal(*topo, *local)
	} else {
		err = run(*topo, *out, *check)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "multisite-config:", err)
		os.Exit(1)
	}
}

func run(topoPath, out string, check bool) error {
	files, err := topology.Files(".", topoPath, out)
	if err != nil {
		return err
	}
	if check {
		stale := topology.Stale(files, out)
		if len(stale) > 0 {
			return fmt.Errorf("out of date (run make multisite-config): %s", strings.Join(stale, ", "))
		}
		return nil
	}
	if err := os.RemoveAll(filepath.Join(out, "config")); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(out, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, files[n]) {
			continue
		}
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", p)
	}
	return nil
}

func runLocal(topoPath, dir string) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return err
	}
	t, err := topology.Load(topoPath)
	if err != nil {
		return err
	}
	d, err := topology.Generate(t, topology.Options{Root: root, RepoDir: root, ConfigDir: dir, DataDir: filepath.Join(dir, "data")})
	if err != nil {
		return err
	}
	for n, b := range d.Files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	var cmds strings.Builder
	for _, s := range d.Services {
		fmt.Fprintf(&cmds, "%s %s %s\n", s.Name, s.Kind, strings.Join(s.Args, " "))
	}
	return os.WriteFile(filepath.Join(dir, "commands.txt"), []byte(cmds.String()), 0o644)
}
