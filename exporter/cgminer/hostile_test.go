package cgminer

import (
	"bytes"
	"os"
	"runtime"
	"strings"
	"testing"
)

const mib = 1 << 20

// fill repeats unit between head and tail until the whole is about size bytes.
func fill(head, unit, tail string, size int) []byte {
	n := (size - len(head) - len(tail)) / len(unit)
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString(head)
	for i := 0; i < n; i++ {
		b.WriteString(unit)
	}
	b.WriteString(tail)
	return b.Bytes()
}

// TestDecodeHostile feeds the decoder 1 MiB replies built to make it allocate, recurse or loop:
// each must be read or refused with an allocation in proportion to its size (not a multiple of
// hundreds), and a refusal must say why in a short message, not echo the megabyte back.
func TestDecodeHostile(t *testing.T) {
	tests := []struct {
		name   string
		in     []byte
		refuse bool // must be refused as malformed
	}{
		{"a million empty objects", fill(`{"STATS":[`, `{},`, `{}]}`, mib), true},
		{"a million numbers", fill(`{"STATS":[`, `0,`, `0]}`, mib), true},
		{"a million members", fill(`{`, `"":0,`, `"":0}`, mib), true},
		{"a million empty arrays", fill(`{"a":[`, `[],`, `[]]}`, mib), true},
		{"objects missing their commas", fill(`{"STATS":[`, `{}`, `]}`, mib), true},
		{"nested a million deep", fill(`{"a":`, `[`, ``, mib), true},
		{"nested objects a million deep", fill(`{"a":`, `{"a":`, ``, mib), true},
		{"a megabyte string", fill(`{"a":"`, `x`, `"}`, mib), true},
		{"a megabyte string of escapes", fill(`{"a":"`, `\n`, `"}`, mib), true},
		{"a megabyte key without its colon", fill(`{"`, `k`, `"}`, mib), true},
		{"a megabyte number", fill(`{"a":`, `9`, `}`, mib), true},
		{"a megabyte word", fill(`{"a":`, `x`, `}`, mib), true},
		{"text form: a million fields", fill(`STATUS=S,`, `,`, `|`, mib), true},
		{"text form: a million sections", fill(`STATUS=S|`, `|a=1`, `|`, mib), true},
		{"text form: a megabyte of =", fill(`STATUS=S|SUMMARY,a=`, `=`, `|`, mib), false},
		{"top-level comma and a million members", fill(`,`, `"":0,`, `"id":1}`, mib), true},
		{"array-as-object with a million members", fill(`{"a":["k":1,`, `"":0,`, `"":0]}`, mib), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err := Decode(tc.in)
			runtime.ReadMemStats(&after)
			if alloc, budget := after.TotalAlloc-before.TotalAlloc, uint64(16*len(tc.in)); alloc > budget {
				t.Errorf("decoding %d bytes allocated %d (budget %d)", len(tc.in), alloc, budget)
			}
			if tc.refuse && ReasonOf(err) != ReasonMalformed {
				t.Errorf("err = %v, want a malformed reply", err)
			}
			if err != nil && len(err.Error()) > 256 {
				t.Errorf("error message of %d bytes: %.120s…", len(err.Error()), err.Error())
			}
		})
	}
}

// TestDecodeWithinLimits holds the decoder's limits above what real firmware sends: the largest
// capture (btminer stats, 67 KB, 2,607 values, 836 members in one object) fifteen times over in
// one reply of 1 MiB, and a 30 KB string (the longest captured, an Avalon MM ID, has 3,280 bytes).
func TestDecodeWithinLimits(t *testing.T) {
	member := `"PVT_T0":"` + strings.Repeat("60 ", 10000) + `",`
	in := fill(`{"STATUS":[{"STATUS":"S"}],"STATS":[{`, member, `"id":1}]}`, 64*1024)
	if _, _, err := Decode(in); err != nil {
		t.Fatalf("a 30 KB string: %v", err)
	}
	raw, err := os.ReadFile("../testdata/cgminer-api/btminer-whatsminer/whatsminer-m3_stats.json")
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.TrimRight(raw, "\x00\n")
	var b bytes.Buffer
	b.WriteString(`{"stats":[`)
	for i := 0; b.Len()+len(raw) < mib; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(raw)
	}
	b.WriteString(`],"id":1}`)
	if _, _, err := Decode(b.Bytes()); err != nil {
		t.Fatalf("%d bytes of real stats: %v", b.Len(), err)
	}
}

// cutEscaped splits a text field as splitting at every unescaped '=' and joining the rest did
// (before a megabyte of '=' made that a million strings).
func TestCutEscapedAsSplitJoin(t *testing.T) {
	old := func(f string) (string, string) {
		kv := splitEscaped(f, '=')
		if len(kv) > 1 {
			return kv[0], strings.Join(kv[1:], "=")
		}
		return kv[0], ""
	}
	alphabet := []byte{'a', '=', '\\', ','}
	// Every string of up to 6 characters over an alphabet of the bytes that matter.
	var walk func(prefix []byte)
	walk = func(prefix []byte) {
		f := string(prefix)
		wk, wv := old(f)
		if k, v := cutEscaped(f, '='); k != wk || v != wv {
			t.Errorf("%q: cut (%q, %q), split and join (%q, %q)", f, k, v, wk, wv)
		}
		if len(prefix) == 6 {
			return
		}
		for _, c := range alphabet {
			walk(append(prefix, c))
		}
	}
	walk(nil)
}
