package farm

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Secret is a password: it prints, logs and marshals as "<secret>". Reveal gives its value where
// it is used (the HTTP API's Digest check).
type Secret string

const secretMask = "<secret>"

func (s Secret) String() string   { return secretMask }
func (s Secret) GoString() string { return secretMask }

// MarshalText hides the secret from encoding/json and slog.
func (s Secret) MarshalText() ([]byte, error) { return []byte(secretMask), nil }

// Reveal is the secret's value.
func (s Secret) Reveal() string { return string(s) }

// Bounds on the HTTP API's credentials.
const (
	maxUserBytes     = 128
	maxPasswordBytes = 4096
)

// checkCredentials refuses a user name Digest cannot carry (a colon splits HA1, quotes and
// backslashes the header's quoted string) and a password with a NUL or a line break.
func checkCredentials(user string, pw Secret) error {
	if len(user) > maxUserBytes {
		return fmt.Errorf("HTTP user: longer than %d bytes", maxUserBytes)
	}
	for i := 0; i < len(user); i++ {
		if c := user[i]; c < 0x21 || c > 0x7e || c == ':' || c == '"' || c == '\\' {
			return fmt.Errorf("HTTP user %q: printable ASCII without spaces, colons, quotes or backslashes", user)
		}
	}
	p := pw.Reveal()
	if len(p) > maxPasswordBytes || !utf8.ValidString(p) || strings.ContainsAny(p, "\x00\r\n") {
		return fmt.Errorf("HTTP password: at most %d bytes of UTF-8 without NUL or line breaks", maxPasswordBytes)
	}
	return nil
}
