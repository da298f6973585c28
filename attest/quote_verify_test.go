package attest

import (
	"bytes"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	tdxtesting "github.com/google/go-tdx-guest/testing"
	"github.com/google/go-tdx-guest/testing/testdata"
	"github.com/google/go-tdx-guest/verify"
)

const intelRootKeyIDHex = "46e403bd34f05a3f2817ab9badcaacc7ffc98e0f261008cd30dae936cace18d5dcf58eef31463613de1570d516200993"

func TestIntelRoot(t *testing.T) {
	root := IntelRootCA()
	if got := hex.EncodeToString(sha256Sum(root.Raw)); got != "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3" {
		t.Errorf("embedded Intel SGX Root CA fingerprint = %s, want 44a0196b…74d3", got)
	}
	if root.Subject.CommonName != "Intel SGX Root CA" || !root.IsCA {
		t.Errorf("embedded root = %q CA=%v", root.Subject.CommonName, root.IsCA)
	}
	id, err := RootKeyID(root)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(id[:]); got != intelRootKeyIDHex || id != IntelRootKeyID {
		t.Errorf("RootKeyID(Intel root) = %s, want %s (and IntelRootKeyID)", got, intelRootKeyIDHex)
	}
	// The spec's negative results: not SHA-384 of X‖Y, nor of the SPKI DER.
	spki := root.RawSubjectPublicKeyInfo
	xy := sha512.Sum384(spki[len(spki)-64:])
	der := sha512.Sum384(spki)
	if !strings.HasPrefix(hex.EncodeToString(xy[:]), "d854a548") || !strings.HasPrefix(hex.EncodeToString(der[:]), "3cdf1feb") {
		t.Errorf("control hashes %x / %x do not match the spec's d854a548… / 3cdf1feb…", xy[:4], der[:4])
	}
	if point := spki[len(spki)-65:]; point[0] != 4 || sha512.Sum384(point) != IntelRootKeyID {
		t.Error("RootKeyID is not SHA-384 of the last 65 SPKI bytes")
	}
}

// TestVerifyQuoteSample runs the spec §2 offline recipe on the sample.
func TestVerifyQuoteSample(t *testing.T) {
	today := time.Now()
	tests := []struct {
		name    string
		opts    VerifyOptions
		skip    string
		wantErr error
		want    string // error substring
		chainOK bool
	}{
		{name: "at 2023-07-01", opts: VerifyOptions{Now: sampleNow}, chainOK: true},
		{name: "today (zero Now)", opts: VerifyOptions{}, chainOK: true,
			skip: skipIf(today.After(sampleLeafNotAfter), "the sample's PCK leaf expired on 2029-09-20")},
		{name: "at the leaf's notBefore", opts: VerifyOptions{Now: sampleLeafNotBefore}, chainOK: true},
		{name: "one second before the leaf is valid", opts: VerifyOptions{Now: sampleLeafNotBefore.Add(-time.Second)},
			wantErr: ErrPCKChain, want: "PCK certificate chain does not verify at 2022-09-20T13:20:30Z: x509: certificate has expired or is not yet valid"},
		{name: "expired in 2030", opts: VerifyOptions{Now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
			wantErr: ErrPCKChain, want: "x509: certificate has expired or is not yet valid"},
		{name: "another root", opts: VerifyOptions{Now: sampleNow, Roots: newTestPKI(t).pool},
			wantErr: ErrPCKChain, want: "x509: certificate signed by unknown authority"},
		{name: "no roots at all", opts: VerifyOptions{Now: sampleNow, Roots: x509.NewCertPool()},
			wantErr: ErrPCKChain, want: "unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			v, err := VerifyQuote(testdata.RawQuote, tt.opts)
			if v == nil {
				t.Fatalf("VerifyQuote returned no Verification (err %v)", err)
			}
			if !v.SignatureOK || !v.QEReportOK || v.ChainOK != tt.chainOK {
				t.Errorf("SignatureOK %v QEReportOK %v ChainOK %v, want true true %v", v.SignatureOK, v.QEReportOK, v.ChainOK, tt.chainOK)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error = %v, want %v containing %q", err, tt.wantErr, tt.want)
				}
				if v.RootKeyID != ([48]byte{}) || v.PCKChain != nil {
					t.Error("RootKeyID or PCKChain set although the chain did not verify")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.RootKeyID != IntelRootKeyID {
				t.Errorf("RootKeyID = %x, want %s", v.RootKeyID, intelRootKeyIDHex)
			}
			if len(v.PCKChain) != 3 || !v.PCKChain[2].Equal(IntelRootCA()) {
				t.Errorf("verified chain has %d certificates, want 3 ending at the Intel root", len(v.PCKChain))
			}
			if v.CollateralChecked || v.RevocationChecked || v.TCBStatus != "" || v.Note != NoCollateralNote {
				t.Errorf("collateral fields = %v %v %q %q, want false false \"\" %q",
					v.CollateralChecked, v.RevocationChecked, v.TCBStatus, v.Note, NoCollateralNote)
			}
			if v.Quote == nil || v.Quote.MRTD != sampleQuote(t).MRTD {
				t.Error("Verification.Quote is not the parsed sample")
			}
		})
	}
}

func skipIf(cond bool, reason string) string {
	if cond {
		return reason
	}
	return ""
}

// TestVerifyQuoteTampering is the verification half of the tampering table:
// each change to a signed part fails the one check that covers it.
func TestVerifyQuoteTampering(t *testing.T) {
	flip := func(off int) []byte { return patched(testdata.RawQuote, func(b []byte) { b[off] ^= 0x01 }) }
	tests := []struct {
		name             string
		raw              []byte
		wantErr          error
		want             string
		chain, qe, sigOK bool
	}{
		{"signature byte flipped", flip(offSignature + 5), ErrQuoteSignature, "quote signature does not verify", true, true, false},
		{"RTMR3 byte changed", flip(offRTMR3 + 47), ErrQuoteSignature, "quote signature does not verify", true, true, false},
		{"REPORTDATA byte changed", flip(offReportData), ErrQuoteSignature, "quote signature does not verify", true, true, false},
		{"MRTD byte changed", flip(0xB8), ErrQuoteSignature, "quote signature does not verify", true, true, false},
		{"header user data changed", flip(0x2f), ErrQuoteSignature, "quote signature does not verify", true, true, false},
		{"QE report byte changed", flip(offQEReport + 0x80), ErrQEReportSignature, "QE report signature does not verify", true, false, true},
		{"QE report signature flipped", flip(offQEReportSig + 3), ErrQEReportSignature, "QE report signature does not verify", true, false, true},
		{"QE auth data changed", flip(offQEAuthLen + 2), ErrQEReportBinding, "QE REPORTDATA is", true, false, true},
		{"attestation key changed", flip(offAttKey + 10), ErrQEReportBinding, "does not bind the attestation key", true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := VerifyQuote(tt.raw, VerifyOptions{Now: sampleNow})
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %v containing %q", err, tt.wantErr, tt.want)
			}
			if v == nil {
				t.Fatal("no Verification with the error")
			}
			if v.ChainOK != tt.chain || v.QEReportOK != tt.qe || v.SignatureOK != tt.sigOK {
				t.Errorf("ChainOK %v QEReportOK %v SignatureOK %v, want %v %v %v",
					v.ChainOK, v.QEReportOK, v.SignatureOK, tt.chain, tt.qe, tt.sigOK)
			}
			// go-tdx-guest, the reference, rejects each of them too.
			if err := verify.RawTdxQuote(tt.raw, &verify.Options{Now: sampleNow, TrustedRoots: intelPool(t)}); err == nil {
				t.Error("go-tdx-guest accepted the tampered quote")
			}
		})
	}
}

func intelPool(t testing.TB) *x509.CertPool {
	t.Helper()
	p, err := intelRoots()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sampleCollateral is go-tdx-guest's sample collateral for the sample quote.
func sampleCollateral(withCRLs bool) *Collateral {
	c := &Collateral{
		TCBInfo:               testdata.TcbInfoBody,
		TCBInfoIssuerChain:    []byte(tdxtesting.TcbInfoHeader["Tcb-Info-Issuer-Chain"][0]),
		QEIdentity:            testdata.QeIdentityBody,
		QEIdentityIssuerChain: []byte(tdxtesting.QeIdentityHeader["Sgx-Enclave-Identity-Issuer-Chain"][0]),
	}
	if withCRLs {
		c.PCKCRL = testdata.PckCrlBody
		c.PCKCRLIssuerChain = []byte(tdxtesting.PckCrlHeader["Sgx-Pck-Crl-Issuer-Chain"][0])
		c.RootCRL = testdata.RootCrlBody
	}
	return c
}

// TestVerifyQuoteCollateral reproduces spec §2's collateral results: with
// go-tdx-guest's sample collateral the check reaches the TCB-status step
// and fails there, as upstream asserts.
func TestVerifyQuoteCollateral(t *testing.T) {
	plainPEM := func(c *Collateral) *Collateral {
		for _, f := range []*[]byte{&c.TCBInfoIssuerChain, &c.QEIdentityIssuerChain, &c.PCKCRLIssuerChain} {
			s, err := url.QueryUnescape(string(*f))
			if err != nil {
				t.Fatal(err)
			}
			*f = []byte(s)
		}
		return c
	}
	pemCRLs := func(c *Collateral) *Collateral {
		c.PCKCRL = pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: c.PCKCRL})
		c.RootCRL = pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: c.RootCRL})
		return c
	}
	tcbErr := "TDX TCB info reported by Intel PCS failed TCB status check: no matching TCB level found"
	tests := []struct {
		name      string
		col       *Collateral
		now       time.Time
		wantStage CollateralStage
		want      string
	}{
		{"with CRLs", sampleCollateral(true), sampleNow, CollateralTCBStatus, tcbErr},
		{"without CRLs", sampleCollateral(false), sampleNow, CollateralTCBStatus, tcbErr},
		{"issuer chains as plain PEM", plainPEM(sampleCollateral(true)), sampleNow, CollateralTCBStatus, tcbErr},
		{"CRLs as PEM", pemCRLs(sampleCollateral(true)), sampleNow, CollateralTCBStatus, tcbErr},
		{"last second before the QE identity expires", sampleCollateral(true), time.Date(2023, 7, 8, 7, 24, 58, 0, time.UTC), CollateralTCBStatus, tcbErr},
		{"QE identity expired", sampleCollateral(true), time.Date(2023, 7, 9, 0, 0, 0, 0, time.UTC), CollateralValidity,
			"could not verify collaterals obtained: QeIdentity has expired"},
		{"TCB info expired (2026)", sampleCollateral(false), time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), CollateralValidity, "tcbInfo has expired"},
		{"no TCB info", func() *Collateral { c := sampleCollateral(true); c.TCBInfo = nil; return c }(), sampleNow,
			CollateralInput, "missing TCBInfo"},
		{"root CRL without the PCK CRL", func() *Collateral { c := sampleCollateral(false); c.RootCRL = testdata.RootCrlBody; return c }(), sampleNow,
			CollateralInput, "missing PCKCRL (the CRLs and the CRL issuer chain go together), PCKCRLIssuerChain"},
		{"TCB info not JSON", func() *Collateral { c := sampleCollateral(false); c.TCBInfo = []byte("nope"); return c }(), sampleNow,
			CollateralInput, "unable to receive tcbInfo"},
		{"TCB info signed by someone else", func() *Collateral {
			c := sampleCollateral(false)
			c.TCBInfo = bytes.Replace(append([]byte(nil), c.TCBInfo...), []byte(`"tcbType":0`), []byte(`"tcbType":1`), 1)
			return c
		}(), sampleNow, CollateralSignature, "tcbInfo response verification failed"},
		{"QE identity swapped for TCB info", func() *Collateral { c := sampleCollateral(false); c.QEIdentity = c.TCBInfo; return c }(), sampleNow,
			CollateralInput, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := VerifyQuote(testdata.RawQuote, VerifyOptions{Now: tt.now, Collateral: tt.col})
			var ce *CollateralError
			if !errors.As(err, &ce) || ce.Stage != tt.wantStage || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want a %q CollateralError containing %q", err, tt.wantStage, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "attest: collateral "+string(tt.wantStage)+" check failed: ") {
				t.Errorf("error text = %q", err)
			}
			if v == nil || !v.ChainOK || !v.QEReportOK || !v.SignatureOK || v.CollateralChecked || v.TCBStatus != "" {
				t.Errorf("Verification = %+v; want the quote checks passed and no collateral result", v)
			}
		})
	}
}

func TestVerifyQuoteV5(t *testing.T) {
	pki := newTestPKI(t)
	testRootID, err := RootKeyID(pki.root)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		raw     []byte
		opts    VerifyOptions
		wantErr error
		want    string
		sigOK   bool
	}{
		{name: "type 2 body", raw: buildQuote(t, pki, quoteSpec{version: 5, bodyType: BodyTypeTD10}),
			opts: VerifyOptions{Now: sampleNow, Roots: pki.pool}, sigOK: true},
		{name: "type 3 body", raw: buildQuote(t, pki, quoteSpec{version: 5, bodyType: BodyTypeTD15}),
			opts: VerifyOptions{Now: sampleNow, Roots: pki.pool}, sigOK: true},
		{name: "type 3 body, MRSERVICETD changed",
			raw:  patched(buildQuote(t, pki, quoteSpec{version: 5, bodyType: BodyTypeTD15}), func(b []byte) { b[0x36+tdBody15Size-1] ^= 1 }),
			opts: VerifyOptions{Now: sampleNow, Roots: pki.pool}, wantErr: ErrQuoteSignature, want: "quote signature does not verify"},
		{name: "RTMR3 changed", raw: patched(buildQuote(t, pki, quoteSpec{version: 5, bodyType: BodyTypeTD10}), func(b []byte) { b[0x36+0x148+3*48] ^= 1 }),
			opts: VerifyOptions{Now: sampleNow, Roots: pki.pool}, wantErr: ErrQuoteSignature, want: "quote signature does not verify"},
		{name: "signed without the descriptor", raw: buildQuote(t, pki, quoteSpec{version: 5, bodyType: BodyTypeTD10, v4Message: true}),
			opts: VerifyOptions{Now: sampleNow, Roots: pki.pool}, wantErr: ErrQuoteSignature, want: "quote signature does not verify"},
		{name: "test chain against the Intel root", raw: buildQuote(t, pki, quoteSpec{version: 5, bodyType: BodyTypeTD10}),
			opts: VerifyOptions{Now: sampleNow}, wantErr: ErrPCKChain, want: "unknown authority", sigOK: true},
		{name: "expired leaf", raw: buildQuote(t, pki, quoteSpec{version: 5, bodyType: BodyTypeTD10}),
			opts: VerifyOptions{Now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Roots: pki.pool}, wantErr: ErrPCKChain, want: "expired", sigOK: true},
		{name: "collateral given", raw: buildQuote(t, pki, quoteSpec{version: 5, bodyType: BodyTypeTD10}),
			opts:    VerifyOptions{Now: sampleNow, Roots: pki.pool, Collateral: sampleCollateral(true)},
			wantErr: nil, want: "collateral unsupported check failed: TCB status of v5 quotes cannot be checked", sigOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := VerifyQuote(tt.raw, tt.opts)
			if v == nil {
				t.Fatalf("no Verification (err %v)", err)
			}
			if v.SignatureOK != tt.sigOK || !v.QEReportOK {
				t.Errorf("SignatureOK %v QEReportOK %v, want %v true", v.SignatureOK, v.QEReportOK, tt.sigOK)
			}
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("error = %v, want %v containing %q", err, tt.wantErr, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !v.ChainOK || v.RootKeyID != testRootID || v.Quote.Version != 5 || v.Note != NoCollateralNote {
				t.Errorf("Verification = chain %v root %x version %d note %q", v.ChainOK, v.RootKeyID, v.Quote.Version, v.Note)
			}
		})
	}
}

// TestVerifyQuoteReference shows that v4 quotes also go through go-tdx-guest:
// a quote this package's checks accept but go-tdx-guest does not (a chain
// in an order it does not read) fails with ErrReferenceRejected.
func TestVerifyQuoteReference(t *testing.T) {
	pki := newTestPKI(t)
	ok := buildQuote(t, pki, quoteSpec{version: 4})
	if v, err := VerifyQuote(ok, VerifyOptions{Now: sampleNow, Roots: pki.pool}); err != nil || !v.ChainOK {
		t.Fatalf("re-signed v4 quote: %v", err)
	}
	// A fourth certificate after the root: crypto/x509 builds the chain
	// anyway, go-tdx-guest reads exactly three PEM blocks.
	leafFirstExtra := append(append([]byte(nil), pki.chainPEM...), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.inter.Raw})...)
	raw := buildQuote(t, pki, quoteSpec{version: 4, chainPEM: leafFirstExtra})
	v, err := VerifyQuote(raw, VerifyOptions{Now: sampleNow, Roots: pki.pool})
	if !errors.Is(err, ErrReferenceRejected) || !strings.Contains(err.Error(), "unexpected trailing bytes were found in PCK Certificate Chain") {
		t.Fatalf("error = %v, want ErrReferenceRejected from go-tdx-guest's chain reader", err)
	}
	if !v.ChainOK || !v.QEReportOK || !v.SignatureOK {
		t.Error("this package's own checks should all pass")
	}
}

// TestVerifyQuoteNoStdout runs VerifyQuote in a child process and checks
// that go-tdx-guest printed nothing: it logs to stdout when TrustedRoots is
// nil. The control run calls go-tdx-guest that way to show the check works.
func TestVerifyQuoteNoStdout(t *testing.T) {
	if mode := os.Getenv("ATTEST_STDOUT_CHILD"); mode != "" {
		switch mode {
		case "verify":
			if _, err := VerifyQuote(testdata.RawQuote, VerifyOptions{Now: sampleNow}); err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyQuote(testdata.RawQuote, VerifyOptions{Now: sampleNow, Collateral: sampleCollateral(true)}); err == nil {
				t.Fatal("want the TCB status error")
			}
		case "control":
			if err := verify.RawTdxQuote(testdata.RawQuote, &verify.Options{Now: sampleNow}); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	run := func(mode string) string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestVerifyQuoteNoStdout$", "-test.count=1")
		cmd.Env = append(os.Environ(), "ATTEST_STDOUT_CHILD="+mode)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("child %s: %v\nstdout: %s\nstderr: %s", mode, err, stdout.String(), stderr.String())
		}
		return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(stdout.String()), "PASS"))
	}
	if out := run("verify"); out != "" {
		t.Errorf("VerifyQuote wrote to stdout: %q", out)
	}
	if out := run("control"); !strings.Contains(out, "Using embedded Intel certificate") {
		t.Errorf("control: go-tdx-guest with nil TrustedRoots printed %q; the check cannot see its output", out)
	}
}

func TestCollateralGetterRouting(t *testing.T) {
	g := sampleCollateral(true).getter()
	tests := []struct {
		url        string
		header     string
		body       []byte
		wantErrSub string
	}{
		{"https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=50806f000000", "Tcb-Info-Issuer-Chain", testdata.TcbInfoBody, ""},
		{"https://api.trustedservices.intel.com/tdx/certification/v4/qe/identity", "Sgx-Enclave-Identity-Issuer-Chain", testdata.QeIdentityBody, ""},
		{"https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=platform&encoding=der", "Sgx-Pck-Crl-Issuer-Chain", testdata.PckCrlBody, ""},
		{"https://certificates.trustedservices.intel.com/IntelSGXRootCA.der", "", testdata.RootCrlBody, ""},
	}
	for _, tt := range tests {
		h, body, err := g.Get(tt.url)
		if err != nil {
			t.Errorf("Get(%s): %v", tt.url, err)
			continue
		}
		if !bytes.Equal(body, tt.body) {
			t.Errorf("Get(%s) served the wrong body", tt.url)
		}
		if tt.header != "" && (len(h[tt.header]) != 1 || h[tt.header][0] == "") {
			t.Errorf("Get(%s) header %s = %v", tt.url, tt.header, h[tt.header])
		}
	}
	if _, _, err := sampleCollateral(false).getter().Get("https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"); err == nil {
		t.Error("root CRL served although none was given")
	}
}

// TestVerifierRealQuote is the end-to-end path: a certificate whose quote is
// a real-format quote bound to the certificate key, verified by a Verifier
// with VerifyQuote, the REPORTDATA check and the Policy.
func TestVerifierRealQuote(t *testing.T) {
	pki := newTestPKI(t)
	testRootID, err := RootKeyID(pki.root)
	if err != nil {
		t.Fatal(err)
	}
	sampleHash := sampleQuote(t).Measurements().ImageHash()
	certFor := func(spec quoteSpec) [][]byte {
		tc, err := newCertificate(quoteFunc(func(rd [64]byte) ([]byte, error) {
			spec.reportData = &rd
			return buildQuote(t, pki, spec), nil
		}), CertOptions{NotBefore: sampleNow}, newKey(t))
		if err != nil {
			t.Fatal(err)
		}
		return tc.Certificate
	}
	sampleCert, err := newCertificate(quoteFunc(func([64]byte) ([]byte, error) { return testdata.RawQuote, nil }),
		CertOptions{NotBefore: sampleNow}, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	v4, v5 := certFor(quoteSpec{version: 4}), certFor(quoteSpec{version: 5, bodyType: BodyTypeTD15})
	at := clockAt(sampleNow.Add(time.Hour))
	tests := []struct {
		name    string
		certs   [][]byte
		v       Verifier
		wantErr error
		want    string
	}{
		{name: "v4", certs: v4, v: Verifier{Now: at, QuoteOptions: VerifyOptions{Roots: pki.pool}}},
		{name: "v5", certs: v5, v: Verifier{Now: at, QuoteOptions: VerifyOptions{Roots: pki.pool}}},
		{name: "v4 with a full policy", certs: v4, v: Verifier{Now: at, QuoteOptions: VerifyOptions{Roots: pki.pool},
			Policy: Policy{
				AllowedMRTD: [][48]byte{sampleQuote(t).MRTD}, AllowedRTMR: [][4][48]byte{sampleQuote(t).RTMR},
				AllowedImageHashes: [][32]byte{sampleHash}, AllowedCollateralRootHashes: [][48]byte{testRootID}, RequireNoDebug: true,
			}, AllowedImageHashes: [][32]byte{sampleHash}}},
		{name: "test root is not Intel's", certs: v4, v: Verifier{Now: at, QuoteOptions: VerifyOptions{Roots: pki.pool},
			Policy: Policy{AllowedCollateralRootHashes: [][48]byte{IntelRootKeyID}}},
			want: "collateral root hash not in policy allowlist: peer has " + hex.EncodeToString(testRootID[:]) + ", allowed: " + intelRootKeyIDHex},
		{name: "test chain with Intel roots", certs: v4, v: Verifier{Now: at}, wantErr: ErrPCKChain, want: "unknown authority"},
		{name: "Intel sample quote is not bound to the key", certs: sampleCert.Certificate, v: Verifier{Now: at}, wantErr: ErrReportDataMismatch},
		{name: "fake quote not allowed in a real verifier", certs: [][]byte{fakeCertDER(t, newKey(t))}, v: Verifier{Now: clockAt(t0)}, wantErr: ErrFakeQuoteNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer, err := tt.v.Verify(tt.certs)
			if tt.wantErr != nil || tt.want != "" {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error = %v, want %v containing %q", err, tt.wantErr, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if peer.Fake || peer.ImageHash != sampleHash || peer.Verification == nil || peer.RootKeyID() != testRootID {
				t.Errorf("peer fake=%v image=%x root=%x", peer.Fake, peer.ImageHash, peer.RootKeyID())
			}
			if peer.ReportData != ReportData(peer.Cert.PublicKey) || peer.Quote.ReportData != peer.ReportData {
				t.Error("REPORTDATA is not SHA-512 of the certificate key")
			}
		})
	}
}

// TestVerifierRealQuoteOverTLS runs a mutually authenticated handshake
// between two RA-TLS peers with real-format quotes.
func TestVerifierRealQuoteOverTLS(t *testing.T) {
	pki := newTestPKI(t)
	provider := quoteFunc(func(rd [64]byte) ([]byte, error) {
		return buildQuote(t, pki, quoteSpec{version: 4, reportData: &rd}), nil
	})
	// The certificates are valid from now, but the test PCK leaf, like the
	// sample's, only until 2029: verify the quotes at the sample time.
	v := &Verifier{QuoteOptions: VerifyOptions{Roots: pki.pool, Now: sampleNow}}
	serverCert, err := NewCertificate(provider, CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := NewCertificate(provider, CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	server, client := handshake(t, ServerConfig(serverCert, v), ClientConfig(clientCert, v))
	if server.err != nil || client.err != nil {
		t.Fatalf("handshake: server %v, client %v", server.err, client.err)
	}
	for _, st := range []tls.ConnectionState{server.state, client.state} {
		p, err := PeerFromConn(st, v)
		if err != nil {
			t.Fatal(err)
		}
		if p.Fake || p.Verification == nil || !p.Verification.SignatureOK || p.ImageHash != sampleQuote(t).Measurements().ImageHash() {
			t.Errorf("peer = %+v, want a verified real quote", p)
		}
	}
	// The same handshake fails against the Intel root only.
	server, client = handshake(t, ServerConfig(serverCert, &Verifier{QuoteOptions: VerifyOptions{Now: sampleNow}}), ClientConfig(clientCert, v))
	if server.err == nil || !strings.Contains(server.err.Error(), "unknown authority") {
		t.Errorf("server accepted a client whose PCK chain has a foreign root: %v", server.err)
	}
}

// TestVerifyQuoteSignedMessage pins the message the v4 signature covers.
func TestVerifyQuoteSignedMessage(t *testing.T) {
	q := sampleQuote(t)
	if !bytes.Equal(q.SignedMessage(), testdata.RawQuote[:0x278]) {
		t.Error("v4 signed message is not bytes 0x000–0x278")
	}
}
