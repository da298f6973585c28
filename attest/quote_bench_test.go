package attest

import (
	"testing"

	"github.com/google/go-tdx-guest/testing/testdata"
)

func BenchmarkParseQuote(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(testdata.RawQuote)))
	for b.Loop() {
		if _, err := ParseQuote(testdata.RawQuote); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyQuote is the v4 path: this package's checks, then
// go-tdx-guest's, offline without collateral.
func BenchmarkVerifyQuote(b *testing.B) {
	b.ReportAllocs()
	opts := VerifyOptions{Now: sampleNow}
	for b.Loop() {
		if _, err := VerifyQuote(testdata.RawQuote, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyQuoteV5 is the v5 path: this package's checks only.
func BenchmarkVerifyQuoteV5(b *testing.B) {
	pki := newTestPKI(b)
	raw := buildQuote(b, pki, quoteSpec{version: 5, bodyType: BodyTypeTD10})
	opts := VerifyOptions{Now: sampleNow, Roots: pki.pool}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyQuote(raw, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyQuoteCollateral adds go-tdx-guest's collateral checks
// (which fail at the TCB-status step, the last one, for the sample).
func BenchmarkVerifyQuoteCollateral(b *testing.B) {
	opts := VerifyOptions{Now: sampleNow, Collateral: sampleCollateral(true)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyQuote(testdata.RawQuote, opts); err == nil {
			b.Fatal("want the TCB status error")
		}
	}
}

// BenchmarkVerifierRealQuote is one RA-TLS peer check with a real-format
// v4 quote: certificate, quote, REPORTDATA binding and a policy.
func BenchmarkVerifierRealQuote(b *testing.B) {
	pki := newTestPKI(b)
	tc, err := newCertificate(quoteFunc(func(rd [64]byte) ([]byte, error) {
		return buildQuote(b, pki, quoteSpec{version: 4, reportData: &rd}), nil
	}), CertOptions{NotBefore: sampleNow}, newKey(b))
	if err != nil {
		b.Fatal(err)
	}
	v := &Verifier{Now: clockAt(sampleNow), QuoteOptions: VerifyOptions{Roots: pki.pool},
		Policy: Policy{AllowedImageHashes: [][32]byte{sampleQuote(b).Measurements().ImageHash()}, RequireNoDebug: true}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tc.Certificate); err != nil {
			b.Fatal(err)
		}
	}
}
