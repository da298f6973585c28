package attest

import (
	"crypto/ed25519"
	"crypto/x509/pkix"
	"testing"
)

// FuzzParseCertificate feeds arbitrary bytes to ParseCertificate and, when
// they parse, to Verify: neither may panic, and a parsed certificate keeps
// the package's invariants.
func FuzzParseCertificate(f *testing.F) {
	priv := specKey()
	v3 := fakeCertDER(f, priv)
	f.Add(v3)
	f.Add(toV1(f, v3, priv))
	f.Add(ecdsaCertDER(f))
	f.Add(customCertDER(f, priv, func(e []pkix.Extension) []pkix.Extension { return e[1:] }))
	f.Add(v3[:len(v3)/2])
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})

	verifiers := []*Verifier{
		{Now: clockAt(t0), AllowFake: true},
		{Now: clockAt(t0), AllowedImageHashes: [][32]byte{FakeTDXImageHash}},
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := ParseCertificate(der)
		if err != nil {
			if c != nil {
				t.Fatal("ParseCertificate returned a certificate and an error")
			}
			return
		}
		if len(c.PublicKey) != ed25519.PublicKeySize {
			t.Fatalf("parsed a %d-byte Ed25519 key", len(c.PublicKey))
		}
		if len(c.Quote) > MaxQuoteSize {
			t.Fatalf("parsed a %d-byte quote", len(c.Quote))
		}
		if c.Version != 1 && c.Version != 2 && c.Version != 3 {
			t.Fatalf("version %d", c.Version)
		}
		for _, v := range verifiers {
			peer, err := v.Verify([][]byte{der})
			if err == nil && peer.ReportData != ReportData(c.PublicKey) {
				t.Fatal("Verify accepted a quote not bound to the key")
			}
		}
	})
}

// FuzzParseExtensions fuzzes the package's own DER reader directly on TBS
// bytes, which FuzzParseCertificate rarely reaches past crypto/x509.
func FuzzParseExtensions(f *testing.F) {
	priv := specKey()
	v3 := fakeCertDER(f, priv)
	for _, der := range [][]byte{v3, toV1(f, v3, priv)} {
		c, err := ParseCertificate(der)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c.rawTBS)
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, tbs []byte) {
		exts, err := parseExtensions(tbs)
		if err != nil && exts != nil {
			t.Fatal("parseExtensions returned extensions and an error")
		}
		for i := range exts {
			if len(exts[i].OID) == 0 {
				t.Fatalf("extension %d has an empty OID", i)
			}
			for j := range i {
				if exts[i].OID.Equal(exts[j].OID) {
					t.Fatalf("duplicate extension %v accepted", exts[i].OID)
				}
			}
		}
	})
}
