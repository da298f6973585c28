package attest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
)

// TestParseV1 shows the spec §5 version quirk: a v1 certificate with [3]
// extensions, as Cocoon's OpenSSL code writes it. crypto/x509 accepts it but
// drops every extension; ParseCertificate still finds them all.
func TestParseV1(t *testing.T) {
	priv := specKey()
	v3 := fakeCertDER(t, priv)
	v1 := toV1(t, v3, priv)

	xc, err := x509.ParseCertificate(v1)
	if err != nil {
		t.Fatalf("x509.ParseCertificate(v1): %v", err)
	}
	if xc.Version != 1 || len(xc.Extensions) != 0 || len(xc.UnhandledCriticalExtensions) != 0 {
		t.Fatalf("x509 view of v1: Version %d, %d extensions, %d unhandled; want 1, 0, 0 (the quirk)",
			xc.Version, len(xc.Extensions), len(xc.UnhandledCriticalExtensions))
	}

	want, err := ParseCertificate(v3)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseCertificate(v1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 {
		t.Errorf("Version = %d, want 1", got.Version)
	}
	if len(got.Extensions) != 7 || len(got.Extensions) != len(want.Extensions) {
		t.Fatalf("v1 has %d extensions, want 7 like v3 (%d)", len(got.Extensions), len(want.Extensions))
	}
	for i := range want.Extensions {
		g, w := got.Extensions[i], want.Extensions[i]
		if !g.OID.Equal(w.OID) || g.Critical != w.Critical || string(g.Value) != string(w.Value) {
			t.Errorf("extension %d = %v/%v, want %v/%v", i, g.OID, g.Critical, w.OID, w.Critical)
		}
	}
	if string(got.Quote) != string(want.Quote) || string(got.UserClaims) != string(want.UserClaims) {
		t.Error("v1 quote or user claims differ from v3")
	}
	peer, err := (&Verifier{Now: clockAt(t0), AllowFake: true}).Verify([][]byte{v1})
	if err != nil {
		t.Fatalf("Verify(v1): %v", err)
	}
	if peer.Cert.Version != 1 || !peer.Fake {
		t.Errorf("peer = version %d fake %v, want 1 true", peer.Cert.Version, peer.Fake)
	}
}

func TestParseCertificateErrors(t *testing.T) {
	priv := newKey(t)
	good := fakeCertDER(t, priv)
	// A v1 certificate bypasses crypto/x509's duplicate-extension check.
	dupV1 := toV1(t, customCertDER(t, priv, func(e []pkix.Extension) []pkix.Extension {
		return append(e, pkix.Extension{Id: oidQuote, Critical: true, Value: e[0].Value})
	}), priv)
	tests := []struct {
		name    string
		der     []byte
		wantErr string
	}{
		{"empty", nil, "parse certificate"},
		{"truncated", good[:len(good)/2], "parse certificate"},
		{"trailing data", append(append([]byte(nil), good...), 0), "parse certificate"},
		{"ECDSA key", ecdsaCertDER(t), "want Ed25519"},
		{"oversized quote", customCertDER(t, priv, func(e []pkix.Extension) []pkix.Extension {
			e[0].Value = make([]byte, MaxQuoteSize+1)
			return e
		}), "limit"},
		{"duplicate extension in v1", dupV1, "duplicate extension"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCertificate(tt.der)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseCertificate = %v, %v; want error containing %q", c, err, tt.wantErr)
			}
		})
	}
}

func TestParseCertificateMaxQuote(t *testing.T) {
	priv := newKey(t)
	der := customCertDER(t, priv, func(e []pkix.Extension) []pkix.Extension {
		e[0].Value = make([]byte, MaxQuoteSize)
		return e
	})
	c, err := ParseCertificate(der)
	if err != nil {
		t.Fatalf("quote of exactly MaxQuoteSize: %v", err)
	}
	if len(c.Quote) != MaxQuoteSize {
		t.Errorf("quote is %d bytes, want %d", len(c.Quote), MaxQuoteSize)
	}
}

func TestParseCertificateCopiesInput(t *testing.T) {
	der := fakeCertDER(t, newKey(t))
	c, err := ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	want := string(c.Quote)
	for i := range der {
		der[i] = 0
	}
	if string(c.Quote) != want {
		t.Error("Certificate aliases the caller's DER")
	}
}

// ecdsaCertDER is a self-signed P-256 certificate carrying a Cocoon quote
// extension: right shape, wrong key type.
func ecdsaCertDER(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      cocoonSubject,
		NotBefore:    t0,
		NotAfter:     t0.Add(DefaultValidity),
		ExtraExtensions: []pkix.Extension{
			{Id: oidQuote, Critical: true, Value: make([]byte, FakeQuoteSize)},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
