package fakeminer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net"
	"strings"
	"testing"
)

// V3Request is the command of a Whatsminer API v3 request frame as "cmd" or "cmd:param"; "" when
// the bytes are not one frame of {"cmd":…[,"param":…]}.
func V3Request(req []byte) string {
	if len(req) < 4 || int(binary.LittleEndian.Uint32(req)) != len(req)-4 {
		return ""
	}
	var r struct {
		Cmd   string `json:"cmd"`
		Param string `json:"param"`
	}
	if json.Unmarshal(req[4:], &r) != nil || r.Cmd == "" {
		return ""
	}
	if r.Param == "" {
		return r.Cmd
	}
	return r.Cmd + ":" + r.Param
}

// V3Answer is the reply body to a v3 request from recorded replies (keyed "cmd" or "cmd:param"):
// the recording, or for a joined status parameter ("summary+pools+edevs") the parts' msg
// objects merged, as firmware that joins them answers; anything else gets MicroBT's
// invalid-command reply.
func V3Answer(replies map[string][]byte, req string) []byte {
	if r, ok := replies[req]; ok {
		return r
	}
	cmd, param, _ := strings.Cut(req, ":")
	if strings.Contains(param, "+") {
		merged := map[string]json.RawMessage{}
		for _, part := range strings.Split(param, "+") {
			var rep struct {
				Msg map[string]json.RawMessage `json:"msg"`
			}
			if json.Unmarshal(replies[cmd+":"+part], &rep) == nil {
				for k, v := range rep.Msg {
					merged[k] = v
				}
			}
		}
		if len(merged) > 0 {
			msg, _ := json.Marshal(merged)
			var b bytes.Buffer
			b.WriteString(`{"code":0,"desc":"` + cmd + `","msg":`)
			b.Write(msg)
			b.WriteString(`,"when":1}`)
			return b.Bytes()
		}
	}
	return []byte(`{"code":-2,"when":1,"msg":"invalid command","desc":"` + cmd + `"}`)
}

// V3Frame is body as one frame: its length, 4 bytes little-endian, then body.
func V3Frame(body []byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// ServeV3 answers Whatsminer API v3 requests from replies (V3Answer, framed) on addr, one
// request per connection as MicroBT's firmware does.
func ServeV3(t testing.TB, addr string, replies map[string][]byte) net.Listener {
	t.Helper()
	return Listen(t, addr, func(c net.Conn, req []byte) {
		_, _ = c.Write(V3Frame(V3Answer(replies, V3Request(req))))
	})
}
