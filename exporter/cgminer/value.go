package cgminer

import (
	"math"
	"strconv"
	"strings"
	"unsafe"
)

// Kind is the JSON type of a Value.
type Kind uint8

// The kinds of value a reply holds.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

func (k Kind) String() string {
	switch k {
	case Bool:
		return "bool"
	case Number:
		return "number"
	case String:
		return "string"
	case Array:
		return "array"
	case Object:
		return "object"
	}
	return "null"
}

// Value is one parsed JSON value of a miner's reply. Objects keep their members in reply order
// (firmware sometimes repeats a key; lookups return the first). The zero Value is null, so a
// missing key reads as null without a nil check.
//
// A Value is 40 bytes: an array's elements or an object's members are one pointer and a count
// (the parser makes tens of thousands of Values a second, and their size is most of what a probe
// allocates).
type Value struct {
	kind Kind
	b    bool
	n    uint32 // how many elements or members kids points to
	num  float64
	str  string         // string value, or the number's text as the miner wrote it
	kids unsafe.Pointer // *Value (Array) or *Member (Object): the first of n
}

// maxKids bounds the elements or members of one value (MaxValues stays far below it).
const maxKids = math.MaxUint32

// arr returns an array's elements (nil for anything else).
func (v Value) arr() []Value {
	if v.kind != Array || v.n == 0 {
		return nil
	}
	return unsafe.Slice((*Value)(v.kids), v.n)
}

// obj returns an object's members (nil for anything else).
func (v Value) obj() []Member {
	if v.kind != Object || v.n == 0 {
		return nil
	}
	return unsafe.Slice((*Member)(v.kids), v.n)
}

// Member is one key and value of an object.
type Member struct {
	Key   string
	Value Value
}

// stringValue, arrayValue and objectValue build the values of a text-form reply (text.go).
func stringValue(s string) Value { return Value{kind: String, str: s} }

func arrayValue(vs ...Value) Value {
	if len(vs) > maxKids {
		panic("cgminer: array too long")
	}
	return Value{kind: Array, n: uint32(len(vs)), kids: unsafe.Pointer(unsafe.SliceData(vs))}
}

func objectValue(ms ...Member) Value {
	if len(ms) > maxKids {
		panic("cgminer: object too large")
	}
	return Value{kind: Object, n: uint32(len(ms)), kids: unsafe.Pointer(unsafe.SliceData(ms))}
}

// Equal reports whether v and w are the same JSON value: kind, number and text, elements and
// members (keys and order) alike. (reflect.DeepEqual compares where the elements are, not what.)
func (v Value) Equal(w Value) bool {
	if v.kind != w.kind || v.b != w.b || v.str != w.str || v.n != w.n {
		return false
	}
	if v.num != w.num && !(math.IsNaN(v.num) && math.IsNaN(w.num)) {
		return false
	}
	switch v.kind {
	case Array:
		a, b := v.arr(), w.arr()
		for i := range a {
			if !a[i].Equal(b[i]) {
				return false
			}
		}
	case Object:
		a, b := v.obj(), w.obj()
		for i := range a {
			if a[i].Key != b[i].Key || !a[i].Value.Equal(b[i].Value) {
				return false
			}
		}
	}
	return true
}

// Kind reports the value's JSON type.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether the value is null or missing.
func (v Value) IsNull() bool { return v.kind == Null }

// Members returns an object's members in reply order (nil for anything else).
func (v Value) Members() []Member { return v.obj() }

// Elems returns an array's elements (nil for anything else).
func (v Value) Elems() []Value { return v.arr() }

// Lookup returns the member named key of an object.
func (v Value) Lookup(key string) (Value, bool) {
	obj := v.obj()
	for i := range obj {
		if obj[i].Key == key {
			return obj[i].Value, true
		}
	}
	return Value{}, false
}

// Get returns the member named key, or null.
func (v Value) Get(key string) Value {
	r, _ := v.Lookup(key)
	return r
}

// LookupFold is Lookup ignoring ASCII case, for keys firmware spells several ways.
func (v Value) LookupFold(key string) (Value, bool) {
	obj := v.obj()
	for i := range obj {
		if strings.EqualFold(obj[i].Key, key) {
			return obj[i].Value, true
		}
	}
	return Value{}, false
}

// Float reads a number, or a string holding one ("140258.58", " 12 "), as firmware sends both.
// ok is false for anything else and for NaN and infinities, which miners emit for absent sensors:
// an absent sample is better than a made-up one.
func (v Value) Float() (f float64, ok bool) {
	switch v.kind {
	case Number:
		f = v.num
	case String:
		s := strings.TrimSpace(v.str)
		if s == "" {
			return 0, false
		}
		var err error
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return 0, false
		}
	case Bool:
		return 0, false
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// Str returns a string value, or the text of a number; "" for anything else.
func (v Value) Str() string {
	switch v.kind {
	case String, Number:
		return v.str
	case Bool:
		if v.b {
			return "true"
		}
		return "false"
	}
	return ""
}

// Truth reads a boolean the ways firmware writes one: true/false, "true"/"false", "Y"/"N", 1/0.
func (v Value) Truth() (b, ok bool) {
	switch v.kind {
	case Bool:
		return v.b, true
	case Number:
		return v.num != 0, true
	case String:
		switch strings.ToLower(strings.TrimSpace(v.str)) {
		case "true", "y", "yes", "1", "on", "enabled":
			return true, true
		case "false", "n", "no", "0", "off", "disabled":
			return false, true
		}
	}
	return false, false
}

// FloatKey returns the member key as a number (see Value.Float).
func (v Value) FloatKey(key string) (float64, bool) { return v.Get(key).Float() }

// StrKey returns the member key as a string (see Value.Str).
func (v Value) StrKey(key string) string { return v.Get(key).Str() }
