package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/google/go-tdx-guest/abi"
	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/verify"
)

// Errors from VerifyQuote, wrapped with details; match with errors.Is.
var (
	// ErrFakeQuote: a fake-TDX quote carries no signature to verify.
	ErrFakeQuote = errors.New("attest: a fake-TDX quote has no signature to verify")
	// ErrPCKChain: the PCK certificate chain in the quote does not verify to
	// a trusted root at the verification time. The x509 error is wrapped
	// too (x509.CertificateInvalidError for expiry,
	// x509.UnknownAuthorityError for a foreign root).
	ErrPCKChain = errors.New("attest: PCK certificate chain does not verify")
	// ErrQEReportSignature: the QE report is not signed by the PCK leaf key.
	ErrQEReportSignature = errors.New("attest: QE report signature does not verify with the PCK leaf key")
	// ErrQEReportBinding: the QE report does not vouch for the attestation
	// key: its REPORTDATA is not SHA-256(attestation key ‖ QE auth data)
	// followed by 32 zero bytes.
	ErrQEReportBinding = errors.New("attest: QE report data does not bind the attestation key")
	// ErrQuoteSignature: the header and body are not signed by the
	// attestation key (for example a measurement or REPORTDATA was changed).
	ErrQuoteSignature = errors.New("attest: quote signature does not verify with the attestation key")
	// ErrReferenceRejected: go-tdx-guest, run on a v4 quote after this
	// package's own checks passed, rejected it (for example a PCK chain
	// through the Processor CA, which go-tdx-guest v0.3.1 does not accept).
	ErrReferenceRejected = errors.New("attest: go-tdx-guest rejected the quote")
)

// NoCollateralNote is Verification.Note when no collateral was given.
const NoCollateralNote = "TCB status and revocation not checked: no collateral given"

// VerifyOptions tunes VerifyQuote. The zero value verifies offline against
// the Intel SGX Root CA at time.Now() without collateral.
type VerifyOptions struct {
	// Now is the time at which certificates and collateral must be valid;
	// zero means time.Now().
	Now time.Time
	// Roots are the trusted roots of the PCK chain (and of the collateral's
	// issuer chains); nil means the embedded Intel SGX Root CA. Only tests
	// should set it.
	Roots *x509.CertPool
	// Collateral, when set, makes VerifyQuote also check the TCB status and
	// QE identity (and revocation, when both CRLs are given) through
	// go-tdx-guest. Nil means they are not checked; Verification.Note says
	// so.
	Collateral *Collateral
}

// Verification is the result of VerifyQuote: which checks passed. Each of
// SignatureOK, QEReportOK and ChainOK is computed even when another fails.
type Verification struct {
	Quote *Quote
	Now   time.Time // the verification time used

	// ChainOK: the PCK chain verifies to a trusted root at Now.
	ChainOK bool
	// QEReportOK: the QE report is signed by the PCK leaf key and its
	// REPORTDATA binds the attestation key and QE auth data.
	QEReportOK bool
	// SignatureOK: the attestation key signs the header and body.
	SignatureOK bool

	// PCKChain is the verified chain, leaf first, ending at the trusted
	// root; nil unless ChainOK.
	PCKChain []*x509.Certificate
	// RootKeyID is Cocoon's collateral root hash of the trusted root the
	// chain verified to (IntelRootKeyID for real quotes); zero unless
	// ChainOK.
	RootKeyID [48]byte

	// CollateralChecked: the collateral verified and the TCB status of the
	// platform, the TDX module and the QE is UpToDate.
	CollateralChecked bool
	// RevocationChecked: the PCK CRL and root CRL verified and revoke no
	// certificate of the chains.
	RevocationChecked bool
	// TCBStatus is "UpToDate" when CollateralChecked, else empty.
	TCBStatus string
	// Note says in plain words what was not checked, if anything.
	Note string
}

// VerifyQuote parses raw and verifies it offline:
//
//  1. the PCK chain in the certification data verifies to opts.Roots (the
//     Intel SGX Root CA) at opts.Now, with crypto/x509;
//  2. the QE report is signed by the PCK leaf key, and its REPORTDATA is
//     SHA-256(attestation key ‖ QE auth data) ‖ 32 zero bytes;
//  3. the attestation key signs SHA-256(header ‖ body) (v4) or
//     SHA-256(header ‖ body descriptor ‖ body) (v5);
//  4. v4 only: go-tdx-guest's verify.TdxQuote, the reference, verifies the
//     quote again, always with TrustedRoots set (so it prints nothing) and,
//     when opts.Collateral is set, with that collateral served from memory
//     (never the network): TCB status, QE identity and, with both CRLs,
//     revocation.
//
// Steps 1–3 are this package's own code and run for v4 and v5 alike; the
// results are in the Verification. v5 verification has been tested only
// with v5 quotes built in the tests (no real v5 quote was available), and
// collateral cannot be checked for v5 (go-tdx-guest v0.3.1 reads only v4):
// a v5 quote with opts.Collateral set fails with a *CollateralError.
//
// A parse error returns a nil Verification. Any other error returns the
// Verification too, so callers can see which checks passed. The errors are
// ErrPCKChain, ErrQEReportSignature, ErrQEReportBinding, ErrQuoteSignature
// (the first that failed, in that order), *CollateralError and
// ErrReferenceRejected.
func VerifyQuote(raw []byte, opts VerifyOptions) (*Verification, error) {
	q, err := ParseQuote(raw)
	if err != nil {
		return nil, err
	}
	return verifyParsedQuote(q, opts)
}

func verifyParsedQuote(q *Quote, opts VerifyOptions) (*Verification, error) {
	if q.Fake {
		return nil, ErrFakeQuote
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	roots := opts.Roots
	if roots == nil {
		var err error
		if roots, err = intelRoots(); err != nil {
			return nil, err
		}
	}
	v := &Verification{Quote: q, Now: now}

	chainErr := v.checkChain(roots)
	qeErr := v.checkQEReport()
	sigErr := v.checkSignature()
	for _, err := range []error{chainErr, qeErr, sigErr} {
		if err != nil {
			return v, err
		}
	}

	col := opts.Collateral
	if q.Version != 4 {
		if col != nil {
			return v, &CollateralError{Stage: CollateralUnsupported,
				Err: errors.New("TCB status of v5 quotes cannot be checked: go-tdx-guest v0.3.1 reads only v4 quotes")}
		}
		v.Note = NoCollateralNote
		return v, nil
	}
	if col != nil {
		if err := col.check(); err != nil {
			return v, err
		}
	}
	if err := referenceVerifyV4(q, roots, now, col); err != nil {
		return v, err
	}
	switch {
	case col == nil:
		v.Note = NoCollateralNote
	case !col.hasCRLs():
		v.CollateralChecked, v.TCBStatus = true, tcbUpToDate
		v.Note = "revocation not checked: no PCK CRL and root CRL given"
	default:
		v.CollateralChecked, v.TCBStatus, v.RevocationChecked = true, tcbUpToDate, true
	}
	return v, nil
}

const tcbUpToDate = "UpToDate"

// checkChain verifies the PCK chain to roots at v.Now and records the root
// key ID.
func (v *Verification) checkChain(roots *x509.CertPool) error {
	certs := v.Quote.CertificationData.PCKChain
	if len(certs) == 0 { // ParseQuote guarantees one; a hand-made Quote may not
		return fmt.Errorf("%w: the quote carries no PCK certificate", ErrPCKChain)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   v.Now,
		// A PCK certificate signs QE reports, not TLS: any usage will do.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("%w at %s: %w", ErrPCKChain, v.Now.UTC().Format(time.RFC3339), err)
	}
	chain := chains[0]
	id, err := RootKeyID(chain[len(chain)-1])
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPCKChain, err)
	}
	v.ChainOK, v.PCKChain, v.RootKeyID = true, chain, id
	return nil
}

// checkQEReport checks the QE report signature with the PCK leaf key and
// the binding of the attestation key.
func (v *Verification) checkQEReport() error {
	cd := &v.Quote.CertificationData
	if len(cd.PCKChain) == 0 {
		return fmt.Errorf("%w: the quote carries no PCK certificate", ErrQEReportSignature)
	}
	leaf, ok := cd.PCKChain[0].PublicKey.(*ecdsa.PublicKey)
	if !ok || leaf.Curve != elliptic.P256() {
		return fmt.Errorf("%w: the PCK leaf key is %v, want ECDSA P-256", ErrQEReportSignature, cd.PCKChain[0].PublicKeyAlgorithm)
	}
	digest := sha256.Sum256(cd.QEReport[:])
	if !verifyRawP256(leaf, digest[:], &cd.QEReportSignature) {
		return ErrQEReportSignature
	}
	h := sha256.New()
	h.Write(v.Quote.AttestationKey[:])
	h.Write(cd.QEAuthData)
	var want [64]byte
	h.Sum(want[:0])
	if got := cd.QEReport[qeReportDataStart:]; !bytes.Equal(got, want[:]) {
		return fmt.Errorf("%w: QE REPORTDATA is %x, want %x", ErrQEReportBinding, got, want)
	}
	v.QEReportOK = true
	return nil
}

// checkSignature checks the quote signature with the attestation key.
func (v *Verification) checkSignature() error {
	q := v.Quote
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, q.AttestationKey[:]...))
	if err != nil {
		return fmt.Errorf("%w: attestation key: %w", ErrQuoteSignature, err)
	}
	digest := sha256.Sum256(q.SignedMessage())
	if !verifyRawP256(key, digest[:], &q.Signature) {
		return ErrQuoteSignature
	}
	v.SignatureOK = true
	return nil
}

// verifyRawP256 verifies a raw r‖s ECDSA signature over digest.
func verifyRawP256(pub *ecdsa.PublicKey, digest []byte, sig *[ecdsaSigSize]byte) bool {
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, digest, r, s)
}

// referenceVerifyV4 runs go-tdx-guest on a v4 quote that ParseQuote
// accepted (ParseQuote checks every length that go-tdx-guest's parser
// indexes by, so it cannot panic here).
func referenceVerifyV4(q *Quote, roots *x509.CertPool, now time.Time, col *Collateral) error {
	proto, err := abi.QuoteToProto(q.Raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrReferenceRejected, err)
	}
	quote, ok := proto.(*pb.QuoteV4)
	if !ok {
		return fmt.Errorf("%w: parsed as %T, want a v4 quote", ErrReferenceRejected, proto)
	}
	opts := &verify.Options{
		Now: now,
		// Never nil: with nil, go-tdx-guest logs a warning to stdout.
		TrustedRoots: roots,
	}
	if col != nil {
		opts.GetCollateral = true
		opts.CheckRevocations = col.hasCRLs()
		opts.Getter = col.getter()
	}
	if err := verify.TdxQuote(quote, opts); err != nil {
		if col != nil {
			return classifyCollateralError(err)
		}
		return fmt.Errorf("%w: %w", ErrReferenceRejected, err)
	}
	return nil
}
