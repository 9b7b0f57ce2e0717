package collector

import (
	"bufio"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

type sample struct {
	d  *def
	t  prometheus.ValueType
	v  float64
	lv []string
}

// WriteText writes the probe's metrics in the Prometheus text format (version 0.0.4), exactly as
// a registry gathering the Probe would, without a registry's allocations: /probe serves tens of
// thousands of these a minute. A test holds the two outputs equal for every capture.
func (p *Probe) WriteText(w io.Writer) error {
	samples := make([]sample, 0, 128)
	p.walk(func(d *def, t prometheus.ValueType, v float64, lv []string) {
		samples = append(samples, sample{d, t, v, lv})
	})
	sort.SliceStable(samples, func(i, j int) bool {
		a, b := samples[i], samples[j]
		if a.d.name != b.d.name {
			return a.d.name < b.d.name
		}
		return lessLabels(a, b)
	})
	bw := bufio.NewWriterSize(w, 8192)
	var prev *def
	for i := range samples {
		s := &samples[i]
		if s.d != prev {
			prev = s.d
			bw.WriteString("# HELP ")
			bw.WriteString(s.d.name)
			bw.WriteByte(' ')
			bw.WriteString(escapeHelp(s.d.help))
			bw.WriteString("\n# TYPE ")
			bw.WriteString(s.d.name)
			if s.t == prometheus.CounterValue {
				bw.WriteString(" counter\n")
			} else {
				bw.WriteString(" gauge\n")
			}
		}
		bw.WriteString(s.d.name)
		if len(s.lv) > 0 {
			names, order := s.d.sortedNames, s.d.order
			bw.WriteByte('{')
			for k, idx := range order {
				if k > 0 {
					bw.WriteByte(',')
				}
				bw.WriteString(names[k])
				bw.WriteString(`="`)
				writeLabelValue(bw, s.lv[idx])
				bw.WriteByte('"')
			}
			bw.WriteByte('}')
		}
		bw.WriteByte(' ')
		bw.WriteString(formatFloat(s.v))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// sortedLabels returns a metric's label names sorted and, for each, its position in the values.
func sortedLabels(labels []string) ([]string, []int) {
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return labels[order[a]] < labels[order[b]] })
	names := make([]string, len(order))
	for k, i := range order {
		names[k] = labels[i]
	}
	return names, order
}

// lessLabels orders samples of one metric as client_golang does: by label values, taken in the
// order of the sorted label names.
func lessLabels(a, b sample) bool {
	for _, i := range a.d.order {
		if a.lv[i] != b.lv[i] {
			return a.lv[i] < b.lv[i]
		}
	}
	return false
}

func escapeHelp(s string) string {
	if !strings.ContainsAny(s, "\\\n") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func writeLabelValue(w *bufio.Writer, v string) {
	if !strings.ContainsAny(v, "\\\"\n") {
		w.WriteString(v)
		return
	}
	w.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v))
}

func formatFloat(f float64) string {
	switch {
	case f == 1:
		return "1"
	case f == 0:
		return "0"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
