package wallet

import (
	"fmt"
	"log/slog"
)

// redactedText replaces a secret wherever it would be printed.
const redactedText = "[redacted]"

// redacted is embedded in every type that holds key material (Mnemonic,
// OwnerKey, NodeKey). Its methods are promoted to the outer type, so fmt
// (every verb, %#v included), slog and encoding (text and JSON) all see
// "[redacted]" and never the value.
type redacted struct{}

// String implements fmt.Stringer.
func (redacted) String() string { return redactedText }

// GoString implements fmt.GoStringer.
func (redacted) GoString() string { return redactedText }

// Format implements fmt.Formatter so that no verb (%x and %d included,
// which would otherwise print the fields) shows the value.
func (redacted) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redactedText)) }

// LogValue implements slog.LogValuer.
func (redacted) LogValue() slog.Value { return slog.StringValue(redactedText) }

// MarshalText implements encoding.TextMarshaler (and so JSON) without the
// value: key material is never serialised by accident. There is no
// UnmarshalText: secrets are read back only through their parsers.
func (redacted) MarshalText() ([]byte, error) { return []byte(redactedText), nil }

// Key material sits behind a closure (func() *T) rather than in a plain
// field. fmt prints a struct's unexported fields by reflection without
// calling their methods, and a pointer field printed with a verb it does
// not support (%s) is dumped with its contents; a func value prints only as
// an address, and reflection cannot look inside a closure. So a secret
// stays hidden even when a caller keeps it in an unexported field of its
// own struct and prints that.
func hide[T any](v *T) func() *T { return func() *T { return v } }

// wipe overwrites b with zeros.
func wipe(b []byte) {
	clear(b)
}
