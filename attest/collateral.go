package attest

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-tdx-guest/verify/trust"
)

// Collateral is the Intel PCS (or PCCS) collateral for one platform, as
// the PCS responses carry it: bodies as received, and issuer chains as the
// response headers carry them (URL-escaped PEM, or plain PEM). VerifyQuote
// serves these bytes to go-tdx-guest from memory; it never fetches
// anything. The TCB info and QE identity are required; the PCK CRL, its
// issuer chain and the root CRL are optional but go together, and only
// with them is revocation checked.
type Collateral struct {
	// TCBInfo is the body of GET /tdx/certification/v4/tcb?fmspc=<FMSPC>
	// (JSON, tcbInfo version 3, id "TDX").
	TCBInfo []byte
	// TCBInfoIssuerChain is its Tcb-Info-Issuer-Chain header.
	TCBInfoIssuerChain []byte
	// QEIdentity is the body of GET /tdx/certification/v4/qe/identity
	// (JSON, version 2, id "TD_QE").
	QEIdentity []byte
	// QEIdentityIssuerChain is its Sgx-Enclave-Identity-Issuer-Chain header.
	QEIdentityIssuerChain []byte
	// PCKCRL is the body of GET /sgx/certification/v4/pckcrl?ca=<platform
	// or processor>&encoding=der (DER, or PEM).
	PCKCRL []byte
	// PCKCRLIssuerChain is its Sgx-Pck-Crl-Issuer-Chain header.
	PCKCRLIssuerChain []byte
	// RootCRL is the Intel SGX Root CA CRL (DER, or PEM), from the root's
	// CRL distribution point.
	RootCRL []byte
}

// CollateralStage names the step of the collateral check that failed.
type CollateralStage string

// The stages of a CollateralError.
const (
	// CollateralInput: the given collateral is incomplete or does not parse.
	CollateralInput CollateralStage = "input"
	// CollateralValidity: the collateral (or a certificate of its issuer
	// chains) has expired at the verification time.
	CollateralValidity CollateralStage = "validity"
	// CollateralSignature: the TCB info or QE identity is not signed by the
	// TCB signing chain of a trusted root, or has the wrong id or version.
	CollateralSignature CollateralStage = "signature"
	// CollateralRevocation: a CRL does not verify, or revokes a certificate.
	CollateralRevocation CollateralStage = "revocation"
	// CollateralMismatch: the quote does not match the collateral (FMSPC,
	// PCEID, MRSIGNERSEAM, SEAM attributes, or the QE's MISCSELECT,
	// attributes, MRSIGNER or ISV product ID).
	CollateralMismatch CollateralStage = "mismatch"
	// CollateralTCBStatus: no TCB level matches, or the matching level of
	// the platform, TDX module or QE is not UpToDate.
	CollateralTCBStatus CollateralStage = "TCB status"
	// CollateralUnsupported: collateral cannot be checked for this quote
	// (v5).
	CollateralUnsupported CollateralStage = "unsupported"
)

// CollateralError reports a failed collateral check.
type CollateralError struct {
	Stage CollateralStage
	Err   error // go-tdx-guest's error, or this package's
}

func (e *CollateralError) Error() string {
	return fmt.Sprintf("attest: collateral %s check failed: %v", e.Stage, e.Err)
}

func (e *CollateralError) Unwrap() error { return e.Err }

func (c *Collateral) hasCRLs() bool {
	return len(c.PCKCRL) > 0 || len(c.PCKCRLIssuerChain) > 0 || len(c.RootCRL) > 0
}

// check reports missing parts before go-tdx-guest sees the collateral.
func (c *Collateral) check() error {
	var missing []string
	for _, f := range []struct {
		name string
		b    []byte
	}{
		{"TCBInfo", c.TCBInfo}, {"TCBInfoIssuerChain", c.TCBInfoIssuerChain},
		{"QEIdentity", c.QEIdentity}, {"QEIdentityIssuerChain", c.QEIdentityIssuerChain},
	} {
		if len(f.b) == 0 {
			missing = append(missing, f.name)
		}
	}
	if c.hasCRLs() {
		for _, f := range []struct {
			name string
			b    []byte
		}{{"PCKCRL", c.PCKCRL}, {"PCKCRLIssuerChain", c.PCKCRLIssuerChain}, {"RootCRL", c.RootCRL}} {
			if len(f.b) == 0 {
				missing = append(missing, f.name+" (the CRLs and the CRL issuer chain go together)")
			}
		}
	}
	if len(missing) > 0 {
		return &CollateralError{Stage: CollateralInput, Err: fmt.Errorf("missing %s", strings.Join(missing, ", "))}
	}
	return nil
}

// getter serves the collateral to go-tdx-guest in place of Intel PCS.
func (c *Collateral) getter() trust.HTTPSGetter {
	return &collateralGetter{
		tcbInfo:    c.TCBInfo,
		tcbChain:   headerChain(c.TCBInfoIssuerChain),
		qeIdentity: c.QEIdentity,
		qeChain:    headerChain(c.QEIdentityIssuerChain),
		pckCRL:     crlDER(c.PCKCRL),
		pckChain:   headerChain(c.PCKCRLIssuerChain),
		rootCRL:    crlDER(c.RootCRL),
	}
}

// collateralGetter is a trust.HTTPSGetter over bytes in memory. It routes
// by URL path: the three PCS endpoints, and any other URL (go-tdx-guest asks
// for the CRL distribution point of the QE identity issuer's root) gets the
// root CRL.
type collateralGetter struct {
	tcbInfo, tcbChain   []byte
	qeIdentity, qeChain []byte
	pckCRL, pckChain    []byte
	rootCRL             []byte
}

var _ trust.HTTPSGetter = (*collateralGetter)(nil)

// Get implements trust.HTTPSGetter.
func (g *collateralGetter) Get(rawURL string) (map[string][]string, []byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("collateral URL %q: %w", rawURL, err)
	}
	respond := func(header string, chain, body []byte, what string) (map[string][]string, []byte, error) {
		if len(body) == 0 {
			return nil, nil, fmt.Errorf("no %s given", what)
		}
		return map[string][]string{header: {string(chain)}}, body, nil
	}
	switch {
	case strings.HasSuffix(u.Path, "/tdx/certification/v4/tcb"):
		return respond("Tcb-Info-Issuer-Chain", g.tcbChain, g.tcbInfo, "TCB info")
	case strings.HasSuffix(u.Path, "/tdx/certification/v4/qe/identity"):
		return respond("Sgx-Enclave-Identity-Issuer-Chain", g.qeChain, g.qeIdentity, "QE identity")
	case strings.HasSuffix(u.Path, "/certification/v4/pckcrl"):
		return respond("Sgx-Pck-Crl-Issuer-Chain", g.pckChain, g.pckCRL, "PCK CRL")
	default:
		if len(g.rootCRL) == 0 {
			return nil, nil, errors.New("no root CRL given")
		}
		return map[string][]string{}, g.rootCRL, nil
	}
}

// headerChain returns an issuer chain as a PCS header carries it:
// URL-escaped PEM. Plain PEM is escaped; anything else is passed on as
// given.
func headerChain(b []byte) []byte {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN ")) { // escaped, it reads -----BEGIN%20
		return []byte(url.QueryEscape(string(b)))
	}
	return b
}

// crlDER returns the DER of a CRL given as DER or PEM.
func crlDER(b []byte) []byte {
	if block, _ := pem.Decode(b); block != nil {
		return block.Bytes
	}
	return b
}

// classifyCollateralError maps a go-tdx-guest error from a check with
// collateral to a CollateralError. go-tdx-guest formats its errors with %v,
// so this matches their text (pinned to v0.3.1 by the tests).
func classifyCollateralError(err error) error {
	msg := err.Error()
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	var stage CollateralStage
	switch {
	case has("failed TCB status check"):
		stage = CollateralTCBStatus
	case has("has expired", "expired or is not yet valid"):
		stage = CollateralValidity
	case has("unable to receive", "could not verify collaterals obtained", "tcbInfo ID", "tcbInfo version",
		"QeIdentity ID", "QeIdentity version", "contains empty TcbLevels"):
		stage = CollateralInput
	case has("revoked", "CRL"):
		stage = CollateralRevocation
	case has("response verification failed"):
		stage = CollateralSignature
	case has("FMSPC", "PCEID", "MRSIGNERSEAM", "AttributesMask", "SeamAttributes", "MISCSELECT", "MRSIGNER", "ISV PRODID"):
		stage = CollateralMismatch
	default:
		// Not a collateral step: go-tdx-guest rejected the quote itself.
		return fmt.Errorf("%w: %w", ErrReferenceRejected, err)
	}
	return &CollateralError{Stage: stage, Err: err}
}
