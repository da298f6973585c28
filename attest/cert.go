package attest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // SHA-1 is what OpenSSL's subjectKeyIdentifier "hash" uses; not a security check.
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// DefaultValidity is how long a Cocoon RA-TLS certificate is valid: one day
// (Cocoon regenerates them hourly).
const DefaultValidity = 24 * time.Hour

// MaxQuoteSize caps the quote extension: larger quotes are rejected when a
// certificate is made or parsed, as in Cocoon.
const MaxQuoteSize = 32 << 10

// Cocoon's private extension OIDs (spec §5).
var (
	oidQuote      = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 12345, 1} // TDX_QUOTA
	oidUserClaims = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 12345, 2} // TDX_USER_CLAIMS
)

// Standard extension OIDs this package writes or understands.
var (
	oidSubjectKeyID     = asn1.ObjectIdentifier{2, 5, 29, 14}
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidSubjectAltName   = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidExtKeyUsage      = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidEKUServerAuth    = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}
	oidEKUClientAuth    = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}
)

// cocoonSubject is the subject and issuer Cocoon writes.
var cocoonSubject = pkix.Name{
	Country:            []string{"AE"},
	Province:           []string{"DUBAI"},
	Organization:       []string{"TDLib Development"},
	OrganizationalUnit: []string{"Security"},
	CommonName:         "localhost",
}

// CertOptions tunes [NewCertificate]. The zero value gives Cocoon's defaults.
type CertOptions struct {
	// NotBefore starts the validity window; zero means Now(). It is
	// truncated to whole seconds, as X.509 stores it.
	NotBefore time.Time
	// Validity is the window's length; zero means DefaultValidity (24h).
	Validity time.Duration
	// Now is the clock used when NotBefore is zero; nil means time.Now.
	// Cocoon uses TON-synchronised time here.
	Now func() time.Time
	// DNSNames are the subjectAltName DNS entries; nil means Cocoon's
	// default {"localhost", "127.0.0.1"} (Cocoon writes 127.0.0.1 as a DNS
	// name). A non-nil empty slice means none.
	DNSNames []string
	// IPAddresses are the subjectAltName IP entries; nil means Cocoon's
	// default {::1}. A non-nil empty slice means none.
	IPAddresses []net.IP
}

// NewCertificate makes a fresh Ed25519 key, asks p for a quote over
// SHA-512(public key) and returns a self-signed RA-TLS certificate with its
// key and parsed Leaf. The certificate is X.509 v3 and carries, in this
// order: the quote (1.3.6.1.4.1.12345.1, critical), the user claims = raw
// public key (1.3.6.1.4.1.12345.2, critical), basicConstraints CA:FALSE
// (critical), keyUsage digitalSignature (critical), extKeyUsage serverAuth +
// clientAuth (critical), subjectKeyIdentifier = SHA-1(public key) and
// subjectAltName.
func NewCertificate(p QuoteProvider, opts CertOptions) (tls.Certificate, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("attest: generate Ed25519 key: %w", err)
	}
	return newCertificate(p, opts, priv)
}

// newCertificate is NewCertificate with the key supplied, so tests can use
// the spec's seed vector.
func newCertificate(p QuoteProvider, opts CertOptions, priv ed25519.PrivateKey) (tls.Certificate, error) {
	if p == nil {
		return tls.Certificate{}, errors.New("attest: no quote provider")
	}
	pub, ok := priv.Public().(ed25519.PublicKey)
	if !ok || len(priv) != ed25519.PrivateKeySize {
		return tls.Certificate{}, errors.New("attest: malformed Ed25519 private key")
	}
	quote, err := p.Quote(ReportData(pub))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("attest: make quote: %w", err)
	}
	if len(quote) == 0 {
		return tls.Certificate{}, errors.New("attest: quote provider returned an empty quote")
	}
	if len(quote) > MaxQuoteSize {
		return tls.Certificate{}, fmt.Errorf("attest: quote is %d bytes, more than the %d-byte limit", len(quote), MaxQuoteSize)
	}

	notBefore := opts.NotBefore
	if notBefore.IsZero() {
		now := opts.Now
		if now == nil {
			now = time.Now
		}
		notBefore = now()
	}
	notBefore = notBefore.UTC().Truncate(time.Second)
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultValidity
	}
	if validity < 0 {
		return tls.Certificate{}, fmt.Errorf("attest: negative validity %v", validity)
	}
	dnsNames := opts.DNSNames
	if dnsNames == nil {
		dnsNames = []string{"localhost", "127.0.0.1"}
	}
	ips := opts.IPAddresses
	if ips == nil {
		ips = []net.IP{net.IPv6loopback}
	}

	exts, err := cocoonExtensions(pub, quote, dnsNames, ips)
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := selfSign(priv, notBefore, notBefore.Add(validity), exts)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("attest: parse new certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, nil
}

// cocoonExtensions returns the extensions of a Cocoon certificate in the
// order of the spec §5 table. All of them go into ExtraExtensions: Go would
// otherwise append ExtraExtensions after its own, putting the Cocoon OIDs
// last, and would mark extKeyUsage non-critical.
func cocoonExtensions(pub ed25519.PublicKey, quote []byte, dnsNames []string, ips []net.IP) ([]pkix.Extension, error) {
	ski := sha1.Sum(pub) //nolint:gosec // key identifier, see import.
	exts := []pkix.Extension{
		{Id: oidQuote, Critical: true, Value: quote},
		{Id: oidUserClaims, Critical: true, Value: append([]byte(nil), pub...)},
		{Id: oidBasicConstraints, Critical: true, Value: buildDER(func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(*cryptobyte.Builder) {}) // cA DEFAULT FALSE
		})},
		{Id: oidKeyUsage, Critical: true, Value: buildDER(func(b *cryptobyte.Builder) {
			// BIT STRING with only bit 0 (digitalSignature) set: 7 unused bits.
			b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) { b.AddBytes([]byte{0x07, 0x80}) })
		})},
		{Id: oidExtKeyUsage, Critical: true, Value: buildDER(func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidEKUServerAuth)
				b.AddASN1ObjectIdentifier(oidEKUClientAuth)
			})
		})},
		{Id: oidSubjectKeyID, Value: buildDER(func(b *cryptobyte.Builder) { b.AddASN1OctetString(ski[:]) })},
	}
	if len(dnsNames) > 0 || len(ips) > 0 {
		san, err := marshalSAN(dnsNames, ips)
		if err != nil {
			return nil, err
		}
		exts = append(exts, pkix.Extension{Id: oidSubjectAltName, Value: san})
	}
	return exts, nil
}

// marshalSAN encodes a subjectAltName: dNSName is [2] IA5String and
// iPAddress is [7] OCTET STRING.
func marshalSAN(dnsNames []string, ips []net.IP) ([]byte, error) {
	for _, name := range dnsNames {
		if name == "" {
			return nil, errors.New("attest: empty DNS name")
		}
		for i := 0; i < len(name); i++ {
			if name[i] < 0x21 || name[i] > 0x7e {
				return nil, fmt.Errorf("attest: DNS name %q is not printable ASCII", name)
			}
		}
	}
	for _, ip := range ips {
		if ip.To4() == nil && ip.To16() == nil {
			return nil, fmt.Errorf("attest: malformed IP address %v", ip)
		}
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, name := range dnsNames {
			b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(name)) })
		}
		for _, ip := range ips {
			raw := ip.To4()
			if raw == nil {
				raw = ip.To16()
			}
			b.AddASN1(cbasn1.Tag(7).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(raw) })
		}
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("attest: encode subjectAltName: %w", err)
	}
	return out, nil
}

// buildDER runs a cryptobyte builder whose input is fixed and known to be valid.
func buildDER(f cryptobyte.BuilderContinuation) []byte {
	b := cryptobyte.NewBuilder(nil)
	f(b)
	return b.BytesOrPanic()
}

// selfSign makes a self-signed X.509 v3 certificate for priv with Cocoon's
// subject, a random positive 128-bit serial and exactly the given
// extensions.
func selfSign(priv ed25519.PrivateKey, notBefore, notAfter time.Time, exts []pkix.Extension) ([]byte, error) {
	var serialBytes [16]byte
	if _, err := rand.Read(serialBytes[:]); err != nil {
		return nil, fmt.Errorf("attest: serial number: %w", err)
	}
	serial := new(big.Int).SetBytes(serialBytes[:])
	if serial.Sign() == 0 {
		serial.SetInt64(1)
	}
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         cocoonSubject,
		Issuer:          cocoonSubject,
		NotBefore:       notBefore,
		NotAfter:        notAfter,
		ExtraExtensions: exts,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return nil, fmt.Errorf("attest: create certificate: %w", err)
	}
	return der, nil
}
