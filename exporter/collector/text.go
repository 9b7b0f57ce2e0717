package collector

import (
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

type sample struct {
	d  *def
	t  prometheus.ValueType
	v  float64
	lv []string
	// where lv is in the sink's arena
	off, n int
}

// WriteText writes the probe's metrics in the Prometheus text format (version 0.0.4), exactly as
// a registry gathering the Probe would, without a registry's allocations: /probe serves tens of
// thousands of these a minute. A test holds the two outputs equal for every capture.
func (p *Probe) WriteText(w io.Writer) error {
	b := textBuffers.Get().(*[]byte)
	*b = p.AppendText((*b)[:0])
	_, err := w.Write(*b)
	putText(b)
	return err
}

// AppendText appends what WriteText writes to dst: /probe renders into a reused buffer and sends
// it in one write with its length.
func (p *Probe) AppendText(dst []byte) []byte {
	sk := sinkPool.Get().(*sink)
	p.walk(sk)
	samples := sk.sorted()
	var prev *def
	for i := range samples {
		s := &samples[i]
		if s.d != prev {
			prev = s.d
			if s.t == prometheus.CounterValue {
				dst = append(dst, s.d.counterHeader...)
			} else {
				dst = append(dst, s.d.gaugeHeader...)
			}
		}
		dst = append(dst, s.d.name...)
		if len(s.lv) > 0 {
			names, order := s.d.sortedNames, s.d.order
			dst = append(dst, '{')
			for k, idx := range order {
				if k > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, names[k]...)
				dst = append(dst, `="`...)
				dst = appendLabelValue(dst, s.lv[idx])
				dst = append(dst, '"')
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ' ')
		dst = appendFloat(dst, s.v)
		dst = append(dst, '\n')
	}
	// The pool must not keep label values alive.
	clear(sk.samples)
	clear(sk.arena)
	clear(sk.out)
	if cap(sk.samples) <= maxPooledSamples && cap(sk.arena) <= maxPooledLabels {
		sk.samples, sk.arena, sk.out = sk.samples[:0], sk.arena[:0], sk.out[:0]
		sinkPool.Put(sk)
	}
	return dst
}

// Pools for the exposition: buffers beyond the caps (a probe with thousands of series) are left
// to the garbage collector rather than kept.
const (
	maxPooledText    = 64 << 10
	maxPooledSamples = 1024
	maxPooledLabels  = 4096
)

var (
	textBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}
	sinkPool    = sync.Pool{New: func() any { return &sink{samples: make([]sample, 0, 128), arena: make([]string, 0, 256)} }}
)

// sorted returns the samples in exposition order: metrics by name (each metric's rank in name
// order is fixed at init), then by label values. A stable counting sort by rank, then an
// insertion sort of each metric's samples, which the walk emits nearly in order (boards, fans,
// pools by number).
func (s *sink) sorted() []sample {
	in := s.done()
	var count [maxDefs + 1]int
	for i := range in {
		count[in[i].d.rank+1]++
	}
	for r := 1; r <= maxDefs; r++ {
		count[r] += count[r-1]
	}
	out := slices.Grow(s.out[:0], len(in))[:len(in)]
	for i := range in {
		r := in[i].d.rank
		out[count[r]] = in[i]
		count[r]++
	}
	for lo := 0; lo < len(out); {
		hi := lo + 1
		for hi < len(out) && out[hi].d == out[lo].d {
			hi++
		}
		if hi-lo > 32 {
			// Many samples of one metric (a miner with many pools or faults): no quadratic sort.
			slices.SortStableFunc(out[lo:hi], func(a, b sample) int { return compareLabels(&a, &b) })
		} else {
			for i := lo + 1; i < hi; i++ {
				for j := i; j > lo && compareLabels(&out[j-1], &out[j]) > 0; j-- {
					out[j-1], out[j] = out[j], out[j-1]
				}
			}
		}
		lo = hi
	}
	s.out = out
	return out
}

// TextBuffer is a reused buffer for AppendText; PutText gives it back.
func TextBuffer() *[]byte { return textBuffers.Get().(*[]byte) }

// PutText returns a buffer from TextBuffer (one that grew past 64 KiB is dropped).
func PutText(b *[]byte) { putText(b) }

func putText(b *[]byte) {
	if cap(*b) <= maxPooledText {
		*b = (*b)[:0]
		textBuffers.Put(b)
	}
}

// header is a metric's HELP and TYPE lines, made once per metric and type.
func header(name, help, typ string) string {
	return "# HELP " + name + " " + escapeHelp(help) + "\n# TYPE " + name + " " + typ + "\n"
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

// compareLabels orders samples of one metric as client_golang does: by label values, taken in the
// order of the sorted label names.
func compareLabels(a, b *sample) int {
	for _, i := range a.d.order {
		if c := strings.Compare(a.lv[i], b.lv[i]); c != 0 {
			return c
		}
	}
	return 0
}

func escapeHelp(s string) string {
	if !strings.ContainsAny(s, "\\\n") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func appendLabelValue(dst []byte, v string) []byte {
	if !needsEscape(v) {
		return append(dst, v...)
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			dst = append(dst, `\\`...)
		case '"':
			dst = append(dst, `\"`...)
		case '\n':
			dst = append(dst, `\n`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func needsEscape(v string) bool {
	for i := 0; i < len(v); i++ {
		if escaped[v[i]] {
			return true
		}
	}
	return false
}

// escaped marks the bytes a label value escapes.
var escaped = [256]bool{'\\': true, '"': true, '\n': true}

func appendFloat(dst []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(dst, '1')
	case f == 0:
		return append(dst, '0')
	case math.IsInf(f, 1):
		return append(dst, "+Inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-Inf"...)
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}
