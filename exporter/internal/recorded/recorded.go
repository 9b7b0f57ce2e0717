// Package recorded builds cgminer replies from recorded bytes, for the exporter's golden tests and
// benchmarks: what the client does with a miner's answer, without a miner. It uses only the
// cgminer package's public API; a test holds Split equal to what the client itself makes of the
// same bytes over loopback.
package recorded

import "github.com/minefarm/cgminer-stack/exporter/cgminer"

// Reply wraps one decoded reply body as the client does.
func Reply(cmd string, body cgminer.Value, rep cgminer.Repair) *cgminer.Reply {
	return &cgminer.Reply{Command: cmd, Body: body, Status: cgminer.StatusOf(body), Repairs: rep}
}

// Split splits a recorded reply to a joined request ({"summary":[{…}],"pools":[{…}],"id":1}) into
// one reply per command, as the client does: each command's one-element array (or an object in
// its place), commands absent or empty skipped. ok is false when the reply is not keyed by command
// (it has a STATUS of its own, or none of cmds).
func Split(top cgminer.Value, cmds []cgminer.Command, rep cgminer.Repair) (map[string]*cgminer.Reply, bool) {
	if _, hasStatus := top.Lookup("STATUS"); hasStatus {
		return nil, false
	}
	out := make(map[string]*cgminer.Reply, len(cmds))
	for _, c := range cmds {
		v, ok := top.Lookup(c.String())
		if !ok {
			continue
		}
		body := v
		if v.Kind() == cgminer.Array {
			if len(v.Elems()) == 0 {
				continue
			}
			body = v.Elems()[0]
		}
		if body.Kind() != cgminer.Object {
			continue
		}
		out[c.String()] = Reply(c.String(), body, rep)
	}
	return out, len(out) > 0
}
