package cgminer

import (
	"bytes"
	"fmt"
	"strings"
)

// ParseText reads a reply in cgminer's text form
//
//	STATUS=S,When=1,Code=11,Msg=Summary,Description=cgminer 4.11.1|SUMMARY,Elapsed=14,MHS av=0.00|
//
// into the same shape the JSON form has: {"STATUS":[{…}],"SUMMARY":[{…}]}. Every field value is a
// string (the text form has no types; Value.Float reads numbers from strings). A joined reply
// (`CMD=summary|…|CMD=pools|…`) becomes {"summary":[{…}],"pools":[{…}]}. Since API 1.7 the
// characters `|`, `,`, `=` and `\` inside values are escaped with `\`.
func ParseText(data []byte) (Value, error) {
	// Every field and section costs a few allocations: bound them first, as ParseJSON bounds its
	// values, and in proportion to the reply beyond a floor (a real field, "Elapsed=14,", has 7
	// bytes or more; a real section, one pool or device, tens of fields).
	if limit, n := min(MaxValues(len(data)), max(1024, len(data)/4)), bytes.Count(data, []byte{','}); n > limit {
		return Value{}, &SyntaxError{Msg: fmt.Sprintf("more than %d fields", limit)}
	}
	if limit, n := max(256, len(data)/32), bytes.Count(data, []byte{'|'}); n > limit {
		return Value{}, &SyntaxError{Msg: fmt.Sprintf("more than %d sections", limit)}
	}
	s := string(data)
	if strings.TrimSpace(s) == "" {
		return Value{}, &SyntaxError{Msg: "empty reply"}
	}
	sections := splitEscaped(s, '|')
	if strings.HasPrefix(sections[0], "CMD=") {
		var top []Member
		var cur []string
		var name string
		flush := func() {
			if name != "" {
				top = append(top, Member{Key: name, Value: arrayValue(textReply(cur))})
			}
		}
		for _, sec := range sections {
			if strings.HasPrefix(sec, "CMD=") {
				flush()
				name, cur = unescapeText(sec[4:]), nil
				continue
			}
			cur = append(cur, sec)
		}
		flush()
		return objectValue(top...), nil
	}
	v := textReply(sections)
	if _, ok := v.Lookup("STATUS"); !ok {
		return Value{}, &SyntaxError{Msg: "text reply without STATUS"}
	}
	return v, nil
}

// textReply turns the sections of one command's text reply into its JSON shape.
func textReply(sections []string) Value {
	var order []string
	groups := map[string][]Value{}
	for _, sec := range sections {
		sec = strings.TrimRight(sec, "\x00\r\n")
		if strings.TrimSpace(sec) == "" {
			continue
		}
		fields := splitEscaped(sec, ',')
		name := ""
		if k, _ := cutEscaped(fields[0], '='); k == fields[0] {
			name, fields = unescapeText(fields[0]), fields[1:]
		}
		obj := make([]Member, 0, len(fields))
		for _, f := range fields {
			k, v := cutEscaped(f, '=')
			obj = append(obj, Member{Key: unescapeText(k), Value: stringValue(unescapeText(v))})
		}
		if name == "" && len(obj) > 0 {
			name = textSectionName(obj[0].Key)
		}
		if _, seen := groups[name]; !seen {
			order = append(order, name)
		}
		groups[name] = append(groups[name], objectValue(obj...))
	}
	top := make([]Member, 0, len(order))
	for _, name := range order {
		top = append(top, Member{Key: name, Value: arrayValue(groups[name]...)})
	}
	return objectValue(top...)
}

// textSectionName maps the first key of a text section to the section name the JSON form uses.
func textSectionName(firstKey string) string {
	switch firstKey {
	case "STATUS":
		return "STATUS"
	case "POOL":
		return "POOLS"
	case "ASC", "PGA", "GPU":
		return "DEVS"
	case "STATS":
		return "STATS"
	case "DEVDETAILS":
		return "DEVDETAILS"
	}
	return strings.ToUpper(firstKey)
}

// splitEscaped splits s at every sep not preceded by a backslash escape; escapes are kept.
func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

// cutEscaped splits a field at its first unescaped sep into key and value, as splitting at every
// one and joining the rest with sep again would (one trailing unescaped sep is dropped).
func cutEscaped(s string, sep byte) (key, val string) {
	i := 0
	for ; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		} else if s[i] == sep {
			break
		}
	}
	if i >= len(s) {
		return s, ""
	}
	key, val = s[:i], s[i+1:]
	for j := 0; j < len(val); j++ {
		if val[j] == '\\' {
			j++
		} else if val[j] == sep && j == len(val)-1 {
			val = val[:j]
		}
	}
	return key, val
}

func unescapeText(s string) string {
	if !strings.ContainsRune(s, '\\') {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
