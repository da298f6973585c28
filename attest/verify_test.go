package attest

import (
	"crypto/ed25519"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	priv := specKey()
	pub := priv.Public().(ed25519.PublicKey)
	good := fakeCertDER(t, priv)
	otherKey := newKey(t)

	// A certificate whose quote was made for a different key.
	foreignQuote, err := newCertificate(quoteFunc(func([64]byte) ([]byte, error) {
		rd := ReportData(otherKey.Public().(ed25519.PublicKey))
		return rd[:], nil
	}), CertOptions{NotBefore: t0}, priv)
	if err != nil {
		t.Fatal(err)
	}
	// A "real" quote: anything that is not 64 bytes.
	realQuote, err := newCertificate(quoteFunc(func(rd [64]byte) ([]byte, error) {
		return append(make([]byte, 1000), rd[:]...), nil
	}), CertOptions{NotBefore: t0}, priv)
	if err != nil {
		t.Fatal(err)
	}
	badSig := append([]byte(nil), good...)
	badSig[len(badSig)-1] ^= 1

	var otherHash [32]byte
	otherHash[0] = 0xab
	realMRTD := [48]byte{1, 2, 3}
	realHash := Measurements{MRTD: realMRTD}.ImageHash()
	realOK := func(q []byte, _ VerifyOptions) (*Verification, error) {
		quote := &Quote{Version: 4, MRTD: realMRTD}
		copy(quote.ReportData[:], q[len(q)-64:]) // the test "quote" ends with REPORTDATA
		return &Verification{Quote: quote, ChainOK: true, QEReportOK: true, SignatureOK: true}, nil
	}

	tests := []struct {
		name      string
		certs     [][]byte
		v         Verifier
		wantErr   error  // matched with errors.Is, if set
		wantText  string // substring of the error, if set
		wantFake  bool
		wantImage [32]byte
	}{
		{name: "fake TDX accepted in dev mode", certs: [][]byte{good},
			v: Verifier{Now: clockAt(t0.Add(time.Hour)), AllowFake: true}, wantFake: true, wantImage: FakeTDXImageHash},
		{name: "fake TDX with allowed image hash", certs: [][]byte{good},
			v:        Verifier{Now: clockAt(t0), AllowFake: true, AllowedImageHashes: [][32]byte{otherHash, FakeTDXImageHash}},
			wantFake: true, wantImage: FakeTDXImageHash},
		{name: "valid at NotAfter exactly", certs: [][]byte{good},
			v: Verifier{Now: clockAt(t0.Add(DefaultValidity)), AllowFake: true}, wantFake: true, wantImage: FakeTDXImageHash},
		{name: "unknown non-critical extension ignored", certs: [][]byte{customCertDER(t, priv, func(e []pkix.Extension) []pkix.Extension {
			return append(e, pkix.Extension{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: []byte{5}})
		})}, v: Verifier{Now: clockAt(t0), AllowFake: true}, wantFake: true, wantImage: FakeTDXImageHash},
		{name: "real quote with a quote checker", certs: realQuote.Certificate,
			v: Verifier{Now: clockAt(t0), verifyQuote: realOK}, wantImage: realHash},

		{name: "fake TDX without AllowFake", certs: [][]byte{good},
			v: Verifier{Now: clockAt(t0)}, wantErr: ErrFakeQuoteNotAllowed},
		{name: "quote from a different key", certs: foreignQuote.Certificate,
			v: Verifier{Now: clockAt(t0), AllowFake: true}, wantErr: ErrReportDataMismatch},
		{name: "expired", certs: [][]byte{good},
			v: Verifier{Now: clockAt(t0.Add(DefaultValidity + time.Second)), AllowFake: true}, wantText: "expired"},
		{name: "not yet valid", certs: [][]byte{good},
			v: Verifier{Now: clockAt(t0.Add(-time.Second)), AllowFake: true}, wantText: "not valid until"},
		{name: "unknown critical extension", certs: [][]byte{customCertDER(t, priv, func(e []pkix.Extension) []pkix.Extension {
			return append(e, pkix.Extension{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Critical: true, Value: []byte{5}})
		})}, v: Verifier{Now: clockAt(t0), AllowFake: true}, wantText: "unknown critical extension 1.2.3.4"},
		// crypto/x509 itself rejects this in a v3 certificate, but skips all
		// extensions of a v1 one, so only Verify's own check catches it.
		{name: "critical subjectKeyIdentifier in v1", certs: [][]byte{toV1(t, customCertDER(t, priv, func(e []pkix.Extension) []pkix.Extension {
			e[5].Critical = true
			return e
		}), priv)}, v: Verifier{Now: clockAt(t0), AllowFake: true}, wantText: "unknown critical extension 2.5.29.14"},
		{name: "missing quote", certs: [][]byte{customCertDER(t, priv, func(e []pkix.Extension) []pkix.Extension {
			return e[1:]
		})}, v: Verifier{Now: clockAt(t0), AllowFake: true}, wantErr: ErrQuoteRequired},
		{name: "empty quote extension", certs: [][]byte{customCertDER(t, priv, func(e []pkix.Extension) []pkix.Extension {
			e[0].Value = []byte{}
			return e
		})}, v: Verifier{Now: clockAt(t0), AllowFake: true}, wantErr: ErrQuoteRequired},
		{name: "user claims for another key are ignored, quote still binds", certs: [][]byte{customCertDER(t, priv, func(e []pkix.Extension) []pkix.Extension {
			e[1].Value = otherKey.Public().(ed25519.PublicKey)
			return e
		})}, v: Verifier{Now: clockAt(t0), AllowFake: true}, wantFake: true, wantImage: FakeTDXImageHash},
		{name: "non-Ed25519 key", certs: [][]byte{ecdsaCertDER(t)},
			v: Verifier{Now: clockAt(t0), AllowFake: true}, wantText: "want Ed25519"},
		{name: "truncated DER", certs: [][]byte{good[:100]},
			v: Verifier{Now: clockAt(t0), AllowFake: true}, wantText: "parse certificate"},
		{name: "bad self-signature", certs: [][]byte{badSig},
			v: Verifier{Now: clockAt(t0), AllowFake: true}, wantText: "self-signature is invalid"},
		{name: "no certificate", certs: nil,
			v: Verifier{Now: clockAt(t0), AllowFake: true}, wantText: "sent 0 certificates"},
		{name: "a chain instead of one certificate", certs: [][]byte{good, good},
			v: Verifier{Now: clockAt(t0), AllowFake: true}, wantText: "sent 2 certificates"},
		{name: "image hash not allowed", certs: [][]byte{good},
			v:        Verifier{Now: clockAt(t0), AllowFake: true, AllowedImageHashes: [][32]byte{otherHash}},
			wantText: hex.EncodeToString(FakeTDXImageHash[:]) + ", allowed: " + hex.EncodeToString(otherHash[:])},
		{name: "malformed real quote is verified and rejected", certs: realQuote.Certificate,
			v: Verifier{Now: clockAt(t0), AllowFake: true}, wantErr: ErrQuoteVersion, wantText: "version 0 at 0x000"},
		{name: "real quote for a different key", certs: realQuote.Certificate,
			v: Verifier{Now: clockAt(t0), verifyQuote: func(q []byte, opts VerifyOptions) (*Verification, error) {
				ver, err := realOK(q, opts)
				ver.Quote.ReportData[0] ^= 1
				return ver, err
			}}, wantErr: ErrReportDataMismatch},
		{name: "real quote rejected by the checker", certs: realQuote.Certificate,
			v: Verifier{Now: clockAt(t0), verifyQuote: func([]byte, VerifyOptions) (*Verification, error) {
				return nil, errors.New("TCB out of date")
			}}, wantText: "TCB out of date"},
		{name: "real quote checked at the Verifier's clock", certs: realQuote.Certificate,
			v: Verifier{Now: clockAt(t0), verifyQuote: func(q []byte, opts VerifyOptions) (*Verification, error) {
				if !opts.Now.Equal(t0) {
					return nil, fmt.Errorf("quote checked at %v, want %v", opts.Now, t0)
				}
				return realOK(q, opts)
			}}, wantImage: realHash},
		{name: "QuoteOptions.Now overrides the clock", certs: realQuote.Certificate,
			v: Verifier{Now: clockAt(t0), QuoteOptions: VerifyOptions{Now: t0.Add(-time.Hour)},
				verifyQuote: func(q []byte, opts VerifyOptions) (*Verification, error) {
					if !opts.Now.Equal(t0.Add(-time.Hour)) {
						return nil, fmt.Errorf("quote checked at %v, want QuoteOptions.Now", opts.Now)
					}
					return realOK(q, opts)
				}}, wantImage: realHash},
		{name: "policy applies to real quotes", certs: realQuote.Certificate,
			v:        Verifier{Now: clockAt(t0), verifyQuote: realOK, Policy: Policy{AllowedMRTD: [][48]byte{{9}}}},
			wantText: "MRTD not in policy allowlist: peer has 010203"},
		{name: "policy applies to fake quotes", certs: [][]byte{good},
			v:        Verifier{Now: clockAt(t0), AllowFake: true, Policy: Policy{AllowedCollateralRootHashes: [][48]byte{IntelRootKeyID}}},
			wantText: "collateral root hash not in policy allowlist: peer has " + strings.Repeat("00", 48)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer, err := tt.v.Verify(tt.certs)
			if tt.wantErr != nil || tt.wantText != "" {
				if err == nil {
					t.Fatalf("Verify succeeded, want an error")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantText) {
					t.Errorf("error = %q, want it to contain %q", err, tt.wantText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if peer.Fake != tt.wantFake || peer.ImageHash != tt.wantImage {
				t.Errorf("peer fake=%v image=%x, want fake=%v image=%x", peer.Fake, peer.ImageHash, tt.wantFake, tt.wantImage)
			}
			if peer.ReportData != ReportData(pub) {
				t.Errorf("ReportData = %x, want SHA-512(pub)", peer.ReportData)
			}
			if !peer.Cert.PublicKey.Equal(pub) {
				t.Errorf("peer key = %x, want %x", peer.Cert.PublicKey, pub)
			}
		})
	}
}

func TestImageHashError(t *testing.T) {
	got := [32]byte{0x11}
	allowed := [][32]byte{{0x22}, {0x33}}
	v := Verifier{Now: clockAt(t0), AllowFake: true, AllowedImageHashes: allowed}
	_, err := v.Verify([][]byte{fakeCertDER(t, newKey(t))})
	var ihe *ImageHashError
	if !errors.As(err, &ihe) {
		t.Fatalf("error = %v, want *ImageHashError", err)
	}
	if ihe.Got != FakeTDXImageHash || len(ihe.Allowed) != 2 {
		t.Errorf("ImageHashError = %+v", ihe)
	}
	msg := (&ImageHashError{Got: got, Allowed: allowed}).Error()
	for _, h := range [][32]byte{got, allowed[0], allowed[1]} {
		if !strings.Contains(msg, hex.EncodeToString(h[:])) {
			t.Errorf("message %q does not name %x", msg, h)
		}
	}
}

func TestVerifyNilVerifier(t *testing.T) {
	var v *Verifier
	c, err := NewCertificate(FakeTDX{}, CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(c.Certificate)
	if !errors.Is(err, ErrFakeQuoteNotAllowed) {
		t.Errorf("nil Verifier: error = %v, want ErrFakeQuoteNotAllowed (zero-Verifier behaviour)", err)
	}
}
