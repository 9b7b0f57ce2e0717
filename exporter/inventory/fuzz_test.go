package inventory

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode reads any bytes as an inventory file: it never panics, never holds more records
// than the cap, keeps its count equal to its records, and whatever it loaded saves and loads
// back to the same records.
func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "state-v1.json")); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		`{"version":2,"miners":[{"address":"10.0.0.1:4028","protocol":"cgminer","port":4028,"family":"antminer","no_join_until":"2026-12-01T10:00:00Z"}]}`,
		`{"miners":[{"address":"[fd00::1]:4029","labels":{"a":"b"},"site":"x"}],"version":1}`,
		`{"version":2,"miners":[{"address":"10.0.0.1:4028"},{"address":"10.0.0.1:4028","model":"again"}]}`,
		`{"version":2,"miners":[1,2,3]}`, `{"version":"2"}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inv := New(Options{MaxRecords: 8})
		_, _, _, err := inv.decode(bytes.NewReader(data))
		if n := inv.Len(); n > 8 || int(inv.n.Load()) != n {
			t.Fatalf("%d records, count %d, cap 8", n, inv.n.Load())
		}
		if err != nil {
			return
		}
		file := filepath.Join(t.TempDir(), "inv.json")
		inv.o.File = file
		if err := inv.Save(); err != nil {
			t.Fatal(err)
		}
		back := New(Options{File: file, MaxRecords: 8})
		if err := back.Load(); err != nil {
			t.Fatalf("a saved inventory does not load: %v", err)
		}
		a, b := inv.All(), back.All()
		if len(a) != len(b) {
			t.Fatalf("saved %d, loaded %d", len(a), len(b))
		}
		for i := range a {
			if !sameRecord(a[i], b[i]) {
				t.Fatalf("record %d:\nsaved  %+v\nloaded %+v", i, a[i], b[i])
			}
		}
	})
}
