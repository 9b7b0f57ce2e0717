package recorded_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/internal/fakeminer"
	"github.com/minefarm/cgminer-stack/exporter/internal/recorded"
)

// TestSplitAsTheClient: a recorded joined reply split by Split gives, command by command, the
// replies the client makes of the same bytes when a miner sends them over loopback.
func TestSplitAsTheClient(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/cgminer-api/avalon/avalon-1047_pools+summary+stats.json")
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.TrimRight(raw, "\x00\n")
	cmds := []cgminer.Command{cgminer.Pools, cgminer.Summary, cgminer.Stats}
	ln := fakeminer.Listen(t, "127.0.0.1:0", func(c net.Conn, _ []byte) { _, _ = c.Write(append(raw, 0)) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var client cgminer.Client
	res := client.QueryAll(ctx, ln.Addr().String(), cmds, cgminer.Options{Join: true})
	if !res.Joined {
		t.Fatalf("client did not read a joined reply: %v", res.Err())
	}

	top, rep, err := cgminer.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	parts, ok := recorded.Split(top, cmds, rep)
	if !ok {
		t.Fatal("Split: not a joined reply")
	}
	if len(parts) != len(res.Replies) {
		t.Fatalf("Split gave %d replies, the client %d", len(parts), len(res.Replies))
	}
	for name, want := range res.Replies {
		got := parts[name]
		if got == nil || !got.Body.Equal(want.Body) || got.Command != want.Command || got.Repairs != want.Repairs ||
			!reflect.DeepEqual(got.Status, want.Status) {
			t.Errorf("%s: Split %+v, client %+v", name, got, want)
		}
	}

	// A reply with its own STATUS is no joined reply.
	single, rep, err := cgminer.Decode([]byte(fakeminer.InvalidCommand))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := recorded.Split(single, cmds, rep); ok {
		t.Error("a STATUS reply split as joined")
	}
	if r := recorded.Reply("summary", single, rep); r.OK() || len(r.Status) != 1 || r.Status[0].Code != 14 {
		t.Errorf("Reply of an error: %+v", r)
	}
}
