package cgminer

import (
	"context"
	"fmt"
	"math"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReusedBuffersKeepNoReply holds that the buffers and stacks the client and parser reuse
// (reply buffers, parser scratch, interned strings) never let one reply show through another:
// every reply decoded earlier still reads what its miner sent after many others were read,
// concurrently, over loopback.
func TestReusedBuffersKeepNoReply(t *testing.T) {
	reply := func(n int) string {
		// Keys and values of every length the interning and the small-number path treat
		// differently, and enough members to grow the scratch stacks.
		var b strings.Builder
		fmt.Fprintf(&b, `{"STATUS":[{"STATUS":"S","When":%d,"Code":11,"Msg":"Summary %d"}],"SUMMARY":[{`, n, n)
		for i := range 40 {
			fmt.Fprintf(&b, `"k%d_%d":%d,"w%d":"v%d","long key number %d of miner %d":"a longer value %d of %d",`, i, n%3, n%100, i, n, i, n, i, n)
		}
		fmt.Fprintf(&b, `"Elapsed":%d.5}],"id":1}`, n)
		return b.String()
	}
	m := newFakeMiner(t, func(c net.Conn, req string) {
		var n int
		fmt.Sscanf(strings.TrimPrefix(command(t, req), "summary"), "%d", &n)
		c.Write(append([]byte(reply(n)), 0))
	})
	var c Client
	check := func(n int, r *Reply) error {
		body := r.Body
		want, _, err := ParseJSON([]byte(reply(n)))
		if err != nil {
			return err
		}
		if got, want := dump(body), dump(want); got != want {
			return fmt.Errorf("reply %d changed after others were read:\n got %.200s\nwant %.200s", n, got, want)
		}
		return nil
	}
	// Direct parses first: Values from the pooled scratch.
	var kept []Value
	for n := range 50 {
		v, _, err := ParseJSON([]byte(reply(n)))
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, v)
	}
	for n, v := range kept {
		want, _, _ := ParseJSON([]byte(reply(n)))
		if dump(v) != dump(want) {
			t.Fatalf("parse %d changed after others were parsed", n)
		}
	}
	// Then through the client, one after another (each reply read into the buffer the one
	// before was read into) and concurrently.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	replies := make([]*Reply, 128)
	query := func(n int) {
		// The command is only an echo of n for the fake miner; Query sends any Command.
		rep, ex := c.Query(ctx, m.addr(), Command{name: fmt.Sprintf("summary%d", n)})
		if ex.Err != nil {
			t.Errorf("query %d: %v", n, ex.Err)
			return
		}
		replies[n] = rep
	}
	for n := range 64 {
		query(n)
	}
	var wg sync.WaitGroup
	for n := 64; n < len(replies); n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			query(n)
		}()
	}
	wg.Wait()
	for n, r := range replies {
		if r == nil {
			continue
		}
		if err := check(n, r); err != nil {
			t.Error(err)
		}
	}
}

// TestInternTableBounded holds the interned keys and words to their bounds whatever a miner
// sends: made-up keys fill a table to internSlots at most, long strings are never interned,
// every string reads back as sent, and decoding a reply full of new keys allocates in proportion
// to it (the table allocates nothing of its own).
func TestInternTableBounded(t *testing.T) {
	var tab internTable
	filled := func(tab *internTable) (n int) {
		for i := range tab.slots {
			if p := tab.slots[i].Load(); p != nil {
				n++
			}
		}
		return n
	}
	for i := range 3 * internSlots {
		k := fmt.Sprintf("key%d", i)
		if got := tab.get([]byte(k)); got != k {
			t.Fatalf("get(%q) = %q", k, got)
		}
	}
	if n := filled(&tab); n > internSlots || n < internSlots/2 {
		t.Errorf("table holds %d keys; want at most %d, and most slots used", n, internSlots)
	}
	for _, k := range []string{"key7", "key20000", "never seen"} {
		if got := tab.get([]byte(k)); got != k {
			t.Errorf("get(%q) = %q", k, got)
		}
	}
	var b strings.Builder
	b.WriteString(`{`)
	for i := range 3 * internSlots {
		fmt.Fprintf(&b, `"hostile%d":"x%d",`, i, i)
	}
	b.WriteString(`"` + strings.Repeat("k", 100) + `":"` + strings.Repeat("v", 100) + `"}`)
	v, _, err := ParseJSON([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got := v.StrKey(strings.Repeat("k", 100)); got != strings.Repeat("v", 100) {
		t.Errorf("long key read %q", got)
	}
	if got := v.StrKey("hostile12000"); got != "x12000" {
		t.Errorf("hostile12000 = %q", got)
	}
	for _, tab := range []*internTable{&keys, &words} {
		if n := filled(tab); n > internSlots {
			t.Errorf("a table holds %d strings, bound %d", n, internSlots)
		}
		for i := range tab.slots {
			if p := tab.slots[i].Load(); p != nil && len(*p) > maxInternKeyBytes {
				t.Errorf("interned %d bytes, bound %d", len(*p), maxInternKeyBytes)
			}
		}
	}
	// A small reply of new keys, after the tables filled up or not: its budget holds.
	small := []byte(`{"+  1  1D.f. C1u.t": 1}`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, _, err := Decode(small); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > parseBudget(len(small)) {
		t.Errorf("decoding %d bytes allocated %d (budget %d)", len(small), alloc, parseBudget(len(small)))
	}
}

func TestValueEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"same", `{"a":[1,"x",{"b":null}],"c":true}`, `{"a":[1,"x",{"b":null}],"c":true}`, true},
		{"number text differs", `{"a":1.0}`, `{"a":1}`, false},
		{"member order", `{"a":1,"b":2}`, `{"b":2,"a":1}`, false},
		{"element differs", `[1,2,3]`, `[1,2,4]`, false},
		{"array length", `[1,2]`, `[1,2,3]`, false},
		{"nan equals nan", `{"t":nan}`, `{"t":nan}`, true},
		{"bool", `[true]`, `[false]`, false},
		{"key differs", `{"a":1}`, `{"A":1}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _, err := ParseJSON([]byte(tc.a))
			if err != nil {
				t.Fatal(err)
			}
			b, _, err := ParseJSON([]byte(tc.b))
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Equal(b); got != tc.want {
				t.Errorf("Equal = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNumbersAsParseFloat holds the parser's shortcuts for integers (0 to 99 without parsing,
// up to 15 digits without strconv) to strconv.ParseFloat's value, bit for bit, and to the text
// as sent.
func TestNumbersAsParseFloat(t *testing.T) {
	for _, in := range []string{"0", "7", "42", "99", "100", "-0", "-7", "007", "05", "000",
		"999999999999999", "-999999999999999", "1234567890123456", "9007199254740993", "1.5", "-0.0", "1e3", "12e-2"} {
		t.Run(in, func(t *testing.T) {
			v, _, err := ParseJSON([]byte(`[` + in + `]`))
			if err != nil {
				t.Fatal(err)
			}
			got := v.Elems()[0]
			want, err := strconv.ParseFloat(in, 64)
			if err != nil {
				t.Fatal(err)
			}
			if math.Float64bits(got.num) != math.Float64bits(want) || got.Str() != in {
				t.Errorf("%s read as %v (%q), ParseFloat %v", in, got.num, got.Str(), want)
			}
		})
	}
}

// dump writes a Value out in full, for comparing two.
func dump(v Value) string {
	var b strings.Builder
	var walk func(Value)
	walk = func(v Value) {
		switch v.Kind() {
		case Object:
			b.WriteByte('{')
			for _, m := range v.Members() {
				fmt.Fprintf(&b, "%q:", m.Key)
				walk(m.Value)
				b.WriteByte(',')
			}
			b.WriteByte('}')
		case Array:
			b.WriteByte('[')
			for _, e := range v.Elems() {
				walk(e)
				b.WriteByte(',')
			}
			b.WriteByte(']')
		default:
			fmt.Fprintf(&b, "%s(%q)", v.Kind(), v.Str())
		}
	}
	walk(v)
	return b.String()
}
