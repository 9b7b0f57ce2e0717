package webapi

// Secret is a password or a login token: it prints, logs and marshals as "<secret>", so no
// config dump, log line, debug page or error message can show it. Reveal gives its value to the
// one place that sends it.
type Secret string

// SecretMask is what a Secret shows instead of itself.
const SecretMask = "<secret>"

// String hides the secret (fmt's %s, %v and %q use it; so does slog's text handler).
func (s Secret) String() string { return SecretMask }

// GoString hides the secret from %#v.
func (s Secret) GoString() string { return SecretMask }

// MarshalYAML hides the secret (GET /config); an empty one stays empty.
func (s Secret) MarshalYAML() (any, error) {
	if s == "" {
		return "", nil
	}
	return SecretMask, nil
}

// MarshalText hides the secret from encoding/json and slog's JSON handler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(SecretMask), nil }

// Reveal is the secret's value.
func (s Secret) Reveal() string { return string(s) }
