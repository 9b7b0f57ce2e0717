package farm

import "strings"

// escapeText escapes a value for the text form of the cgminer API as cgminer's api.c does
// (escape_string, not JSON): '|', ',', '=' and '\' get a backslash before them.
func escapeText(s string) string {
	if !strings.ContainsAny(s, "|,=\\") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '|', ',', '=', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
