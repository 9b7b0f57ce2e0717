package topology

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Files generates the committed deployment: config/… (the services' files) and docker-compose.yml,
// keyed by path relative to out (the folder relative to the repository root at root).
func Files(root, topologyPath, out string) (map[string][]byte, error) {
	t, err := Load(filepath.Join(root, topologyPath))
	if err != nil {
		return nil, err
	}
	d, err := Generate(t, ComposeOptions(root, filepath.Join(out, "config")))
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for n, b := range d.Files {
		files[filepath.Join("config", n)] = b
	}
	c, err := d.Compose(t, out)
	if err != nil {
		return nil, err
	}
	files["docker-compose.yml"] = c
	return files, nil
}

// Stale lists the files under out that differ from files, are missing, or (under config/) are
// not generated any more.
func Stale(files map[string][]byte, out string) []string {
	var stale []string
	for n, b := range files {
		old, err := os.ReadFile(filepath.Join(out, n))
		if err != nil || !bytes.Equal(old, b) {
			stale = append(stale, n)
		}
	}
	_ = filepath.WalkDir(filepath.Join(out, "config"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(out, p)
		if _, ok := files[rel]; !ok {
			stale = append(stale, rel+" (not generated)")
		}
		return nil
	})
	sort.Strings(stale)
	return stale
}
