package attest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Certificate is a parsed Cocoon RA-TLS certificate. Its byte slices point
// into Raw, a private copy of the DER.
type Certificate struct {
	Raw       []byte
	Version   int // 1 or 3, as encoded
	PublicKey ed25519.PublicKey
	NotBefore time.Time
	NotAfter  time.Time
	// Quote is the TDX_QUOTA extension value, nil if absent.
	Quote []byte
	// UserClaims is the TDX_USER_CLAIMS extension value, nil if absent.
	// Cocoon reads it but trusts only the certificate's own key.
	UserClaims []byte
	// Extensions are all [3] extensions, in order, read from the raw TBS.
	Extensions []Extension

	rawTBS    []byte
	signature []byte
	sigAlg    x509.SignatureAlgorithm
}

// Extension is one X.509 extension as encoded.
type Extension struct {
	OID      asn1.ObjectIdentifier
	Critical bool
	Value    []byte // extnValue contents
}

// ParseCertificate parses one DER certificate. Everything but the extensions
// comes from crypto/x509; the [3] extensions are read from the raw TBS here,
// because crypto/x509 drops them from a v1 certificate and Cocoon's OpenSSL
// code writes v1 certificates with v3 extensions (spec §5 "Version quirk").
//
// It fails on malformed DER, trailing data, duplicate extensions, a key
// other than Ed25519 and a quote over MaxQuoteSize. It does not check the
// signature, the validity window or the quote; [Verifier.Verify] does.
func ParseCertificate(der []byte) (*Certificate, error) {
	der = bytes.Clone(der)
	xc, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("attest: parse certificate: %w", err)
	}
	pub, ok := xc.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("attest: certificate key is %v, want Ed25519 (not a Cocoon RA-TLS certificate)", xc.PublicKeyAlgorithm)
	}
	exts, err := parseExtensions(xc.RawTBSCertificate)
	if err != nil {
		return nil, err
	}
	c := &Certificate{
		Raw:        xc.Raw,
		Version:    xc.Version,
		PublicKey:  pub,
		NotBefore:  xc.NotBefore,
		NotAfter:   xc.NotAfter,
		Extensions: exts,
		rawTBS:     xc.RawTBSCertificate,
		signature:  xc.Signature,
		sigAlg:     xc.SignatureAlgorithm,
	}
	for i := range exts {
		switch {
		case exts[i].OID.Equal(oidQuote):
			c.Quote = exts[i].Value
		case exts[i].OID.Equal(oidUserClaims):
			c.UserClaims = exts[i].Value
		}
	}
	if len(c.Quote) > MaxQuoteSize {
		return nil, fmt.Errorf("attest: quote extension is %d bytes, more than the %d-byte limit", len(c.Quote), MaxQuoteSize)
	}
	return c, nil
}

// parseExtensions reads the [3] extensions of a TBSCertificate:
//
//	TBSCertificate ::= SEQUENCE {
//	    version [0] EXPLICIT Version DEFAULT v1, serialNumber, signature,
//	    issuer, validity, subject, subjectPublicKeyInfo,
//	    issuerUniqueID [1] IMPLICIT OPTIONAL, subjectUniqueID [2] IMPLICIT OPTIONAL,
//	    extensions [3] EXPLICIT SEQUENCE OF Extension OPTIONAL }
//	Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
//
// The result is nil when there is no [3] field.
func parseExtensions(rawTBS []byte) ([]Extension, error) {
	input := cryptobyte.String(rawTBS)
	var tbs cryptobyte.String
	if !input.ReadASN1(&tbs, cbasn1.SEQUENCE) || !input.Empty() {
		return nil, errors.New("attest: malformed TBSCertificate")
	}
	if !tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!tbs.SkipASN1(cbasn1.INTEGER) || // serialNumber
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // signature
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // issuer
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // validity
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // subject
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // subjectPublicKeyInfo
		!tbs.SkipOptionalASN1(cbasn1.Tag(1).ContextSpecific()) ||
		!tbs.SkipOptionalASN1(cbasn1.Tag(2).ContextSpecific()) {
		return nil, errors.New("attest: malformed TBSCertificate fields")
	}
	var wrapped cryptobyte.String
	var present bool
	if !tbs.ReadOptionalASN1(&wrapped, &present, cbasn1.Tag(3).Constructed().ContextSpecific()) || !tbs.Empty() {
		return nil, errors.New("attest: malformed TBSCertificate after the public key")
	}
	if !present {
		return nil, nil
	}
	var list cryptobyte.String
	if !wrapped.ReadASN1(&list, cbasn1.SEQUENCE) || !wrapped.Empty() {
		return nil, errors.New("attest: malformed extensions")
	}
	var exts []Extension
	for !list.Empty() {
		var raw cryptobyte.String
		var ext Extension
		var value []byte
		ok := list.ReadASN1(&raw, cbasn1.SEQUENCE) && raw.ReadASN1ObjectIdentifier(&ext.OID)
		// critical is an untagged BOOLEAN DEFAULT FALSE, so peek for it.
		// (cryptobyte's ReadOptionalASN1Boolean is for explicitly tagged ones.)
		if ok && raw.PeekASN1Tag(cbasn1.BOOLEAN) {
			ok = raw.ReadASN1Boolean(&ext.Critical)
		}
		if !ok || !raw.ReadASN1Bytes(&value, cbasn1.OCTET_STRING) || !raw.Empty() {
			return nil, fmt.Errorf("attest: malformed extension #%d", len(exts)+1)
		}
		ext.Value = value
		for i := range exts {
			if exts[i].OID.Equal(ext.OID) {
				return nil, fmt.Errorf("attest: duplicate extension %v", ext.OID)
			}
		}
		exts = append(exts, ext)
	}
	return exts, nil
}
