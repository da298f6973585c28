package attest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha1" //nolint:gosec // checks the subjectKeyIdentifier.
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	specPubHex   = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
	specQuoteHex = "ed4242ead4ac69486ebba1694968b592f3cd476b24e813e73b1abeb1aebf8aa07dab554799893a1e66449b6e4bde234aa9a215f92251b7efd377211bbbaca1f9"
)

// TestSpecVector checks the spec §6 vector: seed 00..1f → public key → fake
// quote, both directly and through a certificate.
func TestSpecVector(t *testing.T) {
	priv := specKey()
	pub := priv.Public().(ed25519.PublicKey)
	if got := hex.EncodeToString(pub); got != specPubHex {
		t.Fatalf("public key = %s, want %s", got, specPubHex)
	}
	q, err := FakeTDX{}.Quote(ReportData(pub))
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(q); got != specQuoteHex {
		t.Fatalf("fake quote = %s, want %s", got, specQuoteHex)
	}

	c, err := ParseCertificate(fakeCertDER(t, priv))
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(c.Quote); got != specQuoteHex {
		t.Errorf("certificate quote = %s, want %s", got, specQuoteHex)
	}
	if got := hex.EncodeToString(c.UserClaims); got != specPubHex {
		t.Errorf("certificate user claims = %s, want %s", got, specPubHex)
	}
	if !bytes.Equal(c.PublicKey, pub) {
		t.Errorf("certificate key = %x, want %x", c.PublicKey, pub)
	}
}

func TestFakeTDXQuote(t *testing.T) {
	var rd [64]byte
	rd[0], rd[63] = 1, 2
	q, err := FakeTDX{}.Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(q, rd[:]) {
		t.Errorf("Quote = %x, want the report data %x", q, rd)
	}
	q[0] = 9
	if rd[0] != 1 {
		t.Error("Quote returned memory aliasing its argument")
	}
}

func TestIsFakeQuote(t *testing.T) {
	tests := []struct {
		name string
		n    int
		want bool
	}{
		{"nil", -1, false},
		{"empty", 0, false},
		{"63 bytes", 63, false},
		{"64 bytes", 64, true},
		{"65 bytes", 65, false},
		{"real-quote sized", 4800, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q []byte
			if tt.n >= 0 {
				q = make([]byte, tt.n)
			}
			if got := IsFakeQuote(q); got != tt.want {
				t.Errorf("IsFakeQuote(%d bytes) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

// TestNewCertificateRoundTrip builds a certificate and parses it back with
// both this package and crypto/x509.
func TestNewCertificateRoundTrip(t *testing.T) {
	priv := specKey()
	pub := priv.Public().(ed25519.PublicKey)
	tc, err := newCertificate(FakeTDX{}, CertOptions{Now: clockAt(t0.Add(500 * time.Millisecond))}, priv)
	if err != nil {
		t.Fatal(err)
	}
	if len(tc.Certificate) != 1 || tc.Leaf == nil {
		t.Fatalf("tls.Certificate has %d certificates, Leaf %v; want 1 and set", len(tc.Certificate), tc.Leaf)
	}
	if k, ok := tc.PrivateKey.(ed25519.PrivateKey); !ok || !k.Equal(priv) {
		t.Errorf("PrivateKey = %T, want the Ed25519 key", tc.PrivateKey)
	}

	c, err := ParseCertificate(tc.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != 3 {
		t.Errorf("Version = %d, want 3", c.Version)
	}
	if !c.NotBefore.Equal(t0) || !c.NotAfter.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("validity = %v .. %v, want %v + 24h (truncated to seconds)", c.NotBefore, c.NotAfter, t0)
	}
	if !bytes.Equal(c.Raw, tc.Certificate[0]) {
		t.Error("Raw differs from the DER")
	}

	ski := sha1.Sum(pub) //nolint:gosec // see import.
	wantExts := []struct {
		name     string
		oid      asn1.ObjectIdentifier
		critical bool
		value    []byte // nil: not compared here
	}{
		{"TDX_QUOTA", oidQuote, true, mustHex(t, specQuoteHex)},
		{"TDX_USER_CLAIMS", oidUserClaims, true, pub},
		{"basicConstraints", oidBasicConstraints, true, []byte{0x30, 0x00}},
		{"keyUsage", oidKeyUsage, true, []byte{0x03, 0x02, 0x07, 0x80}},
		{"extKeyUsage", oidExtKeyUsage, true, nil},
		{"subjectKeyIdentifier", oidSubjectKeyID, false, append([]byte{0x04, 0x14}, ski[:]...)},
		{"subjectAltName", oidSubjectAltName, false, nil},
	}
	if len(c.Extensions) != len(wantExts) {
		t.Fatalf("got %d extensions, want %d: %+v", len(c.Extensions), len(wantExts), c.Extensions)
	}
	for i, w := range wantExts {
		got := c.Extensions[i]
		if !got.OID.Equal(w.oid) || got.Critical != w.critical {
			t.Errorf("extension %d = %v critical=%v, want %s %v critical=%v", i, got.OID, got.Critical, w.name, w.oid, w.critical)
		}
		if w.value != nil && !bytes.Equal(got.Value, w.value) {
			t.Errorf("%s value = %x, want %x", w.name, got.Value, w.value)
		}
	}

	// crypto/x509 reads the standard extensions as Cocoon writes them and
	// leaves the two Cocoon OIDs unhandled.
	leaf := tc.Leaf
	checks := []struct {
		name string
		ok   bool
	}{
		{"Version 3", leaf.Version == 3},
		{"positive serial of at most 128 bits", leaf.SerialNumber.Sign() > 0 && leaf.SerialNumber.BitLen() <= 128},
		{"subject", leaf.Subject.String() == "CN=localhost,OU=Security,O=TDLib Development,ST=DUBAI,C=AE"},
		{"self-issued", bytes.Equal(leaf.RawIssuer, leaf.RawSubject)},
		{"Ed25519 signature", leaf.SignatureAlgorithm == x509.PureEd25519},
		{"CA:FALSE", leaf.BasicConstraintsValid && !leaf.IsCA},
		{"keyUsage digitalSignature", leaf.KeyUsage == x509.KeyUsageDigitalSignature},
		{"extKeyUsage server+client", slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})},
		{"subjectKeyId", bytes.Equal(leaf.SubjectKeyId, ski[:])},
		{"no authorityKeyId", len(leaf.AuthorityKeyId) == 0},
		{"DNS SANs", slices.Equal(leaf.DNSNames, []string{"localhost", "127.0.0.1"})},
		{"IP SAN ::1", len(leaf.IPAddresses) == 1 && leaf.IPAddresses[0].Equal(net.IPv6loopback)},
		{"Cocoon OIDs unhandled", len(leaf.UnhandledCriticalExtensions) == 2 &&
			leaf.UnhandledCriticalExtensions[0].Equal(oidQuote) && leaf.UnhandledCriticalExtensions[1].Equal(oidUserClaims)},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("x509 view: %s: failed", ch.name)
		}
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		t.Errorf("self-signature: %v", err)
	}
}

func TestCertOptions(t *testing.T) {
	tests := []struct {
		name          string
		opts          CertOptions
		wantNotBefore time.Time
		wantNotAfter  time.Time
		wantDNS       []string
		wantIPs       int
		wantSAN       bool
	}{
		{
			name:          "NotBefore and Validity",
			opts:          CertOptions{NotBefore: t0, Validity: time.Hour},
			wantNotBefore: t0, wantNotAfter: t0.Add(time.Hour),
			wantDNS: []string{"localhost", "127.0.0.1"}, wantIPs: 1, wantSAN: true,
		},
		{
			name:          "Now clock, sub-second truncated",
			opts:          CertOptions{Now: clockAt(t0.Add(999 * time.Millisecond))},
			wantNotBefore: t0, wantNotAfter: t0.Add(24 * time.Hour),
			wantDNS: []string{"localhost", "127.0.0.1"}, wantIPs: 1, wantSAN: true,
		},
		{
			name:          "custom DNS, default IP",
			opts:          CertOptions{NotBefore: t0, DNSNames: []string{"worker.local"}},
			wantNotBefore: t0, wantNotAfter: t0.Add(24 * time.Hour),
			wantDNS: []string{"worker.local"}, wantIPs: 1, wantSAN: true,
		},
		{
			name:          "no SAN at all",
			opts:          CertOptions{NotBefore: t0, DNSNames: []string{}, IPAddresses: []net.IP{}},
			wantNotBefore: t0, wantNotAfter: t0.Add(24 * time.Hour),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := newCertificate(FakeTDX{}, tt.opts, newKey(t))
			if err != nil {
				t.Fatal(err)
			}
			leaf := tc.Leaf
			if !leaf.NotBefore.Equal(tt.wantNotBefore) || !leaf.NotAfter.Equal(tt.wantNotAfter) {
				t.Errorf("validity = %v .. %v, want %v .. %v", leaf.NotBefore, leaf.NotAfter, tt.wantNotBefore, tt.wantNotAfter)
			}
			if !slices.Equal(leaf.DNSNames, tt.wantDNS) || len(leaf.IPAddresses) != tt.wantIPs {
				t.Errorf("SANs = %v %v, want %v and %d IPs", leaf.DNSNames, leaf.IPAddresses, tt.wantDNS, tt.wantIPs)
			}
			c, err := ParseCertificate(tc.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			hasSAN := slices.ContainsFunc(c.Extensions, func(e Extension) bool { return e.OID.Equal(oidSubjectAltName) })
			if hasSAN != tt.wantSAN {
				t.Errorf("subjectAltName present = %v, want %v", hasSAN, tt.wantSAN)
			}
		})
	}
}

func TestNewCertificateErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		p       QuoteProvider
		opts    CertOptions
		wantErr string
	}{
		{"nil provider", nil, CertOptions{}, "no quote provider"},
		{"provider fails", quoteFunc(func([64]byte) ([]byte, error) { return nil, boom }), CertOptions{}, "make quote: boom"},
		{"empty quote", quoteFunc(func([64]byte) ([]byte, error) { return nil, nil }), CertOptions{}, "empty quote"},
		{"oversized quote", quoteFunc(func([64]byte) ([]byte, error) { return make([]byte, MaxQuoteSize+1), nil }), CertOptions{}, "limit"},
		{"negative validity", FakeTDX{}, CertOptions{Validity: -time.Hour}, "negative validity"},
		{"bad DNS name", FakeTDX{}, CertOptions{DNSNames: []string{"a b"}}, "not printable ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newCertificate(tt.p, tt.opts, newKey(t))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewCertificateFreshKeys(t *testing.T) {
	a, err := NewCertificate(FakeTDX{}, CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCertificate(FakeTDX{}, CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ka := a.PrivateKey.(ed25519.PrivateKey)
	kb := b.PrivateKey.(ed25519.PrivateKey)
	if ka.Equal(kb) {
		t.Error("two NewCertificate calls returned the same key")
	}
	if _, err := (&Verifier{AllowFake: true}).Verify(a.Certificate); err != nil {
		t.Errorf("Verify(NewCertificate) at time.Now: %v", err)
	}
}
