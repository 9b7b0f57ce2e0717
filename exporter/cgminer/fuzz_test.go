package cgminer

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the reply decoder: it must never panic, and whatever it
// accepts must be an object whose envelope and sections can be read. `make test` runs it briefly;
// run it longer with `go test ./exporter/cgminer -run '^$' -fuzz FuzzParse -fuzztime 10m`.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../testdata/cgminer-api/*/*")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{`,"id":1}`, `{"a":[,{}{}],}`, `{"a":nan,"b":-inf}`, `["k":1]`, `STATUS=S|X,a=b|`, "CMD=summary|STATUS=S|"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if i := bytes.IndexByte(data, 0); i >= 0 {
			data = data[:i]
		}
		v, _, err := Decode(data)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if v.Kind() != Object {
			t.Fatalf("accepted a %s", v.Kind())
		}
		r := newReply("summary", v, 0)
		_ = r.OK()
		_ = r.Err()
		for _, s := range r.Section("SUMMARY") {
			for _, m := range s.Members() {
				m.Value.Float()
				m.Value.Truth()
			}
		}
		var sc frameScanner
		sc.feed(data)
	})
}
