// Package fakeminer answers cgminer API requests from recorded replies, the way cgminer does, for
// the exporter's tests and benchmarks.
package fakeminer

import (
	"bytes"
	"fmt"
	"strings"
)

// InvalidCommand is cgminer's reply to a command it does not have (Code 14, no Description).
const InvalidCommand = `{"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command"}],"id":1}`

// Answer replies to a command from the recorded replies: a single command gets its reply (or
// InvalidCommand), a joined one ("summary+pools") the object cgminer builds, each command's whole
// reply in a one-element array under its name, then "id":1. No trailing NUL.
func Answer(replies map[string][]byte, cmd string) []byte {
	parts := strings.Split(cmd, "+")
	if len(parts) == 1 {
		if r, ok := replies[cmd]; ok {
			return r
		}
		return []byte(InvalidCommand)
	}
	var b bytes.Buffer
	b.WriteString("{")
	for _, p := range parts {
		fmt.Fprintf(&b, "%q:[%s],", p, Answer(replies, p))
	}
	b.WriteString(`"id":1}`)
	return b.Bytes()
}
