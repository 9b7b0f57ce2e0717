package wm3_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unicode/utf8"

	"github.com/minefarm/cgminer-stack/exporter/cgminer"
	"github.com/minefarm/cgminer-stack/exporter/wm3"
)

// frameBudget is the most reading and decoding a stream of n bytes may allocate: the body grows
// with what arrives (at most twice over), the parser in proportion to the body, plus a fixed
// part. A length taken from the header before it is checked, or a buffer sized by it, breaks it.
func frameBudget(n int) uint64 { return uint64(40*n + 256<<10) }

// FuzzReadFrame feeds any byte stream a peer could send on 4433 to ReadFrame and Decode: they
// must never panic, a frame read must be exactly the length announced and within the limit, the
// reply's texts short and valid, an error a known reason, and the work allocate within
// frameBudget. Seeds: the captures framed, and the broken framings of TestHostileFraming.
func FuzzReadFrame(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(frame(b))
			f.Add(frame(b)[:len(b)/2])
		}
	}
	for _, s := range [][]byte{
		{}, {0, 0, 0, 0}, {10, 0}, {0xff, 0xff, 0xff, 0xff},
		binary.LittleEndian.AppendUint32(nil, wm3.MaxFrameBytes+1),
		append([]byte{100, 0, 0, 0}, `{"code":0,`...),
		[]byte("HTTP/1.1 400 Bad Request\r\n\r\n"),
		[]byte(`{"STATUS":[{"STATUS":"E","Code":23}],"id":1}`),
		frame([]byte(`{"code":-4,"msg":"permission denied"}`)),
		frame([]byte(`{"code":0,"desc":"get.miner.status","msg":{}}`)),
		frame([]byte(`{"code":0,"desc":"get.device.info","msg":"ok"}`)),
		frame([]byte(`{"code":1e300,"msg":{}}`)),
	} {
		f.Add(s)
	}
	known := map[cgminer.Reason]bool{cgminer.ReasonEmpty: true, cgminer.ReasonTruncated: true, cgminer.ReasonTooLarge: true,
		cgminer.ReasonMalformed: true, wm3.ReasonNotV3: true}
	f.Fuzz(func(t *testing.T, stream []byte) {
		if len(stream) > 2*wm3.MaxFrameBytes {
			return
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		body, err := wm3.ReadFrame(bytes.NewReader(stream), wm3.MaxFrameBytes)
		var rep *wm3.Reply
		if err == nil {
			if len(stream) < 4 || int(binary.LittleEndian.Uint32(stream)) != len(body) || len(body) > wm3.MaxFrameBytes || len(body) == 0 {
				t.Fatalf("frame of %d bytes from a stream announcing %x", len(body), stream[:min(4, len(stream))])
			}
			rep, err = wm3.Decode(wm3.DeviceInfo, body)
		}
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > frameBudget(len(stream)) {
			t.Fatalf("%d bytes in, %d allocated (budget %d)", len(stream), alloc, frameBudget(len(stream)))
		}
		if err != nil && !known[cgminer.ReasonOf(err)] {
			t.Fatalf("reason %q: %v", cgminer.ReasonOf(err), err)
		}
		if rep != nil {
			if len(rep.Desc) > 64 || len(rep.Text) > 128 || !utf8.ValidString(rep.Desc) || !utf8.ValidString(rep.Text) {
				t.Fatalf("desc %q, text %q", rep.Desc, rep.Text)
			}
			if rep.OK() && (err != nil || rep.Code != 0) {
				t.Fatalf("OK reply with code %d, err %v", rep.Code, err)
			}
		}
	})
}
