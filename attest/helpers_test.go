package attest

import (
	"crypto/ed25519"
	"crypto/x509/pkix"
	"encoding/hex"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// t0 is the fixed "now" of most tests.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func clockAt(t time.Time) func() time.Time { return func() time.Time { return t } }

// specSeed is the spec §6 test-vector seed: 00 01 … 1f.
func specSeed() []byte {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	return seed
}

func specKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(specSeed()) }

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeCertDER makes a fake-TDX certificate for priv, valid from t0 for a day.
func fakeCertDER(t testing.TB, priv ed25519.PrivateKey) []byte {
	t.Helper()
	c, err := newCertificate(FakeTDX{}, CertOptions{NotBefore: t0}, priv)
	if err != nil {
		t.Fatal(err)
	}
	return c.Certificate[0]
}

// customCertDER makes a certificate for priv, valid from t0 for a day, whose
// extensions are Cocoon's fake-TDX ones passed through edit.
func customCertDER(t testing.TB, priv ed25519.PrivateKey, edit func([]pkix.Extension) []pkix.Extension) []byte {
	t.Helper()
	pub := priv.Public().(ed25519.PublicKey)
	rd := ReportData(pub)
	exts, err := cocoonExtensions(pub, rd[:], []string{"localhost", "127.0.0.1"}, []net.IP{net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		exts = edit(exts)
	}
	der, err := selfSign(priv, t0, t0.Add(DefaultValidity), exts)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// toV1 re-encodes a v3 certificate as Cocoon's OpenSSL code writes it: the
// same TBS without the [0] version field (so X.509 v1) but with the [3]
// extensions, re-signed with priv.
func toV1(t testing.TB, der []byte, priv ed25519.PrivateKey) []byte {
	t.Helper()
	in := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	var sigAlg cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) ||
		!cert.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!cert.ReadASN1Element(&sigAlg, cbasn1.SEQUENCE) {
		t.Fatal("malformed certificate")
	}
	if !tbs.SkipASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) {
		t.Fatal("no [0] version field to remove")
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(tbs) })
	newTBS := b.BytesOrPanic()
	sig := ed25519.Sign(priv, newTBS)

	b = cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(newTBS)
		b.AddBytes(sigAlg)
		b.AddASN1BitString(sig)
	})
	return b.BytesOrPanic()
}

// quoteFunc adapts a function to QuoteProvider.
type quoteFunc func([64]byte) ([]byte, error)

func (f quoteFunc) Quote(rd [64]byte) ([]byte, error) { return f(rd) }
