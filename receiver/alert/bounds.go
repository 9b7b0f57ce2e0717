package alert

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
)

// Bounds of one alert. The webhook body is already bounded (webhook.max_body_bytes), but within
// it one alert could carry megabytes that are stored on its problem, hashed into its key, shown on
// every board card and sent in notifications.
//
// A label is identity: one over a bound rejects the alert (cutting it would merge different
// problems into one key). An annotation is text: one over the bound is cut on a rune boundary and
// marked, extra annotations are dropped. A URL or fingerprint over its bound is dropped.
const (
	// MaxLabels bounds an alert's labels (the receiver's own rules carry at most a dozen).
	MaxLabels = 64
	// MaxLabelName bounds a label or annotation name, which must also be a Prometheus label name
	// ([a-zA-Z_][a-zA-Z0-9_]*): identity labels become PromQL matchers when a repair is verified.
	MaxLabelName = 128
	// MaxLabelValue bounds a label value (bytes of UTF-8).
	MaxLabelValue = 1024
	// MaxAnnotations bounds an alert's annotations; past it summary, description and runbook_url
	// are kept first, then the others in name order.
	MaxAnnotations = 32
	// MaxAnnotationValue bounds an annotation (bytes, TruncatedMarker included).
	MaxAnnotationValue = 8192
	// MaxURL bounds generatorURL and the message's externalURL (both are links on the task page).
	MaxURL = 2048
	// MaxFingerprint bounds the fingerprint (Alertmanager's are 16 hex digits).
	MaxFingerprint = 64
	// TruncatedMarker ends an annotation that was cut.
	TruncatedMarker = "…(truncated)"

	// maxNote bounds a rejection reason or trim note (logged and answered).
	maxNote = 256
)

// keep are the annotations kept first when an alert has too many.
var keep = []string{"summary", "description", "runbook_url"}

// checkLabels refuses labels over the bounds (count, name length and syntax, value length, UTF-8).
func checkLabels(kv template.KV) error {
	if len(kv) > MaxLabels {
		return fmt.Errorf("%d labels; at most %d", len(kv), MaxLabels)
	}
	for _, n := range kv.Names() { // sorted: the same alert always gives the same reason
		v := kv[n]
		switch {
		case len(n) > MaxLabelName:
			return fmt.Errorf("label %q: name of %d bytes; at most %d", clip(n, 32), len(n), MaxLabelName)
		case !model.LegacyValidation.IsValidLabelName(n):
			return fmt.Errorf("label %q: not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)", clip(n, 32))
		case len(v) > MaxLabelValue:
			return fmt.Errorf("label %q: value of %d bytes; at most %d", n, len(v), MaxLabelValue)
		case !utf8.ValidString(v):
			return fmt.Errorf("label %q: value is not UTF-8", n)
		}
	}
	return nil
}

// boundAnnotations copies the annotations within the bounds and says what it changed.
func boundAnnotations(kv template.KV) (map[string]string, []string) {
	var trims []string
	names := kv.Names()
	if len(names) > MaxAnnotations {
		slices.SortStableFunc(names, func(a, b string) int {
			return rank(a) - rank(b)
		})
	}
	out := make(map[string]string, min(len(names), MaxAnnotations))
	dropped := 0
	for _, n := range names {
		v := kv[n]
		if len(n) > MaxLabelName || !model.LegacyValidation.IsValidLabelName(n) {
			trims = append(trims, fmt.Sprintf("annotation %q: invalid name, dropped", clip(n, 32)))
			continue
		}
		if len(out) == MaxAnnotations {
			dropped++
			continue
		}
		if !utf8.ValidString(v) {
			v = strings.ToValidUTF8(v, "\uFFFD")
			trims = append(trims, fmt.Sprintf("annotation %q: not UTF-8, invalid bytes replaced", n))
		}
		if len(v) > MaxAnnotationValue {
			trims = append(trims, fmt.Sprintf("annotation %q: %d bytes cut to %d", n, len(v), MaxAnnotationValue))
			v = cut(v, MaxAnnotationValue-len(TruncatedMarker)) + TruncatedMarker
		}
		out[n] = v
	}
	if dropped > 0 {
		trims = append(trims, fmt.Sprintf("%d annotations dropped (at most %d)", dropped, MaxAnnotations))
	}
	return out, trims
}

// rank orders the annotations kept first before the others (stable: name order within).
func rank(n string) int {
	if i := slices.Index(keep, n); i >= 0 {
		return i
	}
	return len(keep)
}

// cut returns the longest prefix of s of at most n bytes that ends on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// clip bounds a string quoted in a reason or a log line.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return cut(s, n) + "…"
}
