package inventory

import (
	"fmt"
	"testing"
	"time"
)

func benchInventory(b *testing.B, n int) (*Inventory, []string) {
	inv := New(Options{})
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("10.%d.%d.%d:4028", i>>16&255, i>>8&255, i&255)
		inv.Observe(addrs[i], Facts{Protocol: CGMiner, Port: 4028, Family: "antminer", Model: "Antminer S19 Pro", Firmware: "stock"}, t0)
	}
	return inv, addrs
}

// What a probe of a known miner costs the inventory: a Get before it talks to the miner, an
// Observe of the same facts after (100,000 records).
func BenchmarkProbeReadWrite(b *testing.B) {
	inv, addrs := benchInventory(b, 100_000)
	f := Facts{Protocol: CGMiner, Port: 4028, Family: "antminer", Model: "Antminer S19 Pro", Firmware: "stock", MAC: ""}
	now := time.Now()
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := inv.Get(addrs[i%len(addrs)]); !ok {
				b.Fatal("missing")
			}
			i += 7919
		}
	})
	b.Run("observe", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			inv.Observe(addrs[i%len(addrs)], f, now)
			i += 7919
		}
	})
	b.Run("get+observe/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				a := addrs[i%len(addrs)]
				inv.Get(a)
				inv.Observe(a, f, now)
				i += 7919
			}
		})
	})
}

// New miners into a full inventory: each pays its share of an eviction.
func BenchmarkObserveFull(b *testing.B) {
	const max = 100_000
	inv := New(Options{MaxRecords: max})
	for i := range max {
		inv.Observe(fmt.Sprintf("10.%d.%d.%d:4028", i>>16&255, i>>8&255, i&255), Facts{Protocol: CGMiner}, t0.Add(time.Duration(i)))
	}
	addrs := make([]string, 1<<16)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("172.16.%d.%d:4028", i>>8&255, i&255)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		inv.Observe(addrs[i%len(addrs)], Facts{Protocol: CGMiner}, t0.Add(time.Duration(max+i)))
		i++
	}
	if inv.Len() > max {
		b.Fatalf("%d records over the cap", inv.Len())
	}
}

// Writing and reading the file of 100,000 miners.
func BenchmarkSaveLoad(b *testing.B) {
	inv, _ := benchInventory(b, 100_000)
	inv.o.File = b.TempDir() + "/inv.json"
	b.Run("save", func(b *testing.B) {
		for b.Loop() {
			if err := inv.Save(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			back := New(Options{File: inv.o.File})
			if err := back.Load(); err != nil || back.Len() != 100_000 {
				b.Fatal(err, back.Len())
			}
		}
	})
}
