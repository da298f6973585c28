package attest

import (
	"crypto/ed25519"
	"crypto/sha512"
)

// QuoteProvider makes a TDX quote whose REPORTDATA is reportData.
type QuoteProvider interface {
	Quote(reportData [64]byte) ([]byte, error)
}

// FakeTDX is the fake-TDX provider of dev mode (spec §6): the quote is
// exactly the 64 report-data bytes, with no header and no cryptography.
// Every measurement of a fake quote is zero, so its image hash is
// [FakeTDXImageHash].
type FakeTDX struct{}

var _ QuoteProvider = FakeTDX{}

// Quote returns a copy of reportData.
func (FakeTDX) Quote(reportData [64]byte) ([]byte, error) {
	q := make([]byte, len(reportData))
	copy(q, reportData[:])
	return q, nil
}

// FakeQuoteSize is the size of a fake-TDX quote: the bare REPORTDATA.
const FakeQuoteSize = 64

// IsFakeQuote reports whether q has the fake-TDX form (exactly 64 bytes).
// Real quotes are far larger, so the length alone decides, as in Cocoon.
func IsFakeQuote(q []byte) bool { return len(q) == FakeQuoteSize }

// ReportData returns the REPORTDATA that binds a quote to an RA-TLS key:
// SHA-512 of the raw 32-byte Ed25519 public key (Cocoon's claims hash, whose
// only claim today is the key).
func ReportData(pub ed25519.PublicKey) [64]byte {
	return sha512.Sum512(pub)
}
