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
	// ErrReportDataMismatch: the quote is not bound to the certificate key.
	ErrReportDataMismatch = errors.New("attest: report data mismatch (user claims don't match attestation)")
)

// ImageHashError reports a peer whose image hash is not in
// Verifier.AllowedImageHashes. (Policy.AllowedImageHashes reports a
// *PolicyError instead.)
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
	// Quote is the parsed quote; for a fake quote only ReportData is set.
	Quote *Quote
	// Verification is the result of VerifyQuote; nil for a fake quote.
	Verification *Verification
}

// RootKeyID returns the collateral root hash of the peer's quote: the key ID
// of the root its PCK chain verified to, zero for a fake quote.
func (p *Peer) RootKeyID() [48]byte {
	if p.Verification == nil {
		return [48]byte{}
	}
	return p.Verification.RootKeyID
}

// quoteVerifyFunc verifies a real (non-fake) TDX quote; VerifyQuote in
// production.
type quoteVerifyFunc func(quote []byte, opts VerifyOptions) (*Verification, error)

// Verifier checks a peer's RA-TLS certificate. The zero value verifies real
// TDX quotes against the Intel SGX Root CA without collateral, accepts any
// measurements and no fake quotes. A Verifier must not be changed while in
// use; it is then safe for concurrent use.
type Verifier struct {
	// Now is the clock for the validity window and, unless
	// QuoteOptions.Now is set, for quote verification; nil means time.Now.
	Now func() time.Time
	// AllowFake accepts fake-TDX quotes (dev mode). Never set it in
	// production: a fake quote proves nothing. Policy applies to fake
	// quotes too (all their measurements and their root key ID are zero).
	AllowFake bool
	// QuoteOptions tune VerifyQuote for real quotes: roots (tests only),
	// collateral, and a fixed verification time.
	QuoteOptions VerifyOptions
	// Policy is the allow-list checked after the REPORTDATA binding
	// (Cocoon's tdx_config); the zero Policy allows everything.
	Policy Policy
	// AllowedImageHashes lists the accepted image hashes; empty means any.
	// It is checked after Policy, in addition to Policy.AllowedImageHashes,
	// and reports *ImageHashError.
	AllowedImageHashes [][32]byte

	// verifyQuote replaces VerifyQuote in tests; nil means VerifyQuote.
	verifyQuote quoteVerifyFunc
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
//     (ErrFakeQuoteNotAllowed); a real TDX quote must pass VerifyQuote with
//     QuoteOptions (its errors are returned as they are);
//  7. REPORTDATA == SHA-512(certificate key), the claims being rebuilt from
//     the key and not from the user-claims extension (ErrReportDataMismatch);
//  8. Policy.Validate: MRTD, RTMR set, image hash, collateral root hash,
//     then DEBUG (*PolicyError);
//  9. the image hash is in AllowedImageHashes, if that is not empty
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
	q, ver, err := v.checkQuote(cert.Quote, t)
	if err != nil {
		return nil, err
	}
	want := ReportData(cert.PublicKey)
	if subtle.ConstantTimeCompare(q.ReportData[:], want[:]) != 1 {
		return nil, ErrReportDataMismatch
	}
	var rootKeyID [48]byte
	if ver != nil {
		rootKeyID = ver.RootKeyID
	}
	if err := v.Policy.Validate(q, rootKeyID); err != nil {
		return nil, err
	}
	imageHash := q.Measurements().ImageHash()
	if len(v.AllowedImageHashes) > 0 && !containsValue(v.AllowedImageHashes, imageHash) {
		return nil, &ImageHashError{Got: imageHash, Allowed: v.AllowedImageHashes}
	}
	return &Peer{
		Cert: cert, Fake: q.Fake, ReportData: q.ReportData, ImageHash: imageHash,
		Quote: q, Verification: ver,
	}, nil
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
// returns the parsed quote and, for a real quote, its verification.
func (v *Verifier) checkQuote(quote []byte, t time.Time) (*Quote, *Verification, error) {
	if len(quote) == 0 { // absent, or present but empty
		return nil, nil, ErrQuoteRequired
	}
	if IsFakeQuote(quote) {
		if !v.AllowFake {
			return nil, nil, ErrFakeQuoteNotAllowed
		}
		q, err := ParseQuote(quote)
		return q, nil, err
	}
	check := v.verifyQuote
	if check == nil {
		check = VerifyQuote
	}
	opts := v.QuoteOptions
	if opts.Now.IsZero() {
		opts.Now = t
	}
	ver, err := check(quote, opts)
	if err != nil {
		return nil, nil, err
	}
	if ver == nil || ver.Quote == nil {
		return nil, nil, errors.New("attest: quote verification returned no quote")
	}
	return ver.Quote, ver, nil
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
