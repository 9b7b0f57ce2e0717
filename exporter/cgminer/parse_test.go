package cgminer

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseJSONRepairs(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		repair Repair
		check  func(t *testing.T, v Value)
	}{
		{
			name: "strict JSON needs no repair",
			in:   `{"STATUS":[{"STATUS":"S","Code":11}],"SUMMARY":[{"MHS av":1.50,"Found Blocks":0}],"id":1}`,
			check: func(t *testing.T, v Value) {
				f, ok := v.Get("SUMMARY").Elems()[0].FloatKey("MHS av")
				if !ok || f != 1.5 {
					t.Errorf("MHS av = %v, %v", f, ok)
				}
				if got := v.Get("SUMMARY").Elems()[0].Get("MHS av").Str(); got != "1.50" {
					t.Errorf("number text = %q, want the wire text 1.50", got)
				}
			},
		},
		{
			name:   "bmminer }{ between STATS objects",
			in:     `{"STATS":[{"BMMiner":"2.0.0"}{"STATS":0,"ID":"BC50"}],"id":1}`,
			repair: RepairMissingComma,
			check: func(t *testing.T, v Value) {
				if n := len(v.Get("STATS").Elems()); n != 2 {
					t.Fatalf("got %d STATS objects, want 2", n)
				}
				if id := v.Get("STATS").Elems()[1].StrKey("ID"); id != "BC50" {
					t.Errorf("ID = %q", id)
				}
			},
		},
		{
			name:   "bmminer leading comma [,{",
			in:     `{"POOLS":[,{"POOL":0}],"id":1}`,
			repair: RepairLeadingComma,
			check: func(t *testing.T, v Value) {
				if n := len(v.Get("POOLS").Elems()); n != 1 {
					t.Errorf("got %d pools, want 1", n)
				}
			},
		},
		{
			name:   "btminer trailing comma ,}",
			in:     `{"SUMMARY":[{"Power":3230,}],"id":1,}`,
			repair: RepairTrailingComma,
			check: func(t *testing.T, v Value) {
				if f, _ := v.Get("SUMMARY").Elems()[0].FloatKey("Power"); f != 3230 {
					t.Errorf("Power = %v", f)
				}
			},
		},
		{
			name:   "btminer trailing comma in array ,]",
			in:     `{"DEVS":[{"ASC":0},{"ASC":1},],"id":1}`,
			repair: RepairTrailingComma,
			check: func(t *testing.T, v Value) {
				if n := len(v.Get("DEVS").Elems()); n != 2 {
					t.Errorf("got %d devs, want 2", n)
				}
			},
		},
		{
			name:   "btminer raw newline inside a string",
			in:     "{\"Msg\":\"line one\nline two\",\"id\":1}",
			repair: RepairControlChar,
			check: func(t *testing.T, v Value) {
				if got := v.StrKey("Msg"); got != "line oneline two" {
					t.Errorf("Msg = %q", got)
				}
			},
		},
		{
			name:   `btminer 2023-01 missing comma ""temp0`,
			in:     `{"DEVS":[{"Model":"M30S""temp0":65.5,"ID":0}]}`,
			repair: RepairMissingComma,
			check: func(t *testing.T, v Value) {
				d := v.Get("DEVS").Elems()[0]
				if f, _ := d.FloatKey("temp0"); f != 65.5 || d.StrKey("Model") != "M30S" {
					t.Errorf("got %v", d)
				}
			},
		},
		{
			name:   "Avalon bare nan and inf",
			in:     `{"STATS":[{"Temp":nan,"TMax":inf,"TAvg":-inf,"Fan1":1200}]}`,
			repair: RepairNonFinite,
			check: func(t *testing.T, v Value) {
				s := v.Get("STATS").Elems()[0]
				for _, k := range []string{"Temp", "TMax", "TAvg"} {
					if _, ok := s.FloatKey(k); ok {
						t.Errorf("%s read as a number; non-finite values must read as absent", k)
					}
				}
				if !math.IsInf(s.Get("TAvg").num, -1) {
					t.Errorf("TAvg = %v, want -inf kept", s.Get("TAvg").num)
				}
				if f, ok := s.FloatKey("Fan1"); !ok || f != 1200 {
					t.Errorf("Fan1 = %v", f)
				}
			},
		},
		{
			name:   "Avalon leading comma instead of {",
			in:     `,"STATUS":[{"STATUS":"S"}],"id":1}`,
			repair: RepairTopLevelComma,
			check: func(t *testing.T, v Value) {
				if st := StatusOf(v); len(st) != 1 || !st[0].OK() {
					t.Errorf("status = %v", st)
				}
			},
		},
		{
			name:   `bad \' escape`,
			in:     `{"Msg":"Access denied to \'restart\' command"}`,
			repair: RepairBadEscape,
			check: func(t *testing.T, v Value) {
				if got := v.StrKey("Msg"); got != "Access denied to 'restart' command" {
					t.Errorf("Msg = %q", got)
				}
			},
		},
		{
			name:   "second chunk after the value",
			in:     `{"STATUS":[{"STATUS":"E","Code":23}],"id":1}{"STATUS":[{"STATUS":"E"}],"id":1},"id":1}`,
			repair: RepairTrailingData,
			check: func(t *testing.T, v Value) {
				if st := StatusOf(v); len(st) != 1 || st[0].Code != 23 {
					t.Errorf("status = %v", st)
				}
			},
		},
		{
			name:   "Whatsminer 2.0.4 error_code list written as a dict",
			in:     `{"Msg":{"error_code":["111":"2021-01-01","222":"2021-01-02"]}}`,
			repair: RepairArrayAsObject,
			check: func(t *testing.T, v Value) {
				ec := v.Get("Msg").Get("error_code")
				if ec.Kind() != Object || ec.StrKey("222") != "2021-01-02" {
					t.Errorf("error_code = %v", ec)
				}
			},
		},
		{
			name: "unicode escapes and surrogate pairs",
			in:   `{"a":"\u00e9\ud83d\ude00\n"}`,
			check: func(t *testing.T, v Value) {
				if got := v.StrKey("a"); got != "é😀\n" {
					t.Errorf("a = %q", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, rep, err := ParseJSON([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseJSON: %v", err)
			}
			if rep != tt.repair {
				t.Errorf("repairs = %s, want %s", rep, tt.repair)
			}
			tt.check(t, v)
		})
	}
}

func TestParseJSONErrors(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		truncated bool
	}{
		{"empty", ``, false},
		{"not json", `Socket connect failed: Connection refused`, false},
		{"cut inside object", `{"STATUS":[{"STATUS":"S"`, true},
		{"cut inside string", `{"STATUS":"S`, true},
		{"missing colon", `{"a" 1}`, false},
		{"garbage word", `{"a":bogus}`, false},
		{"too deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseJSON([]byte(tt.in))
			if err == nil {
				t.Fatal("ParseJSON accepted it")
			}
			if got := errors.Is(err, ErrTruncated); got != tt.truncated {
				t.Errorf("truncated = %v, want %v (%v)", got, tt.truncated, err)
			}
		})
	}
}

// Every real capture reads, and the captures that are not strict JSON need exactly the repairs
// their provenance notes describe.
func TestDecodeEveryFixture(t *testing.T) {
	wantRepairs := map[string]Repair{
		"antminer-d3-blissz-v2.06_stats.txt":     RepairMissingComma,
		"antminer-l3plus-rwglr_stats.txt":        RepairMissingComma,
		"antminer-l3plus_stats.txt":              RepairMissingComma,
		"antminer-s9-hiveon_stats.txt":           RepairMissingComma,
		"antminer-s9k_version.txt":               RepairTrailingData,
		"antminer-s9pro-mskminer-v5.1_stats.txt": RepairMissingComma,
		"strongu-stu-u2_summary.txt":             RepairTrailingData,
		"blackminer-f1_stats.txt":                RepairMissingComma,
		"antminer-s9-vnish-3.8.6_stats.txt":      RepairMissingComma,
	}
	files, err := filepath.Glob("../testdata/cgminer-api/*/*")
	if err != nil || len(files) < 100 {
		t.Fatalf("fixtures: %d files, %v", len(files), err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Ext(f) == ".raw" {
				// Wire bytes: the reply is what comes before the first NUL.
				i := bytes.IndexByte(raw, 0)
				if i < 0 {
					t.Fatal("raw capture without NUL")
				}
				raw = raw[:i]
			}
			v, rep, err := Decode(raw)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if rep != wantRepairs[name] {
				t.Errorf("repairs = %s, want %s", rep, wantRepairs[name])
			}
			if v.Kind() != Object || len(v.Members()) == 0 {
				t.Errorf("decoded to %s with %d members", v.Kind(), len(v.Members()))
			}
		})
	}
}

func TestParseText(t *testing.T) {
	in := `STATUS=S,When=1795334524,Code=7,Msg=2 Pool(s),Description=cgminer 4.11.1|` +
		`POOL=0,URL=stratum+tcp://a\,b:3333,Status=Alive,User=w\=1|POOL=1,URL=stratum+tcp://c:3333,Status=Dead|`
	v, err := ParseText([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	st := StatusOf(v)
	if len(st) != 1 || st[0].Code != 7 || st[0].Msg != "2 Pool(s)" || !st[0].OK() {
		t.Errorf("status = %+v", st)
	}
	r := newReply("pools", v, 0)
	pools := r.Section("POOLS")
	if len(pools) != 2 {
		t.Fatalf("got %d pools, want 2", len(pools))
	}
	if got := pools[0].StrKey("URL"); got != "stratum+tcp://a,b:3333" {
		t.Errorf("URL = %q (escaped comma)", got)
	}
	if got := pools[0].StrKey("User"); got != "w=1" {
		t.Errorf("User = %q (escaped =)", got)
	}
	if f, ok := pools[1].FloatKey("POOL"); !ok || f != 1 {
		t.Errorf("POOL = %v", f)
	}

	joined := `CMD=summary|STATUS=S,Code=11,Msg=Summary|SUMMARY,Elapsed=14,MHS av=0.00|CMD=pools|STATUS=S,Code=7|POOL=0,URL=x|`
	v, err = ParseText([]byte(joined))
	if err != nil {
		t.Fatal(err)
	}
	replies, ok := splitJoined(v, []Command{Summary, Pools}, 0)
	if !ok || len(replies) != 2 {
		t.Fatalf("joined text: %v %v", replies, ok)
	}
	if f, _ := replies["summary"].First("SUMMARY").FloatKey("Elapsed"); f != 14 {
		t.Errorf("Elapsed = %v", f)
	}
	// A value escaped as cgminer's text form escapes it reads back whole.
	v, err = ParseText([]byte(`STATUS=S,Code=7|POOL=0,URL=` + escapeText("a|b,c=d\\e") + `,User=x|`))
	if err != nil {
		t.Fatal(err)
	}
	if got := newReply("pools", v, 0).First("POOLS").StrKey("URL"); got != "a|b,c=d\\e" {
		t.Errorf("escaped URL reads back as %q", got)
	}
}

func TestStatusShapes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Status
		ok   bool
	}{
		{"array", `{"STATUS":[{"STATUS":"S","When":5,"Code":11,"Msg":"Summary","Description":"cgminer 4.11.1"}]}`,
			Status{Status: "S", When: 5, Code: 11, Msg: "Summary", Description: "cgminer 4.11.1"}, true},
		{"informational", `{"STATUS":[{"STATUS":"I","Code":1,"Msg":"x"}]}`, Status{Status: "I", Code: 1, Msg: "x"}, true},
		{"warning", `{"STATUS":[{"STATUS":"W","Code":2,"Msg":"w"}]}`, Status{Status: "W", Code: 2, Msg: "w"}, false},
		{"fatal", `{"STATUS":[{"STATUS":"F","Code":3,"Msg":"f"}]}`, Status{Status: "F", Code: 3, Msg: "f"}, false},
		{"flat whatsminer", `{"STATUS":"S","When":1613790817,"Code":131,"Msg":{"btmineroff":"true"},"Description":"whatsminer v1.3"}`,
			Status{Status: "S", When: 1613790817, Code: 131, Description: "whatsminer v1.3"}, true},
		{"bare string", `{"STATUS":"RESTART"}`, Status{Status: "RESTART"}, false},
		{"error", `{"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command"}],"id":1}`,
			Status{Status: "E", When: 1, Code: 14, Msg: "Invalid command"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _, err := ParseJSON([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			st := StatusOf(v)
			if len(st) != 1 {
				t.Fatalf("got %d statuses", len(st))
			}
			got := st[0]
			if got.Status != tt.want.Status || got.When != tt.want.When || got.Code != tt.want.Code ||
				got.Msg != tt.want.Msg || got.Description != tt.want.Description {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if st[0].OK() != tt.ok {
				t.Errorf("OK = %v, want %v", st[0].OK(), tt.ok)
			}
		})
	}
	v, _, _ := ParseJSON([]byte(`{"STATUS":"S","Code":131,"Msg":{"btmineroff":"true"}}`))
	if got := StatusOf(v)[0].MsgValue.StrKey("btmineroff"); got != "true" {
		t.Errorf("Msg object lost: %q", got)
	}
}

func TestParseCommandReadOnly(t *testing.T) {
	for _, name := range []string{"restart", "quit", "addpool", "switchpool", "ascset", "pgaset",
		"save", "privileged", "setconfig", "zero", "summary|1", "summary+restart", "", "debug"} {
		if _, err := ParseCommand(name); err == nil {
			t.Errorf("ParseCommand(%q) accepted a command that is not read-only", name)
		}
	}
	for _, name := range []string{"summary", "pools", "stats", "devs", "edevs", "version",
		"devdetails", "estats", "temps", "fans", "power", "get_version", "STATS "} {
		if _, err := ParseCommand(name); err != nil {
			t.Errorf("ParseCommand(%q): %v", name, err)
		}
	}
}

// escapeText escapes a value as cgminer's text form does (api.c escape_string: '|', ',', '=' and
// '\\' get a backslash).
func escapeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '|', ',', '=', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
