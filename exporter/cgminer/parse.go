package cgminer

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Repair records which known firmware defects a reply needed mending for. Each bit is one defect
// seen in the field (see ../shared/notes/cgminer-api-quirks.md, section 5).
type Repair uint16

// The defects Parse mends.
const (
	// RepairMissingComma: `}{` between array elements (bmminer stats) or `"a""b":` between
	// members (btminer 2023-01).
	RepairMissingComma Repair = 1 << iota
	// RepairLeadingComma: `[,{` (bmminer) or a doubled comma.
	RepairLeadingComma
	// RepairTrailingComma: `,}` or `,]` (btminer).
	RepairTrailingComma
	// RepairControlChar: raw newlines or other control characters inside a string (btminer).
	RepairControlChar
	// RepairNonFinite: bare nan, inf, -inf (Avalon).
	RepairNonFinite
	// RepairTopLevelComma: the reply starts with `,` instead of `{` (Avalon).
	RepairTopLevelComma
	// RepairBadEscape: an escape JSON does not have, such as `\'`.
	RepairBadEscape
	// RepairTrailingData: bytes after the first complete value (a second chunk, a stray `"}`).
	RepairTrailingData
	// RepairArrayAsObject: `"error_code":["k":v]`, a list written like a dict (btminer 2.0.4).
	RepairArrayAsObject
)

var repairNames = []string{
	"missing_comma", "leading_comma", "trailing_comma", "control_char", "non_finite",
	"top_level_comma", "bad_escape", "trailing_data", "array_as_object",
}

func (r Repair) String() string {
	if r == 0 {
		return "none"
	}
	var parts []string
	for i, name := range repairNames {
		if r&(1<<i) != 0 {
			parts = append(parts, name)
		}
	}
	return strings.Join(parts, ",")
}

// ErrTruncated means the reply ended inside a value.
var ErrTruncated = errors.New("reply truncated")

// SyntaxError is a reply that cannot be read even with the known repairs.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed reply at byte %d: %s", e.Offset, e.Msg)
}

const maxDepth = 64

// ParseJSON reads one JSON value from a miner's reply, mending the known firmware defects as it
// goes, and reports which it mended. A trailing NUL must already be stripped (Read does that).
func ParseJSON(data []byte) (Value, Repair, error) {
	p := parser{data: data}
	p.ws()
	if p.i < len(p.data) && p.data[p.i] == ',' {
		// Avalon: `,"id":1}` where `{` was lost. Read the rest as the members of an object.
		p.rep |= RepairTopLevelComma
		p.i++
		v, err := p.members(0, '}', nil)
		if err != nil {
			return Value{}, p.rep, err
		}
		return p.finish(v)
	}
	if p.i >= len(p.data) {
		return Value{}, 0, &SyntaxError{Offset: 0, Msg: "empty reply"}
	}
	if c := p.data[p.i]; c != '{' && c != '[' {
		return Value{}, 0, &SyntaxError{Offset: p.i, Msg: fmt.Sprintf("reply starts with %q, not a JSON object", c)}
	}
	v, err := p.value(0)
	if err != nil {
		return Value{}, p.rep, err
	}
	return p.finish(v)
}

type parser struct {
	data []byte
	i    int
	rep  Repair
}

func (p *parser) finish(v Value) (Value, Repair, error) {
	p.ws()
	if p.i < len(p.data) {
		p.rep |= RepairTrailingData
	}
	return v, p.rep, nil
}

func (p *parser) errf(format string, args ...any) error {
	if p.i >= len(p.data) {
		return fmt.Errorf("%w at byte %d", ErrTruncated, p.i)
	}
	return &SyntaxError{Offset: p.i, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) ws() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (Value, error) {
	if depth > maxDepth {
		return Value{}, p.errf("nested deeper than %d", maxDepth)
	}
	p.ws()
	if p.i >= len(p.data) {
		return Value{}, p.errf("value expected")
	}
	switch c := p.data[p.i]; {
	case c == '{':
		p.i++
		return p.members(depth+1, '}', nil)
	case c == '[':
		p.i++
		return p.elems(depth + 1)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return Value{}, err
		}
		return Value{kind: String, str: s}, nil
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		return p.number()
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return p.word()
	}
	return Value{}, p.errf("unexpected %q", p.data[p.i])
}

// members reads object members up to the closing byte (the `{` is already consumed).
// Members already read (ms) continue the object; the next byte then needs a comma before it.
func (p *parser) members(depth int, end byte, ms []Member) (Value, error) {
	if ms == nil {
		ms = make([]Member, 0, 8)
	}
	expectMember := len(ms) == 0 // after `{` or `,`
	for {
		p.ws()
		if p.i >= len(p.data) {
			return Value{}, p.errf("object not closed")
		}
		c := p.data[p.i]
		switch {
		case c == end:
			p.i++
			if !expectMember || len(ms) == 0 {
				return Value{kind: Object, obj: ms}, nil
			}
			p.rep |= RepairTrailingComma
			return Value{kind: Object, obj: ms}, nil
		case c == ',':
			p.i++
			if expectMember {
				p.rep |= RepairLeadingComma
			}
			expectMember = true
			continue
		case c == '"':
			if !expectMember {
				p.rep |= RepairMissingComma
			}
		default:
			return Value{}, p.errf("object key expected, found %q", c)
		}
		key, err := p.str()
		if err != nil {
			return Value{}, err
		}
		p.ws()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			return Value{}, p.errf("':' expected after key %q", key)
		}
		p.i++
		v, err := p.value(depth)
		if err != nil {
			return Value{}, err
		}
		ms = append(ms, Member{Key: key, Value: v})
		expectMember = false
	}
}

func (p *parser) elems(depth int) (Value, error) {
	var vs []Value
	expectElem := true
	for {
		p.ws()
		if p.i >= len(p.data) {
			return Value{}, p.errf("array not closed")
		}
		switch c := p.data[p.i]; c {
		case ']':
			p.i++
			if expectElem && len(vs) > 0 {
				p.rep |= RepairTrailingComma
			}
			return Value{kind: Array, arr: vs}, nil
		case ',':
			p.i++
			if expectElem {
				p.rep |= RepairLeadingComma
			}
			expectElem = true
			continue
		case ':':
			// `["k":v, …]`: a dict written with brackets. Only a first element that is a string
			// can be a key.
			if len(vs) == 1 && vs[0].kind == String && !expectElem {
				p.rep |= RepairArrayAsObject
				p.i++
				v, err := p.value(depth)
				if err != nil {
					return Value{}, err
				}
				// Continue as the members of an object closed by `]`.
				return p.members(depth, ']', []Member{{Key: vs[0].str, Value: v}})
			}
			return Value{}, p.errf("unexpected ':' in array")
		default:
			if !expectElem {
				p.rep |= RepairMissingComma // `}{`
			}
		}
		v, err := p.value(depth)
		if err != nil {
			return Value{}, err
		}
		vs = append(vs, v)
		expectElem = false
	}
}

// str reads a string starting at the opening quote.
func (p *parser) str() (string, error) {
	p.i++ // opening quote
	start := p.i
	// Fast path: no escapes, no control characters.
	for p.i < len(p.data) {
		c := p.data[p.i]
		if c == '"' {
			s := string(p.data[start:p.i])
			p.i++
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	var b strings.Builder
	b.Write(p.data[start:p.i])
	for p.i < len(p.data) {
		c := p.data[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c < 0x20:
			// Raw newline or control character inside a string: dropped.
			p.rep |= RepairControlChar
			p.i++
		case c == '\\':
			if p.i+1 >= len(p.data) {
				p.i++
				return "", p.errf("string not closed")
			}
			e := p.data[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					p.rep |= RepairBadEscape
					b.WriteString("\\u")
					continue
				}
				if utf16.IsSurrogate(r) {
					save := p.i
					if p.i+1 < len(p.data) && p.data[p.i] == '\\' && p.data[p.i+1] == 'u' {
						p.i += 2
						if r2, ok := p.hex4(); ok {
							if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
								b.WriteRune(d)
								continue
							}
						}
					}
					p.i = save
					r = utf8.RuneError
				}
				b.WriteRune(r)
			default:
				// `\'` and friends: keep the character.
				p.rep |= RepairBadEscape
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", p.errf("string not closed")
}

func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

func (p *parser) number() (Value, error) {
	start := p.i
	for p.i < len(p.data) {
		c := p.data[p.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.i++
			continue
		}
		break
	}
	text := p.data[start:p.i]
	// `-inf`, `-nan`: a sign followed by a word.
	if len(text) == 1 && (text[0] == '-' || text[0] == '+') && p.i < len(p.data) &&
		(p.data[p.i] == 'i' || p.data[p.i] == 'I' || p.data[p.i] == 'n' || p.data[p.i] == 'N') {
		p.i = start + 1
		w, err := p.word()
		if err != nil {
			return Value{}, err
		}
		if text[0] == '-' && math.IsInf(w.num, 1) {
			w.num = math.Inf(-1)
			w.str = "-" + w.str
		}
		return w, nil
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			// Out of float64 range: keep the sign and the text.
			return Value{kind: Number, num: f, str: string(text)}, nil
		}
		p.i = start
		return Value{}, p.errf("bad number %q", text)
	}
	return Value{kind: Number, num: f, str: string(text)}, nil
}

func (p *parser) word() (Value, error) {
	start := p.i
	for p.i < len(p.data) {
		c := p.data[p.i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			p.i++
			continue
		}
		break
	}
	w := string(p.data[start:p.i])
	switch w {
	case "true":
		return Value{kind: Bool, b: true}, nil
	case "false":
		return Value{kind: Bool}, nil
	case "null":
		return Value{}, nil
	}
	switch strings.ToLower(w) {
	case "nan":
		p.rep |= RepairNonFinite
		return Value{kind: Number, num: math.NaN(), str: w}, nil
	case "inf", "infinity":
		p.rep |= RepairNonFinite
		return Value{kind: Number, num: math.Inf(1), str: w}, nil
	}
	p.i = start
	return Value{}, p.errf("unexpected word %q", w)
}
