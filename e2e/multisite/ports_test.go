package multisite

import (
	mrand "math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// The run's listen ports are distinct, below the kernel's ephemeral range, and never one that
// something already listens on.
func TestFreePort(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	used := map[int]bool{}
	seen := map[int]bool{}
	for range 300 {
		p, err := freePort(r, used)
		if err != nil {
			t.Fatal(err)
		}
		if p < portLow || p >= portHigh {
			t.Fatalf("port %d outside %d-%d", p, portLow, portHigh)
		}
		if seen[p] {
			t.Fatalf("port %d twice", p)
		}
		seen[p] = true
	}
	// Two ports left, one of them held by a listener: the other one, every time.
	held, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(portLow))
	if err != nil {
		t.Skipf("port %d busy: %v", portLow, err)
	}
	defer held.Close()
	for i := 0; i < 20; i++ {
		used := map[int]bool{}
		for p := portLow + 2; p < portHigh; p++ {
			used[p] = true
		}
		p, err := freePort(r, used)
		if err != nil {
			t.Skipf("port %d busy too: %v", portLow+1, err)
		}
		if p != portLow+1 {
			t.Fatalf("got port %d, want %d (%d is held)", p, portLow+1, portLow)
		}
	}
}
