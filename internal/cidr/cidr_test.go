package cidr

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestPrefix(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{in: " 10.1.2.3/8 ", want: "10.0.0.0/8"}, // masked
		{in: "10.0.0.5", want: "10.0.0.5/32"},
		{in: "::ffff:10.0.0.5", want: "10.0.0.5/32"}, // mapped IPv6 read as IPv4
		{in: "fd00::/8", want: "fd00::/8"},
		{in: "10.0.0.0/33", err: "line 1: \"10.0.0.0/33\" is not a CIDR range"},
		{in: "farm.example", err: "line 1: \"farm.example\" is not a CIDR range or an address"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var p Prefix
			err := yaml.Unmarshal([]byte(`"`+tc.in+`"`), &p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || p.String() != tc.want {
				t.Fatalf("%q read as %v (%v), want %s", tc.in, p, err, tc.want)
			}
			out, err := yaml.Marshal(p)
			if err != nil || strings.TrimSpace(string(out)) != tc.want {
				t.Fatalf("written as %q (%v), want %s", out, err, tc.want)
			}
		})
	}
}
