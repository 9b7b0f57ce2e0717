package farm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// A small API v3 client of the test's own (not the exporter's): one frame out, one frame in.

// v3Exchange sends body as one frame to addr and reads the reply frame's body. It fails the
// test on a frame above MicroBT's 1 MiB cap or one cut short.
func v3Exchange(t *testing.T, addr string, body []byte) []byte {
	t.Helper()
	raw, err := v3Try(addr, appendV3Frame(nil, body))
	if err != nil {
		t.Fatalf("%s %s: %v", addr, body, err)
	}
	return raw
}

var errNoFrame = errors.New("no reply frame")

// v3Try writes req as is and reads one reply frame.
func v3Try(addr string, req []byte) ([]byte, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write(req); err != nil {
		return nil, err
	}
	var hdr [4]byte
	if n, err := io.ReadFull(conn, hdr[:]); err != nil {
		if n == 0 {
			return nil, errNoFrame
		}
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n == 0 || n > maxV3Frame {
		return nil, errors.New("frame length out of bounds")
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(conn, body); err != nil {
		return nil, err
	}
	if extra, _ := conn.Read(make([]byte, 1)); extra != 0 {
		return nil, errors.New("bytes after the reply frame")
	}
	return body, nil
}

// v3Reply is a reply envelope, msg kept raw.
type v3Reply struct {
	Code int64           `json:"code"`
	Desc string          `json:"desc"`
	Msg  json.RawMessage `json:"msg"`
	When int64           `json:"when"`
}

func v3Ask(t *testing.T, addr, req string) v3Reply {
	t.Helper()
	raw := v3Exchange(t, addr, []byte(req))
	var r v3Reply
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("%s: reply %s: %v", req, raw, err)
	}
	return r
}

// obj decodes a JSON object.
func obj(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return m
}

func (r v3Reply) msg(t *testing.T) map[string]any {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("code %d, msg %s", r.Code, r.Msg)
	}
	return obj(t, r.Msg)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func minerOf(t *testing.T, f *Farm, key string) *Miner {
	t.Helper()
	for _, m := range f.Miners() {
		if m.model.Key == key {
			return m
		}
	}
	t.Fatalf("no %s in the farm", key)
	return nil
}

func v3Addr(t *testing.T, m *Miner) string {
	t.Helper()
	addr, ok := m.EndpointOf(ProtocolWhatsminerV3)
	if !ok {
		t.Fatalf("%s serves no API v3", m.model.Key)
	}
	return addr
}

// TestV3Commands: the get.* commands with their parameters, and the error codes for everything
// else, over loopback.
func TestV3Commands(t *testing.T) {
	clock := newFakeClock()
	f := startFarm(t, "127.66.0.0/28", "m60s=1", 1, clock)
	m := f.Miners()[0]
	addr := v3Addr(t, m)
	if m.Endpoint() != addr {
		t.Errorf("Endpoint %s, want the API v3 address %s for a model without the cgminer API", m.Endpoint(), addr)
	}
	if c, err := net.DialTimeout("tcp", m.endpoint(apiCGMiner), time.Second); err == nil {
		c.Close()
		t.Errorf("an API v3-only model answers on the cgminer port %d", f.Port())
	}

	info := v3Ask(t, addr, `{"cmd":"get.device.info"}`)
	if info.Desc != "get.device.info" || info.When != clock.Now().Unix() {
		t.Errorf("envelope desc %q when %d", info.Desc, info.When)
	}
	all := info.msg(t)
	if got := keys(all); !slices.Equal(got, v3Sections) {
		t.Errorf("device info parts %v, want %v", got, v3Sections)
	}
	mi := all["miner"].(map[string]any)
	if mi["type"] != "M60S_VK40" || mi["working"] != "true" || mi["board-num"] != "3" || len(mi["miner-sn"].(string)) != 33 {
		t.Errorf("miner %v", mi)
	}
	if n := len(all["error-code"].([]any)); n != 0 {
		t.Errorf("a healthy miner lists %d error codes", n)
	}
	if mac := all["network"].(map[string]any)["mac"].(string); len(mac) != 17 || !strings.HasPrefix(mac, "CE:02:01:") {
		t.Errorf("mac %q", mac)
	}
	for _, part := range v3Sections {
		one := v3Ask(t, addr, `{"cmd":"get.device.info","param":"`+part+`"}`).msg(t)
		if got := keys(one); len(got) != 1 || got[0] != part {
			t.Errorf("param %s: parts %v", part, got)
		}
	}

	st := v3Ask(t, addr, `{"cmd":"get.miner.status","param":"summary+pools+edevs"}`).msg(t)
	if got := keys(st); !slices.Equal(got, []string{"edevs", "pools", "summary"}) {
		t.Fatalf("status parts %v", got)
	}
	sum := st["summary"].(map[string]any)
	if h, nominal := sum["hash-realtime"].(float64), m.model.NominalGHS/1000; h < 0.9*nominal || h > 1.1*nominal {
		t.Errorf("hash-realtime %v TH/s, nominal %v", h, nominal)
	}
	pools := st["pools"].([]any)
	if len(pools) != 3 {
		t.Fatalf("%d pools", len(pools))
	}
	p0 := pools[0].(map[string]any)
	if p0["url"] != PoolURL || p0["account"] != PoolUser(m.addr.String()) || p0["stratum-active"] != true || p0["status"] != "alive" {
		t.Errorf("pool 0 %v", p0)
	}
	edevs := st["edevs"].([]any)
	if len(edevs) != 3 {
		t.Fatalf("%d edevs", len(edevs))
	}
	for i, e := range edevs {
		d := e.(map[string]any)
		if d["slot"] != float64(i) || d["effective-chips"] != float64(m.model.Chips) || d["hash-average"].(float64) <= 0 {
			t.Errorf("edevs[%d] %v", i, d)
		}
	}
	if got := keys(v3Ask(t, addr, `{"cmd":"get.miner.status","param":"pools+pools"}`).msg(t)); !slices.Equal(got, []string{"pools"}) {
		t.Errorf("pools+pools: %v", got)
	}
	if set := v3Ask(t, addr, `{"cmd":"get.miner.setting"}`).msg(t); set["power-mode"] != "normal" {
		t.Errorf("setting %v", set)
	}

	long := strings.Repeat("x", 1000)
	refusals := []struct {
		name, req string
		code      int64
		desc      string
	}{
		{"unknown command", `{"cmd":"get.bogus"}`, v3InvalidCmd, "get.bogus"},
		{"the legacy API's request", `{"command":"summary"}`, v3InvalidCmd, ""},
		{"cmd not a string", `{"cmd":7}`, v3InvalidJSON, ""},
		{"not JSON", `summary|`, v3InvalidJSON, ""},
		{"two objects", `{"cmd":"get.miner.setting"}{}`, v3InvalidJSON, ""},
		{"set without a token", `{"cmd":"set.miner.power_mode","param":"low"}`, v3NoPermission, "set.miner.power_mode"},
		{"set with a token", `{"cmd":"set.system.reboot","ts":1700000000,"account":"super","token":"AAAAAAAA"}`, v3NoPermission, "set.system.reboot"},
		{"set with an object param", `{"cmd":"set.miner.pools","param":[{"pool":"stratum+tcp://evil.example:3333"}]}`, v3NoPermission, "set.miner.pools"},
		{"device info, unknown part", `{"cmd":"get.device.info","param":"bogus"}`, v3InvalidJSON, "get.device.info"},
		{"device info, param not a string", `{"cmd":"get.device.info","param":{"a":1}}`, v3InvalidJSON, "get.device.info"},
		{"status without a part", `{"cmd":"get.miner.status"}`, v3InvalidJSON, "get.miner.status"},
		{"status, unknown part", `{"cmd":"get.miner.status","param":"summary+bogus"}`, v3InvalidJSON, "get.miner.status"},
		{"long command echoed cut", `{"cmd":"` + long + `"}`, v3InvalidCmd, long[:maxEcho]},
		{"invalid UTF-8 echoed valid", "{\"cmd\":\"get.\xff\"}", v3InvalidCmd, "get.\uFFFD"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			r := v3Ask(t, addr, tc.req)
			var text string
			if err := json.Unmarshal(r.Msg, &text); err != nil || text == "" {
				t.Errorf("error msg %s is not a string", r.Msg)
			}
			if r.Code != tc.code || r.Desc != tc.desc {
				t.Errorf("code %d desc %q, want %d %q", r.Code, r.Desc, tc.code, tc.desc)
			}
		})
	}
}

// TestV3ShapeFollowsCaptures: the replies have the captures' keys, part by part, written sorted
// at every level as the captures are.
func TestV3ShapeFollowsCaptures(t *testing.T) {
	f := startFarm(t, "127.66.0.16/28", "m60s=1", 1, newFakeClock())
	addr := v3Addr(t, f.Miners()[0])
	capture := func(name string) map[string]any {
		b, err := os.ReadFile("testdata/whatsminer-v3/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return obj(t, b)
	}
	ask := func(req string) map[string]any {
		raw := v3Exchange(t, addr, []byte(req))
		if err := sortedKeys(raw); err != nil {
			t.Errorf("%s: %v", req, err)
		}
		return obj(t, raw)
	}
	tests := []struct {
		name, capture, req string
		path               []string // parts of msg whose keys are compared
	}{
		{"device info", "m60s-vk40-20251209.16.rel2_get.device.info+error-code_sorted.json", `{"cmd":"get.device.info"}`,
			[]string{"", "miner", "network", "power", "system", "error-code"}},
		{"summary", "m60s-vk40-20251209.16.rel2_get.miner.status-summary_sorted_edited.json", `{"cmd":"get.miner.status","param":"summary"}`,
			[]string{"", "summary"}},
		{"pools", "m60s-vk40-20251209.16.rel2_get.miner.status-pools_sorted_anonymized.json", `{"cmd":"get.miner.status","param":"pools"}`,
			[]string{"", "pools"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, got := capture(tc.capture), ask(tc.req)
			if !slices.Equal(keys(got), keys(want)) {
				t.Errorf("envelope keys %v, capture %v", keys(got), keys(want))
			}
			wm, gm := want["msg"].(map[string]any), got["msg"].(map[string]any)
			for _, part := range tc.path {
				w, g := any(wm), any(gm)
				if part != "" {
					w, g = wm[part], gm[part]
				}
				wk, gk := shapeKeys(w), shapeKeys(g)
				if part == "error-code" {
					continue // a healthy miner has none; TestV3FaultCodes reads their shape
				}
				if !slices.Equal(gk, wk) {
					t.Errorf("msg.%s keys\n got %v\nwant %v", part, gk, wk)
				}
			}
		})
	}
}

// shapeKeys are an object's keys, or those of an array's first object.
func shapeKeys(v any) []string {
	switch x := v.(type) {
	case map[string]any:
		return keys(x)
	case []any:
		if len(x) > 0 {
			return shapeKeys(x[0])
		}
	}
	return nil
}

// sortedKeys checks that every object in raw has its keys in ascending order.
func sortedKeys(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	type frame struct {
		obj  bool
		last string
		key  bool // the next string token of an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{obj: v == '{', key: true})
				continue
			case '}', ']':
				stack = stack[:len(stack)-1]
				continue
			}
		case string:
			if top != nil && top.obj && top.key {
				if v < top.last {
					return errors.New("key " + v + " after " + top.last)
				}
				top.last, top.key = v, false
				continue
			}
		}
		if top != nil && top.obj {
			top.key = true
		}
	}
}

// TestV3FramesBounded: a request frame is read only within its bound, a reply is one frame of
// exactly its announced length under 1 MiB, and what is not a frame gets no reply.
func TestV3FramesBounded(t *testing.T) {
	clock := newFakeClock()
	f := startFarmWith(t, "127.66.0.32/28", "m60s=1", 1, clock, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	m := f.Miners()[0]
	addr := v3Addr(t, m)
	frame := func(n uint32, body string) []byte {
		b := binary.LittleEndian.AppendUint32(nil, n)
		return append(b, body...)
	}
	unanswered := []struct {
		name string
		req  []byte
	}{
		{"length 4 GiB", frame(0xffffffff, `{"cmd":"get.device.info"}`)},
		{"length above the request bound", frame(maxV3Request+1, `{"cmd":"get.device.info"}`)},
		{"length 0", frame(0, "")},
		{"the legacy API's request", []byte(`{"command":"summary"}`)},
		{"body cut short", frame(100, `{"cmd":"get.dev`)},
		{"length cut short", []byte{0x20, 0}},
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, tc := range unanswered {
		t.Run(tc.name, func(t *testing.T) {
			if raw, err := v3Try(addr, tc.req); err == nil {
				t.Errorf("answered %s", raw)
			} else if !errors.Is(err, errNoFrame) && !errors.Is(err, io.EOF) {
				t.Errorf("want the connection closed unanswered, got %v", err)
			}
		})
	}
	// The announced lengths are refused before anything is allocated for them: the whole run
	// allocates far less than one 4 GiB or 16 KiB+1 body per request would.
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("unanswered frames allocated %d bytes", grew)
	}
	// Every fault at once: the largest device info there is.
	for fl := Fault(0); fl < numFaults; fl++ {
		switch fl {
		case Offline, Hang, Slow, Garbage, Truncated:
			continue
		}
		if _, err := m.SetFault(fl); err != nil {
			t.Fatal(err)
		}
	}
	raw := v3Exchange(t, addr, []byte(`{"cmd":"get.device.info"}`))
	if len(raw) > 64<<10 {
		t.Errorf("device info with every fault is %d bytes", len(raw))
	}
	if err := json.Unmarshal(raw, new(map[string]any)); err != nil {
		t.Errorf("not JSON: %v", err)
	}
}

// TestV3FaultCodes: each fault lists MicroBT's code for it in get.device.info's error-code, with
// the time it was set and a reason, in the capture's shape; clearing it removes the code.
func TestV3FaultCodes(t *testing.T) {
	clock := newFakeClock()
	f := startFarm(t, "127.66.0.48/28", "m60s=1", 1, clock)
	m := f.Miners()[0]
	addr := v3Addr(t, m)
	tests := []struct {
		fault Fault
		codes []string
		check func(t *testing.T, st map[string]any)
	}{
		{FanStopped, []string{"110"}, func(t *testing.T, st map[string]any) {
			if st["summary"].(map[string]any)["fan-speed-in"] != 0.0 {
				t.Errorf("intake fan %v", st["summary"].(map[string]any)["fan-speed-in"])
			}
		}},
		{BoardMissing, []string{"531"}, func(t *testing.T, st map[string]any) {
			for _, e := range st["edevs"].([]any) {
				if e.(map[string]any)["slot"] == 1.0 {
					t.Errorf("the missing board 1 is in edevs")
				}
			}
		}},
		{BoardDead, []string{"540"}, func(t *testing.T, st map[string]any) {
			d := st["edevs"].([]any)[0].(map[string]any)
			if d["effective-chips"] != 0.0 || d["hash-average"] != 0.0 {
				t.Errorf("dead board %v", d)
			}
		}},
		{ChipsFailed, []string{"552"}, func(t *testing.T, st map[string]any) {
			d := st["edevs"].([]any)[2].(map[string]any)
			if d["effective-chips"] != float64(m.model.Chips-failedChips(m.model.Chips)) {
				t.Errorf("board 2 %v", d)
			}
		}},
		{DeviceDead, []string{"560"}, nil},
		{OverheatCritical, []string{"350", "351", "352"}, func(t *testing.T, st map[string]any) {
			if c := st["summary"].(map[string]any)["chip-temp-max"].(float64); c < 100 {
				t.Errorf("chip-temp-max %v", c)
			}
		}},
		{PoolDead, []string{"2020", "2021", "2022"}, func(t *testing.T, st map[string]any) {
			if p := st["pools"].([]any)[0].(map[string]any); p["status"] != "dead" || p["stratum-active"] != false {
				t.Errorf("pool 0 %v", p)
			}
		}},
		{RejectsHigh, []string{"2030"}, nil},
		{HashrateLow, []string{"2310"}, nil},
		{ZeroHashrate, nil, nil},
		{Overheat, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.fault.String(), func(t *testing.T) {
			clock.Advance(time.Minute)
			set := clock.Now()
			if _, err := m.SetFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			clock.Advance(30 * time.Second)
			var got []string
			for _, e := range v3Ask(t, addr, `{"cmd":"get.device.info","param":"error-code"}`).msg(t)["error-code"].([]any) {
				entry := e.(map[string]any)
				if len(entry) != 2 || entry["reason"] == "" {
					t.Errorf("entry %v: want {code: time, reason}", entry)
				}
				for k, v := range entry {
					if k == "reason" {
						continue
					}
					got = append(got, k)
					if v != set.UTC().Format("2006-01-02 15:04:05") {
						t.Errorf("code %s at %v, set at %v", k, v, set)
					}
				}
			}
			if !slices.Equal(got, tc.codes) {
				t.Errorf("codes %v, want %v", got, tc.codes)
			}
			if tc.check != nil {
				tc.check(t, v3Ask(t, addr, `{"cmd":"get.miner.status","param":"summary+pools+edevs"}`).msg(t))
			}
			if _, err := m.ClearFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			if n := len(v3Ask(t, addr, `{"cmd":"get.device.info","param":"error-code"}`).msg(t)["error-code"].([]any)); n != 0 {
				t.Errorf("%d codes after clearing", n)
			}
		})
	}
}

// TestV3Curtailment: power-off is working "false" with nothing hashed; low-power mode says
// power-mode "low" and keeps hashing (at 80 %).
func TestV3Curtailment(t *testing.T) {
	clock := newFakeClock()
	f := startFarm(t, "127.66.0.64/28", "m60s=1,m30s=1", 2, clock)
	m := minerOf(t, f, "m60s")
	addr := v3Addr(t, m)
	nominal := m.model.NominalGHS / 1000
	status := func() (working string, hash float64, mode string) {
		mi := v3Ask(t, addr, `{"cmd":"get.device.info","param":"miner"}`).msg(t)["miner"].(map[string]any)
		sum := v3Ask(t, addr, `{"cmd":"get.miner.status","param":"summary"}`).msg(t)["summary"].(map[string]any)
		set := v3Ask(t, addr, `{"cmd":"get.miner.setting"}`).msg(t)
		return mi["working"].(string), sum["hash-realtime"].(float64), set["power-mode"].(string)
	}
	if _, err := m.SetFault(Sleeping); err != nil {
		t.Fatal(err)
	}
	if w, h, mode := status(); w != "false" || h != 0 || mode != "normal" {
		t.Errorf("powered off: working %s, %v TH/s, mode %s", w, h, mode)
	}
	_, _ = m.ClearFault(Sleeping)
	if _, err := m.SetFault(LowPower); err != nil {
		t.Fatal(err)
	}
	if w, h, mode := status(); w != "true" || mode != "low" || h < 0.7*nominal || h > 0.9*nominal {
		t.Errorf("low power: working %s, %v TH/s of %v, mode %s", w, h, nominal, mode)
	}

	legacy := minerOf(t, f, "m30s")
	if _, ok := legacy.EndpointOf(ProtocolWhatsminerV3); ok {
		t.Errorf("the 2020 M30S serves API v3")
	}
	_, _ = legacy.SetFault(LowPower)
	if raw := rawExchange(t, legacy, `{"command":"summary"}`); !strings.Contains(raw, `"Power Mode":"Low"`) {
		t.Errorf("M30S in low power: %.300s", raw)
	}
}

// TestV3ConnectionFaults: the connection-level faults hit API v3 as they hit the cgminer API.
func TestV3ConnectionFaults(t *testing.T) {
	f := startFarmWith(t, "127.66.0.80/28", "m60s=1", 1, newFakeClock(), func(c *Config) { c.SlowDelay = 5 * time.Second })
	m := f.Miners()[0]
	addr := v3Addr(t, m)
	req := appendV3Frame(nil, []byte(`{"cmd":"get.device.info"}`))
	tests := []struct {
		fault Fault
		check func(t *testing.T, raw []byte, err error)
	}{
		{Offline, func(t *testing.T, _ []byte, err error) {
			var op *net.OpError
			if !errors.As(err, &op) || op.Op != "dial" {
				t.Errorf("want connection refused, got %v", err)
			}
		}},
		{Hang, func(t *testing.T, raw []byte, err error) {
			if err == nil {
				t.Errorf("hanging miner answered %s", raw)
			}
		}},
		{Slow, func(t *testing.T, raw []byte, err error) {
			if err == nil {
				t.Errorf("slow miner answered within the client's 2 s: %s", raw)
			}
		}},
		{Garbage, func(t *testing.T, raw []byte, err error) {
			if err != nil || json.Valid(raw) {
				t.Errorf("want a frame of bytes that are not JSON, got %v %q", err, raw)
			}
		}},
		{Truncated, func(t *testing.T, raw []byte, err error) {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("want a frame cut short, got %v %q", err, raw)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.fault.String(), func(t *testing.T) {
			if _, err := m.SetFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			raw, err := v3Try(addr, req)
			tc.check(t, raw, err)
			if _, err := m.ClearFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			if _, err := v3Try(addr, req); err != nil {
				t.Errorf("after clearing %s: %v", tc.fault, err)
			}
		})
	}
}
