package check

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Grafana's own variables that may appear in a Prometheus expression, with a value of the kind
// Grafana puts there (durations for the intervals, seconds or milliseconds for the _s/_ms forms).
var builtins = map[string]string{
	"__interval":      "1m",
	"__interval_ms":   "60000",
	"__rate_interval": "4m",
	"__range":         "6h",
	"__range_s":       "21600",
	"__range_ms":      "21600000",
}

// $name, ${name}, ${name:format}, [[name]].
var variableRe = regexp.MustCompile(`\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)|\[\[([a-zA-Z_][a-zA-Z0-9_]*)\]\]`)

// Substitute replaces Grafana variables in expr: the built-in intervals and ranges by durations, a
// dashboard variable (one of vars) by "x" — every dashboard variable here stands for label values
// inside a matcher's quotes, where any text parses. A variable that is neither is an error.
func Substitute(expr string, vars map[string]bool) (string, error) {
	values := make(map[string]string, len(vars))
	for v := range vars {
		values[v] = "x"
	}
	return SubstituteValues(expr, values)
}

// SubstituteValues is Substitute with a value for each dashboard variable, e.g. ".*" for "All".
func SubstituteValues(expr string, values map[string]string) (string, error) {
	var unknown []string
	out := variableRe.ReplaceAllStringFunc(expr, func(m string) string {
		sm := variableRe.FindStringSubmatch(m)
		name := sm[1] + sm[2] + sm[3]
		if v, ok := builtins[name]; ok {
			return v
		}
		if v, ok := values[name]; ok {
			return v
		}
		unknown = append(unknown, m)
		return m
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("unknown variable %s in %q", strings.Join(unknown, ", "), expr)
	}
	return out, nil
}

// Words that are not metric names where an identifier may stand.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"inf": true, "nan": true,
}

// After these, a parenthesised list holds label names, not expressions.
var labelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// Metrics returns the metric names an expression selects, sorted and without repeats: every
// identifier that is not a function, aggregation, keyword or label name, plus the value of a
// __name__="..." matcher. It reads the expression with a small lexer (strings, {matchers},
// [ranges], label lists after by/without/on/ignoring/group_*); the parse itself is promtool's.
func Metrics(expr string) ([]string, error) {
	var names []string
	s := expr
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '{':
			end, err := closeBrace(s, i)
			if err != nil {
				return nil, err
			}
			if n := nameMatcher(s[i+1 : end-1]); n != "" {
				names = append(names, n)
			}
			i = end
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ in %q", expr)
			}
			i += end + 1
		case c == '#':
			// a comment runs to the end of the line
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				end = len(s) - i
			}
			i += end
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			// numbers and durations: 1e12, 0x1f, 5m, 1h30m, .5
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				if (s[i] == 'e' || s[i] == 'E') && i+1 < len(s) && (s[i+1] == '+' || s[i+1] == '-') {
					i++
				}
				i++
			}
		case isIdentStart(c):
			start := i
			for i < len(s) && isIdent(s[i]) {
				i++
			}
			word := s[start:i]
			next := skipSpace(s, i)
			// A call, or an aggregation with its grouping first: sum by (site) (…).
			call := next < len(s) && s[next] == '(' || groupingFollows(s[next:])
			lower := strings.ToLower(word)
			switch {
			case labelLists[lower] && call:
				end := strings.IndexByte(s[next:], ')')
				if end < 0 {
					return nil, fmt.Errorf("unclosed ( after %s in %q", word, expr)
				}
				i = next + end + 1
			case call, keywords[lower]:
				// a function or aggregation, or an operator word
			default:
				names = append(names, word)
			}
		default:
			i++
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

var nameMatcherRe = regexp.MustCompile(`(?:^|,)\s*__name__\s*=\s*"([^"]*)"`)

func nameMatcher(matchers string) string {
	if m := nameMatcherRe.FindStringSubmatch(matchers); m != nil {
		return m[1]
	}
	return ""
}

// closeBrace returns the index after the } that closes the { at i, skipping quoted label values.
func closeBrace(s string, i int) (int, error) {
	for j := i + 1; j < len(s); {
		switch s[j] {
		case '"', '\'', '`':
			end, err := skipString(s, j)
			if err != nil {
				return 0, err
			}
			j = end
		case '}':
			return j + 1, nil
		default:
			j++
		}
	}
	return 0, fmt.Errorf("unclosed { in %q", s)
}

func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unclosed string in %q", s)
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func groupingFollows(s string) bool {
	for _, kw := range []string{"by", "without"} {
		if len(s) > len(kw) && strings.EqualFold(s[:len(kw)], kw) {
			if rest := skipSpace(s, len(kw)); rest < len(s) && s[rest] == '(' {
				return true
			}
		}
	}
	return false
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdent(c byte) bool      { return isIdentStart(c) || isDigit(c) }
