package worker

import (
	"fmt"
	"log/slog"
)

// redacted replaces a secret wherever it would be printed.
const redacted = "[redacted]"

// Secret is a string that never prints itself: fmt (every verb), slog and
// encoding (text and JSON) all see "[redacted]". Reveal returns the value.
type Secret string

// Reveal returns the secret value. Call it only where the value is used,
// never to print it.
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s == "" }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return `worker.Secret("` + redacted + `")` }

// Format implements fmt.Formatter so that no verb (including %d or %x,
// which would bypass String) prints the value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements encoding.TextMarshaler (and so JSON) without the
// value: a Secret is never serialised by accident.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
