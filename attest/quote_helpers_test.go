package attest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/google/go-tdx-guest/pcs"
	"github.com/google/go-tdx-guest/testing/testdata"
)

// Times of the go-tdx-guest sample quote (spec §2).
var (
	// sampleNow is go-tdx-guest's own test time: every certificate of the
	// sample quote and its collateral is valid.
	sampleNow = time.Date(2023, 7, 1, 1, 0, 0, 0, time.UTC)
	// sampleLeafNotBefore and sampleLeafNotAfter bound the sample's PCK leaf.
	sampleLeafNotBefore = time.Date(2022, 9, 20, 13, 20, 31, 0, time.UTC)
	sampleLeafNotAfter  = time.Date(2029, 9, 20, 13, 20, 31, 0, time.UTC)
)

// sampleQuote parses go-tdx-guest's sample quote (tdx_prod_quote_SPR_E4.dat).
func sampleQuote(t testing.TB) *Quote {
	t.Helper()
	q, err := ParseQuote(testdata.RawQuote)
	if err != nil {
		t.Fatalf("ParseQuote(sample): %v", err)
	}
	return q
}

// testKey returns a fixed P-256 key derived from name, so that fuzz workers
// (separate processes) build the same test PKI as the coordinator.
func testKey(t testing.TB, name string) *ecdsa.PrivateKey {
	t.Helper()
	for i := byte(0); ; i++ {
		d := sha256.Sum256(append([]byte("attest test key "+name), i))
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
		if err == nil {
			return k
		}
	}
}

// testPKI is a stand-in for Intel's PCK hierarchy: a root, a platform CA
// and a PCK leaf, with Intel's names and the sample leaf's SGX extension, so
// that go-tdx-guest accepts it as it accepts Intel's.
type testPKI struct {
	root, inter, leaf *x509.Certificate
	leafKey           *ecdsa.PrivateKey
	pool              *x509.CertPool // holds root
	chainPEM          []byte         // leaf ‖ inter ‖ root
}

func intelName(cn string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{"Intel Corporation"}, Locality: []string{"Santa Clara"},
		Province: []string{"CA"}, Country: []string{"US"}}
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	rootKey, interKey, leafKey := testKey(t, "root"), testKey(t, "platform CA"), testKey(t, "PCK leaf")
	caFrom, caTo := time.Date(2018, 5, 21, 10, 45, 10, 0, time.UTC), time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)
	mk := func(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: intelName("Intel SGX Root CA"),
		NotBefore: caFrom, NotAfter: caTo,
		IsCA: true, BasicConstraintsValid: true, MaxPathLen: 1,
		KeyUsage:     x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId: []byte("test root"),
	}
	root := mk(rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	inter := mk(&x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: intelName("Intel SGX PCK Platform CA"),
		NotBefore: caFrom, NotAfter: caTo,
		IsCA: true, BasicConstraintsValid: true, MaxPathLen: 0, MaxPathLenZero: true,
		KeyUsage:     x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId: []byte("test platform CA"),
	}, root, &interKey.PublicKey, rootKey)

	// pcs.PckCertificateExtensions wants exactly Intel's six extensions:
	// AKI, CRL DP, SKI, keyUsage, basicConstraints and the SGX extension.
	var sgxExt pkix.Extension
	for _, e := range sampleQuote(t).CertificationData.PCKChain[0].Extensions {
		if e.Id.Equal(pcs.OidSgxExtension) {
			sgxExt = e
		}
	}
	leaf := mk(&x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: intelName("Intel SGX PCK Certificate"),
		NotBefore: sampleLeafNotBefore, NotAfter: sampleLeafNotAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		SubjectKeyId:          []byte("test PCK leaf"),
		CRLDistributionPoints: []string{"https://example.invalid/pckcrl"},
		ExtraExtensions:       []pkix.Extension{sgxExt},
	}, inter, &leafKey.PublicKey, interKey)

	p := &testPKI{root: root, inter: inter, leaf: leaf, leafKey: leafKey, pool: x509.NewCertPool()}
	p.pool.AddCert(root)
	for _, c := range []*x509.Certificate{leaf, inter, root} {
		p.chainPEM = append(p.chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return p
}

// quoteSpec says how buildQuote changes the sample quote.
type quoteSpec struct {
	version    uint16    // 4 or 5
	bodyType   uint16    // v5 only: BodyTypeTD10 or BodyTypeTD15
	reportData *[64]byte // nil keeps the sample's
	chainPEM   []byte    // nil means pki.chainPEM
	// v4Message signs header ‖ body even for v5 (a wrong signature).
	v4Message bool
}

// buildQuote rebuilds the sample quote's header and body as spec says and
// signs it anew: a fresh attestation key signs the message, the QE report
// (the sample's, with REPORTDATA rebound to the new key) is signed by
// pki's PCK leaf, and pki's chain is carried.
func buildQuote(t testing.TB, pki *testPKI, spec quoteSpec) []byte {
	t.Helper()
	sample := sampleQuote(t)
	header := append([]byte(nil), sample.Raw[:quoteHeaderSize]...)
	binary.LittleEndian.PutUint16(header, spec.version)
	body := append([]byte(nil), sample.Raw[quoteHeaderSize:quoteHeaderSize+tdBody10Size]...)
	if spec.reportData != nil {
		copy(body[bodyReport:], spec.reportData[:])
	}
	msg := header
	if spec.version == 5 {
		if spec.bodyType == BodyTypeTD15 {
			for i := 0; i < tdBody15Size-tdBody10Size; i++ {
				body = append(body, byte(0xA0+i%16)) // TEE_TCB_SVN_2 ‖ MRSERVICETD
			}
		}
		msg = binary.LittleEndian.AppendUint16(msg, spec.bodyType)
		msg = binary.LittleEndian.AppendUint32(msg, uint32(len(body)))
	}
	msg = append(msg, body...)
	signed := msg
	if spec.v4Message {
		signed = append(append([]byte(nil), header...), body...)
	}

	attKey := testKey(t, "attestation key")
	point, err := attKey.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	attPub := point[1:]
	auth := sample.CertificationData.QEAuthData
	qeReport := sample.CertificationData.QEReport
	binding := sha256.Sum256(append(append([]byte(nil), attPub...), auth...))
	copy(qeReport[qeReportDataStart:], binding[:])
	clear(qeReport[qeReportDataStart+32:])
	chain := spec.chainPEM
	if chain == nil {
		chain = pki.chainPEM
	}

	var cd []byte
	cd = append(cd, qeReport[:]...)
	cd = append(cd, signRaw(t, pki.leafKey, qeReport[:])...)
	cd = binary.LittleEndian.AppendUint16(cd, uint16(len(auth)))
	cd = append(cd, auth...)
	cd = binary.LittleEndian.AppendUint16(cd, CertDataPCKChain)
	cd = binary.LittleEndian.AppendUint32(cd, uint32(len(chain)))
	cd = append(cd, chain...)

	var sd []byte
	sd = append(sd, signRaw(t, attKey, signed)...)
	sd = append(sd, attPub...)
	sd = binary.LittleEndian.AppendUint16(sd, CertDataQEReport)
	sd = binary.LittleEndian.AppendUint32(sd, uint32(len(cd)))
	sd = append(sd, cd...)

	out := append([]byte(nil), msg...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(sd)))
	return append(out, sd...)
}

// signRaw signs SHA-256(msg) and returns r‖s, 32 bytes each.
func signRaw(t testing.TB, key *ecdsa.PrivateKey, msg []byte) []byte {
	t.Helper()
	digest := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}

// patched returns a copy of b with f applied.
func patched(b []byte, f func([]byte)) []byte {
	c := append([]byte(nil), b...)
	f(c)
	return c
}

// Absolute offsets in the sample quote (v4), from spec §1.1.
const (
	offTEEType      = 0x004
	offRTMR3        = 0x208
	offReportData   = 0x238
	offSigDataLen   = 0x278
	offSignature    = 0x27C
	offAttKey       = 0x2BC
	offCertDataType = 0x2FC
	offCertDataSize = 0x2FE
	offQEReport     = 0x302
	offQEReportSig  = offQEReport + qeReportSize
	offQEAuthLen    = offQEReportSig + ecdsaSigSize
)
