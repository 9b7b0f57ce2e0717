package farm

import (
	"slices"
	"strconv"
	"strings"
)

// A reply is built as ordered fields, then written in the JSON or the text form. Field order,
// number formatting and envelope shape are part of each family's renderer.

type vkind uint8

const (
	vStr   vkind = iota
	vInt         // 123
	vFloat       // fixed decimals: 0.00, 1024.00000000
	vShort       // shortest text that reads back, with ".0" on whole numbers (Rust/Python style)
	vBool
	vRaw // JSON text written as is (nested constants)
	vObj // a nested object (Whatsminer's Msg)
	vArr // an array of values (API v3 and the HTTP API); its elements' keys are not written
)

type kv struct {
	k    string
	kind vkind
	prec int8
	b    bool
	s    string
	f    float64
	i    int64
	obj  []kv // vObj: the members; vArr: the elements
}

func S(k, s string) kv                { return kv{k: k, kind: vStr, s: s} }
func I(k string, i int64) kv          { return kv{k: k, kind: vInt, i: i} }
func N(k string, f float64) kv        { return kv{k: k, kind: vInt, i: int64(f)} }
func F(k string, f float64, p int) kv { return kv{k: k, kind: vFloat, f: f, prec: int8(p)} }
func G(k string, f float64) kv        { return kv{k: k, kind: vShort, f: f} }
func B(k string, b bool) kv           { return kv{k: k, kind: vBool, b: b} }
func R(k, raw string) kv              { return kv{k: k, kind: vRaw, s: raw} }
func O(k string, obj ...kv) kv        { return kv{k: k, kind: vObj, obj: obj} }
func A(k string, elems ...kv) kv      { return kv{k: k, kind: vArr, obj: elems} }

type section struct {
	name   string
	objs   [][]kv
	prefix bool // text form: each object starts with the section name ("SUMMARY,Elapsed=…")
}

type reply struct {
	status   []kv
	sections []section
	flat     bool // Whatsminer: the STATUS members at the top level, no id
	sorted   bool // LuxOS: keys sorted at every level
	glued    bool // Antminer S9: STATS objects written without a comma between them (`}{`)
	spaced   bool // VNish: a space after "STATUS": and the section key
}

func (r *reply) add(name string, prefix bool, objs ...[]kv) *reply {
	r.sections = append(r.sections, section{name: name, objs: objs, prefix: prefix})
	return r
}

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func appendNumber(b []byte, v kv) []byte {
	switch v.kind {
	case vInt:
		return strconv.AppendInt(b, v.i, 10)
	case vFloat:
		return strconv.AppendFloat(b, v.f, 'f', int(v.prec), 64)
	case vShort:
		start := len(b)
		b = strconv.AppendFloat(b, v.f, 'f', -1, 64)
		if !strings.ContainsRune(string(b[start:]), '.') {
			b = append(b, '.', '0')
		}
		return b
	}
	return b
}

func sortedKV(o []kv) []kv {
	o = slices.Clone(o)
	slices.SortStableFunc(o, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	return o
}

func (r *reply) appendObject(b []byte, o []kv) []byte {
	if r.sorted {
		o = sortedKV(o)
	}
	b = append(b, '{')
	for i, f := range o {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.k)
		b = append(b, ':')
		b = r.appendValue(b, f)
	}
	return append(b, '}')
}

func (r *reply) appendValue(b []byte, f kv) []byte {
	switch f.kind {
	case vStr:
		return appendJSONString(b, f.s)
	case vBool:
		return strconv.AppendBool(b, f.b)
	case vRaw:
		return append(b, f.s...)
	case vObj:
		return r.appendObject(b, f.obj)
	case vArr:
		b = append(b, '[')
		for i, e := range f.obj {
			if i > 0 {
				b = append(b, ',')
			}
			b = r.appendValue(b, e)
		}
		return append(b, ']')
	}
	return appendNumber(b, f)
}

// appendDoc writes one JSON object that is not a cgminer reply (API v3, the HTTP API), its keys
// sorted at every level when sorted is set.
func appendDoc(b []byte, o []kv, sorted bool) []byte {
	r := reply{sorted: sorted}
	return r.appendObject(b, o)
}

// appendJSON writes the reply in the JSON form.
func (r *reply) appendJSON(b []byte) []byte {
	if r.flat {
		return r.appendObject(b, r.status)
	}
	type top struct {
		name string
		objs [][]kv
	}
	tops := make([]top, 0, len(r.sections)+1)
	tops = append(tops, top{"STATUS", [][]kv{r.status}})
	for _, s := range r.sections {
		tops = append(tops, top{s.name, s.objs})
	}
	if r.sorted {
		slices.SortStableFunc(tops, func(a, b top) int { return strings.Compare(a.name, b.name) })
	}
	b = append(b, '{')
	for _, t := range tops {
		b = appendJSONString(b, t.name)
		b = append(b, ':')
		if r.spaced {
			b = append(b, ' ')
		}
		b = append(b, '[')
		for i, o := range t.objs {
			if i > 0 && !(r.glued && t.name == "STATS") {
				b = append(b, ',')
			}
			b = r.appendObject(b, o)
		}
		b = append(b, ']', ',')
	}
	return append(b, `"id":1}`...)
}

func appendTextValue(b []byte, f kv) []byte {
	switch f.kind {
	case vStr:
		return append(b, escapeText(f.s)...)
	case vBool:
		return strconv.AppendBool(b, f.b)
	case vRaw:
		return append(b, escapeText(f.s)...)
	case vObj, vArr:
		r := reply{}
		return append(b, escapeText(string(r.appendValue(nil, f)))...)
	}
	return appendNumber(b, f)
}

func appendTextObject(b []byte, prefix string, o []kv) []byte {
	if prefix != "" {
		b = append(b, prefix...)
		b = append(b, ',')
	}
	for i, f := range o {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, escapeText(f.k)...)
		b = append(b, '=')
		b = appendTextValue(b, f)
	}
	return append(b, '|')
}

// appendText writes the reply in the text form: STATUS=S,When=…|SUMMARY,Elapsed=…|.
func (r *reply) appendText(b []byte) []byte {
	b = appendTextObject(b, "", r.status)
	for _, s := range r.sections {
		prefix := ""
		if s.prefix {
			prefix = s.name
		}
		for _, o := range s.objs {
			b = appendTextObject(b, prefix, o)
		}
	}
	return b
}
