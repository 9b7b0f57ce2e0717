// Command multisite-config writes a multi-site deployment's configs and compose file from a
// topology (deploy/multisite/README.md):
//
//	go run ./deploy/multisite/cmd/multisite-config                 # deploy/multisite/topology.yml → deploy/multisite/
//	go run ./deploy/multisite/cmd/multisite-config --check         # exit 1 when the committed files differ
//
// Run it from the repository root; the containers see the repository at /stack.
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
	flag.Parse()
	if err := run(*topo, *out, *check); err != nil {
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
