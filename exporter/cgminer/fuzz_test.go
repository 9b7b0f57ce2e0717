package cgminer

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// parseBudget is the most decoding n bytes may allocate: the value tree of the densest reply the
// bounds admit ([0,0,…]: an 80-byte Value per 2 input bytes, and as much again on the scratch
// stack while it grows) and a constant. Anything super-linear (re-copying, per-object
// preallocation, as the parser once did at 768 bytes per `{}`) breaks it.
func parseBudget(n int) uint64 { return uint64(192*n + 64<<10) }

// FuzzParse feeds arbitrary bytes to the reply decoder: it must never panic, whatever it
// accepts must be an object whose envelope and sections can be read, an error must say why in
// a short message, and decoding must allocate within parseBudget. `make test` runs it briefly;
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
	// The shapes of TestDecodeHostile, at 64 KiB.
	for _, s := range [][3]string{{`{"STATS":[`, `{},`, `{}]}`}, {`{"STATS":[`, `0,`, `0]}`}, {`{`, `"":0,`, `"":0}`},
		{`{"a":`, `[`, ``}, {`{"a":"`, `\n`, `"}`}, {`{"`, `k`, `"}`}, {`{"a":`, `9`, `}`}, {`STATUS=S,`, `,`, `|`},
		{`STATUS=S|`, `|a=1`, `|`}, {`,`, `"":0,`, `"id":1}`}, {`{"a":["k":1,`, `"":0,`, `"":0]}`}} {
		f.Add(fill(s[0], s[1], s[2], 64<<10))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if i := bytes.IndexByte(data, 0); i >= 0 {
			data = data[:i]
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		v, _, err := Decode(data)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > parseBudget(len(data)) {
			t.Fatalf("decoding %d bytes allocated %d (budget %d)", len(data), alloc, parseBudget(len(data)))
		}
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			if len(err.Error()) > 256 {
				t.Fatalf("error message of %d bytes", len(err.Error()))
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
				_, _ = m.Value.Float()
				_, _ = m.Value.Truth()
			}
		}
		var sc frameScanner
		sc.feed(data)
	})
}
