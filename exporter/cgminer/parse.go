package cgminer

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// Bounds on one reply, far above what firmware sends (the largest capture, btminer stats, has
// 2,607 values, 836 members in one object, nesting 6 deep and a longest string of 3,280 bytes) and
// low enough that a hostile reply of any size costs memory in proportion to it and little more.
const (
	maxDepth = 64
	// minMaxValues is the fewest values a reply may hold; a reply may hold one value per
	// bytesPerValue of its size when that is more (real replies have one per 20-30 bytes).
	minMaxValues  = 1 << 16
	bytesPerValue = 16
	// maxStringBytes bounds one string or key after unescaping.
	maxStringBytes = 256 << 10
	// maxNumberBytes bounds a number's text (real ones have at most about 20 characters).
	maxNumberBytes = 256
	// maxWordBytes bounds a bare word: true, false, null, nan, inf, infinity.
	maxWordBytes = 8
)

// MaxValues is the most values Parse and ParseText accept in a reply of n bytes.
func MaxValues(n int) int { return max(minMaxValues, n/bytesPerValue) }

// ParseJSON reads one JSON value from a miner's reply, mending the known firmware defects as it
// goes, and reports which it mended. A trailing NUL must already be stripped (Read does that).
//
// Every object and array is allocated once at its final size (members and elements being read
// wait on the parser's scratch stacks), so memory stays in proportion to the reply. A reply
// beyond the bounds above is a *SyntaxError.
func ParseJSON(data []byte) (Value, Repair, error) {
	sc := scratchPool.Get().(*scratch)
	p := parser{data: data, maxValues: MaxValues(len(data)), mems: sc.mems[:0], vals: sc.vals[:0]}
	v, rep, err := p.parse()
	// The scratch stacks are reused; what they held is cleared first, so the pool keeps no
	// reply alive. Stacks a huge reply grew are left to the garbage collector.
	clear(p.mems[:p.memsHigh])
	clear(p.vals[:p.valsHigh])
	if cap(p.mems) <= maxPooledMembers && cap(p.vals) <= maxPooledValues {
		sc.mems, sc.vals = p.mems[:0], p.vals[:0]
		scratchPool.Put(sc)
	}
	return v, rep, err
}

// scratch is a parser's reusable stacks.
type scratch struct {
	mems []Member
	vals []Value
}

const (
	maxPooledMembers = 2048
	maxPooledValues  = 2048
)

var scratchPool = sync.Pool{New: func() any { return &scratch{mems: make([]Member, 0, 256), vals: make([]Value, 0, 64)} }}

func (p *parser) parse() (Value, Repair, error) {
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

	values, maxValues int
	// The members and elements of the objects and arrays being read, innermost last.
	mems []Member
	vals []Value
	// the most the stacks held (cleared before they are reused)
	memsHigh, valsHigh int
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
	if p.values++; p.values > p.maxValues {
		return Value{}, p.errf("more than %d values", p.maxValues)
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
		s, err := p.shortStr()
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
// A member already read (first) continues the object; the next byte then needs a comma before it.
func (p *parser) members(depth int, end byte, first *Member) (Value, error) {
	base := len(p.mems)
	if first != nil {
		p.pushMember(*first)
	}
	expectMember := first == nil // after `{` or `,`
	for {
		p.ws()
		if p.i >= len(p.data) {
			return Value{}, p.errf("object not closed")
		}
		c := p.data[p.i]
		switch {
		case c == end:
			p.i++
			if expectMember && len(p.mems) > base {
				p.rep |= RepairTrailingComma
			}
			return objectValue(p.popMembers(base)...), nil
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
		key, err := p.key()
		if err != nil {
			return Value{}, err
		}
		p.ws()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			return Value{}, p.errf("':' expected after key %s", clip(key))
		}
		p.i++
		v, err := p.value(depth)
		if err != nil {
			return Value{}, err
		}
		p.pushMember(Member{Key: key, Value: v})
		expectMember = false
	}
}

// pushMember and pushValue grow the scratch stacks by doubling (append grows large slices by a
// quarter, which would allocate five times the final size on the way up).
func (p *parser) pushMember(m Member) {
	if len(p.mems) == cap(p.mems) {
		p.mems = append(make([]Member, 0, max(16, 2*cap(p.mems))), p.mems...)
	}
	p.mems = append(p.mems, m)
	p.memsHigh = max(p.memsHigh, len(p.mems))
}

func (p *parser) pushValue(v Value) {
	if len(p.vals) == cap(p.vals) {
		p.vals = append(make([]Value, 0, max(16, 2*cap(p.vals))), p.vals...)
	}
	p.vals = append(p.vals, v)
	p.valsHigh = max(p.valsHigh, len(p.vals))
}

// popMembers takes the members above base off the scratch stack into an object's own slice.
func (p *parser) popMembers(base int) []Member {
	n := len(p.mems) - base
	if n == 0 {
		return nil
	}
	ms := make([]Member, n)
	copy(ms, p.mems[base:])
	p.mems = p.mems[:base]
	return ms
}

// popValues takes the elements above base off the scratch stack into an array's own slice.
func (p *parser) popValues(base int) []Value {
	n := len(p.vals) - base
	if n == 0 {
		return nil
	}
	vs := make([]Value, n)
	copy(vs, p.vals[base:])
	p.vals = p.vals[:base]
	return vs
}

func (p *parser) elems(depth int) (Value, error) {
	base := len(p.vals)
	expectElem := true
	for {
		p.ws()
		if p.i >= len(p.data) {
			return Value{}, p.errf("array not closed")
		}
		switch c := p.data[p.i]; c {
		case ']':
			p.i++
			if expectElem && len(p.vals) > base {
				p.rep |= RepairTrailingComma
			}
			return arrayValue(p.popValues(base)...), nil
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
			if len(p.vals) == base+1 && p.vals[base].kind == String && !expectElem {
				p.rep |= RepairArrayAsObject
				p.i++
				key := p.vals[base].str
				p.vals = p.vals[:base]
				v, err := p.value(depth)
				if err != nil {
					return Value{}, err
				}
				// Continue as the members of an object closed by `]`.
				return p.members(depth, ']', &Member{Key: key, Value: v})
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
		p.pushValue(v)
		expectElem = false
	}
}

// key reads an object key: str, except that a short key without escapes comes from keys, so the
// same few hundred keys of every reply of every miner are not allocated again each time.
func (p *parser) key() (string, error) { return p.interned(&keys, maxInternKeyBytes) }

// shortStr reads a string value: str, except that a short one without escapes ("Alive", "Y",
// "S") comes from words.
func (p *parser) shortStr() (string, error) { return p.interned(&words, maxInternWordBytes) }

func (p *parser) interned(t *internTable, maxLen int) (string, error) {
	start := p.i + 1
	lim := min(len(p.data), start+maxLen+1)
	i := start
	for i < lim && !special[p.data[i]] {
		i++
	}
	if i < lim && p.data[i] == '"' {
		p.i = i + 1
		return t.get(p.data[start:i]), nil
	}
	return p.str()
}

// special marks the bytes that end a string's plain run: the closing quote, an escape, a control
// character.
var special = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// Bounds on the interned strings: each table holds at most internSlots strings (a hostile
// miner's made-up keys fill it at most that far, about 600 KiB), and every string it has no room
// for is allocated as before.
const (
	internSlots        = 8192 // a power of two
	internProbes       = 4
	maxInternKeyBytes  = 40
	maxInternWordBytes = 8
)

// keys and words intern object keys and short string values across replies.
var keys, words internTable

// internTable is a fixed open-addressing table read and filled without locks: a slot, once set,
// never changes. Its slots are allocated with the program, so interning allocates no more per
// reply than the strings themselves (and a pointer to each new one).
type internTable struct {
	slots [internSlots]atomic.Pointer[string]
}

var internSeed = maphash.MakeSeed()

func (t *internTable) get(b []byte) string {
	h := maphash.Bytes(internSeed, b)
	for i := range uint64(internProbes) {
		slot := &t.slots[(h+i)&(internSlots-1)]
		p := slot.Load()
		if p == nil {
			s := string(b)
			if slot.CompareAndSwap(nil, &s) {
				return s
			}
			p = slot.Load()
		}
		if *p == string(b) {
			return *p
		}
	}
	return string(b)
}

// smallInts are the texts of 0 to 99.
var smallInts = func() (s [100]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

// str reads a string starting at the opening quote.
func (p *parser) str() (string, error) {
	p.i++ // opening quote
	start := p.i
	// Fast path: no escapes, no control characters.
	for p.i < len(p.data) && !special[p.data[p.i]] {
		p.i++
	}
	if p.i < len(p.data) && p.data[p.i] == '"' {
		if p.i-start > maxStringBytes {
			return "", p.errf("string of more than %d bytes", maxStringBytes)
		}
		s := string(p.data[start:p.i])
		p.i++
		return s, nil
	}
	var b strings.Builder
	b.Write(p.data[start:p.i])
	for p.i < len(p.data) {
		c := p.data[p.i]
		switch {
		case c == '"':
			if b.Len() > maxStringBytes {
				return "", p.errf("string of more than %d bytes", maxStringBytes)
			}
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
	for p.i < len(p.data) && numberByte[p.data[p.i]] {
		p.i++
	}
	text := p.data[start:p.i]
	if len(text) > maxNumberBytes {
		return Value{}, p.errf("number of more than %d bytes", maxNumberBytes)
	}
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
	if len(text) <= 2 && text[0] >= '0' && text[0] <= '9' && (len(text) == 1 || text[1] >= '0' && text[1] <= '9') {
		// 0 to 99, half the numbers of a reply: no text to copy, nothing to parse.
		n := int(text[0] - '0')
		if len(text) == 2 {
			n = n*10 + int(text[1]-'0')
		}
		if len(text) == 1 || text[0] != '0' {
			return Value{kind: Number, num: float64(n), str: smallInts[n]}, nil
		}
	}
	if n, ok := smallInteger(text); ok {
		// Most numbers miners send are integers: exact without strconv (below 2^53 every
		// integer is a float64, so the value is ParseFloat's).
		return Value{kind: Number, num: n, str: string(text)}, nil
	}
	t := string(text) // one copy, parsed and kept
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			// Out of float64 range: keep the sign and the text.
			return Value{kind: Number, num: f, str: t}, nil
		}
		p.i = start
		return Value{}, p.errf("bad number %s", clip(t))
	}
	return Value{kind: Number, num: f, str: t}, nil
}

// numberByte marks the bytes a number's text is made of.
var numberByte = func() (t [256]bool) {
	for _, c := range []byte("0123456789-+.eE") {
		t[c] = true
	}
	return t
}()

// smallInteger reads an optional minus sign and 1 to 15 digits (below 2^53).
func smallInteger(text []byte) (float64, bool) {
	neg := len(text) > 1 && text[0] == '-'
	if neg {
		text = text[1:]
	}
	if len(text) == 0 || len(text) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range text {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		if n == 0 {
			return math.Copysign(0, -1), true // ParseFloat("-0") is negative zero
		}
		return float64(-n), true
	}
	return float64(n), true
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
	if p.i-start > maxWordBytes {
		w := string(p.data[start : start+maxWordBytes+1])
		p.i = start
		return Value{}, p.errf("unexpected word %s", clip(w))
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
	return Value{}, p.errf("unexpected word %s", clip(w))
}

// clip quotes the start of what the miner sent, for an error message.
func clip(s string) string {
	const n = 32
	if len(s) <= n {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:n]) + "…"
}
