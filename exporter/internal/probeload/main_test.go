package main

import (
	"slices"
	"testing"
)

func TestTargets(t *testing.T) {
	for _, tc := range []struct {
		name, flag string
		n          int
		want       []string
		wantErr    bool
	}{
		{name: "range", flag: "wm3,127.91.1.254:4433", n: 3, want: []string{"127.91.1.254:4433", "127.91.1.255:4433", "127.91.2.0:4433"}},
		{name: "no name", flag: "127.91.1.1:4433", wantErr: true},
		{name: "no port", flag: "wm3,127.91.1.1", wantErr: true},
		{name: "off loopback", flag: "wm3,10.0.0.1:4433", wantErr: true},
		{name: "IPv6", flag: "wm3,[::1]:4433", wantErr: true},
		{name: "leaves loopback", flag: "wm3,127.255.255.255:4433", n: 2, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := targetsFlag{}
			err := f.Set(tc.flag)
			if err == nil && tc.n > 0 {
				var got []string
				got, err = rangeTargets(f["wm3"], tc.n)
				if err == nil && !slices.Equal(got, tc.want) {
					t.Fatalf("targets %v, want %v", got, tc.want)
				}
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
