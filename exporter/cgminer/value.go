package cgminer

import (
	"math"
	"strconv"
	"strings"
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
type Value struct {
	kind Kind
	b    bool
	num  float64
	str  string // string value, or the number's text as the miner wrote it
	arr  []Value
	obj  []Member
}

// Member is one key and value of an object.
type Member struct {
	Key   string
	Value Value
}

// stringValue, arrayValue and objectValue build the values of a text-form reply (text.go).
func stringValue(s string) Value { return Value{kind: String, str: s} }

func arrayValue(vs ...Value) Value { return Value{kind: Array, arr: vs} }

func objectValue(ms ...Member) Value { return Value{kind: Object, obj: ms} }

// Kind reports the value's JSON type.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether the value is null or missing.
func (v Value) IsNull() bool { return v.kind == Null }

// Members returns an object's members in reply order (nil for anything else).
func (v Value) Members() []Member { return v.obj }

// Elems returns an array's elements (nil for anything else).
func (v Value) Elems() []Value { return v.arr }

// Lookup returns the member named key of an object.
func (v Value) Lookup(key string) (Value, bool) {
	for i := range v.obj {
		if v.obj[i].Key == key {
			return v.obj[i].Value, true
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
	for i := range v.obj {
		if strings.EqualFold(v.obj[i].Key, key) {
			return v.obj[i].Value, true
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
