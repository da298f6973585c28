package attest

import (
	"crypto/ed25519"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors a Verifier returns, wrapped with details; match with errors.Is.
var (
	// ErrQuoteRequired: the peer certificate carries no quote extension.
	ErrQuoteRequired = errors.New("attest: TDX attestation quote is required by policy")
	// ErrFakeQuoteNotAllowed: the peer uses fake TDX (dev mode) and the
	// Verifier does not set AllowFake.
	ErrFakeQuoteNotAllowed = errors.New("attest: peer presented a fake-TDX quote (dev mode), which this verifier does not accept")
	// ErrRealQuoteUnavailable: the peer presented a real TDX quote, which
	// this build cannot verify yet.
	ErrRealQuoteUnavailable = errors.New("attest: real TDX quote verification is not available in this build; only fake-TDX peers (dev mode) are accepted")
	// ErrReportDataMismatch: the quote is not bound to the certificate key.
	ErrReportDataMismatch = errors.New("attest: report data mismatch (user claims don't match attestation)")
)

// ImageHashError reports a peer whose image hash is not in
// Verifier.AllowedImageHashes.
type ImageHashError struct {
	Got     [32]byte
	Allowed [][32]byte
}

func (e *ImageHashError) Error() string {
	allowed := make([]string, len(e.Allowed))
	for i := range e.Allowed {
		allowed[i] = hex.EncodeToString(e.Allowed[i][:])
	}
	return fmt.Sprintf("attest: image hash not in policy allowlist: peer has %x, allowed: %s",
		e.Got, strings.Join(allowed, ", "))
}

// Peer is what verification learned about the other side.
type Peer struct {
	Cert       *Certificate
	Fake       bool     // the quote is fake TDX (dev mode)
	ReportData [64]byte // REPORTDATA of the quote (= SHA-512 of Cert.PublicKey)
	ImageHash  [32]byte // Cocoon image hash of the attested TD
}

// quoteData is what a checked quote attests.
type quoteData struct {
	reportData [64]byte
	imageHash  [32]byte
}

// realQuoteFunc checks a real (non-fake) TDX quote at now, including its
// signature chain and collateral, and returns what it attests.
type realQuoteFunc func(quote []byte, now time.Time) (quoteData, error)

// realQuoteUnavailable is the realQuoteFunc of this build: real TDX quote
// verification (go-tdx-guest) has not landed yet.
func realQuoteUnavailable([]byte, time.Time) (quoteData, error) {
	return quoteData{}, ErrRealQuoteUnavailable
}

// Verifier checks a peer's RA-TLS certificate. The zero value accepts any
// image hash but no fake quotes. A Verifier must not be changed while in
// use; it is then safe for concurrent use.
type Verifier struct {
	// Now is the clock for the validity window; nil means time.Now.
	Now func() time.Time
	// AllowFake accepts fake-TDX quotes (dev mode). Never set it in
	// production: a fake quote proves nothing.
	AllowFake bool
	// AllowedImageHashes lists the accepted image hashes; empty means any.
	AllowedImageHashes [][32]byte

	// verifyReal replaces the real-quote check in tests; nil means
	// realQuoteUnavailable.
	verifyReal realQuoteFunc
}

// Verify checks the certificate chain a TLS peer sent (as in
// tls.Config.VerifyPeerCertificate), in Cocoon's order (spec §5
// "Verification", §7):
//
//  1. exactly one certificate (Cocoon's verify depth), which parses
//     (ParseCertificate already rejects keys other than Ed25519);
//  2. the validity window contains Now();
//  3. the key is a 32-byte Ed25519 key and the Ed25519 self-signature is
//     valid (the TLS CertificateVerify already proves possession of the
//     key, so the signature check only rejects corrupt certificates early);
//  4. every critical extension is one this package knows: the two Cocoon
//     OIDs, basicConstraints, keyUsage, extKeyUsage or subjectAltName;
//  5. a quote is present (ErrQuoteRequired);
//  6. the quote is valid: fake TDX only if AllowFake
//     (ErrFakeQuoteNotAllowed), real TDX not yet (ErrRealQuoteUnavailable);
//  7. REPORTDATA == SHA-512(certificate key), the claims being rebuilt from
//     the key and not from the user-claims extension (ErrReportDataMismatch);
//  8. the image hash is in AllowedImageHashes, if that is not empty
//     (*ImageHashError).
//
// A nil Verifier behaves as the zero Verifier.
func (v *Verifier) Verify(rawCerts [][]byte) (*Peer, error) {
	if v == nil {
		v = &Verifier{}
	}
	if len(rawCerts) != 1 {
		return nil, fmt.Errorf("attest: peer sent %d certificates; an RA-TLS peer sends exactly one", len(rawCerts))
	}
	cert, err := ParseCertificate(rawCerts[0])
	if err != nil {
		return nil, err
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	t := now()
	if err := checkCertificate(cert, t); err != nil {
		return nil, err
	}
	qd, fake, err := v.checkQuote(cert.Quote, t)
	if err != nil {
		return nil, err
	}
	want := ReportData(cert.PublicKey)
	if subtle.ConstantTimeCompare(qd.reportData[:], want[:]) != 1 {
		return nil, ErrReportDataMismatch
	}
	if len(v.AllowedImageHashes) > 0 && !containsHash(v.AllowedImageHashes, qd.imageHash) {
		return nil, &ImageHashError{Got: qd.imageHash, Allowed: v.AllowedImageHashes}
	}
	return &Peer{Cert: cert, Fake: fake, ReportData: qd.reportData, ImageHash: qd.imageHash}, nil
}

// checkCertificate does steps 2–4 of Verify: everything but the quote.
func checkCertificate(cert *Certificate, t time.Time) error {
	if t.Before(cert.NotBefore) {
		return fmt.Errorf("attest: certificate is not valid until %v (now %v); check the clocks",
			cert.NotBefore.UTC(), t.UTC())
	}
	if t.After(cert.NotAfter) {
		return fmt.Errorf("attest: certificate expired at %v (now %v)", cert.NotAfter.UTC(), t.UTC())
	}
	if cert.sigAlg != x509.PureEd25519 {
		return fmt.Errorf("attest: certificate signed with %v, want Ed25519", cert.sigAlg)
	}
	// ed25519.Verify panics on a key of the wrong size, so check it first.
	if len(cert.PublicKey) != ed25519.PublicKeySize {
		return fmt.Errorf("attest: Ed25519 key is %d bytes, want %d", len(cert.PublicKey), ed25519.PublicKeySize)
	}
	if !ed25519.Verify(cert.PublicKey, cert.rawTBS, cert.signature) {
		return errors.New("attest: certificate self-signature is invalid")
	}
	for _, ext := range cert.Extensions {
		if ext.Critical && !knownCritical(ext.OID) {
			return fmt.Errorf("attest: certificate has unknown critical extension %v", ext.OID)
		}
	}
	return nil
}

// checkQuote does steps 5–6 of Verify: a quote is present and valid. It
// reports whether the quote is fake TDX.
func (v *Verifier) checkQuote(quote []byte, t time.Time) (quoteData, bool, error) {
	if len(quote) == 0 { // absent, or present but empty
		return quoteData{}, false, ErrQuoteRequired
	}
	if IsFakeQuote(quote) {
		if !v.AllowFake {
			return quoteData{}, true, ErrFakeQuoteNotAllowed
		}
		qd := quoteData{imageHash: FakeTDXImageHash}
		copy(qd.reportData[:], quote)
		return qd, true, nil
	}
	check := v.verifyReal
	if check == nil {
		check = realQuoteUnavailable
	}
	qd, err := check(quote, t)
	if err != nil {
		return quoteData{}, false, fmt.Errorf("attest: verify TDX quote: %w", err)
	}
	return qd, false, nil
}

// knownCriticalOIDs are the extensions that may be critical.
var knownCriticalOIDs = []asn1.ObjectIdentifier{
	oidQuote, oidUserClaims, oidBasicConstraints, oidKeyUsage, oidExtKeyUsage, oidSubjectAltName,
}

// knownCritical reports whether a critical extension is one whose meaning
// this package (and OpenSSL) accepts.
func knownCritical(oid asn1.ObjectIdentifier) bool {
	for _, known := range knownCriticalOIDs {
		if oid.Equal(known) {
			return true
		}
	}
	return false
}

func containsHash(list [][32]byte, h [32]byte) bool {
	for i := range list {
		if list[i] == h {
			return true
		}
	}
	return false
}
