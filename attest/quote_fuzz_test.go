package attest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-tdx-guest/abi"
	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/testing/testdata"
)

// quoteSeeds are the seed corpus of the quote fuzzers: real, re-signed and
// broken quotes of every version.
func quoteSeeds(f *testing.F, pki *testPKI) [][]byte {
	sample := testdata.RawQuote
	v5 := buildQuote(f, pki, quoteSpec{version: 5, bodyType: BodyTypeTD10})
	return [][]byte{
		sample,
		buildQuote(f, pki, quoteSpec{version: 4}),
		v5,
		buildQuote(f, pki, quoteSpec{version: 5, bodyType: BodyTypeTD15}),
		sample[:0x300],
		sample[:0x278],
		sample[:len(sample)-39],
		v5[:0x40],
		patched(sample, func(b []byte) { binary.LittleEndian.PutUint16(b, 5) }),
		patched(sample, func(b []byte) { b[offRTMR3] ^= 1 }),
		make([]byte, FakeQuoteSize),
		{},
		{4, 0, 2, 0, 0x81, 0, 0, 0},
	}
}

// abiParse runs go-tdx-guest's parser, which panics on some malformed
// input (v0.3.1 slices before checking lengths), and reports a panic.
func abiParse(raw []byte) (q *pb.QuoteV4, err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			q, err, panicked = nil, fmt.Errorf("panic: %v", r), true
		}
	}()
	p, err := abi.QuoteToProto(raw)
	if err != nil {
		return nil, err, false
	}
	return p.(*pb.QuoteV4), nil, false
}

// FuzzParseQuote: ParseQuote never panics, classifies every error, and
// agrees with go-tdx-guest on v4 quotes: whatever it accepts, go-tdx-guest
// accepts with the same fields (so VerifyQuote can hand it over safely);
// whatever go-tdx-guest accepts, it accepts too unless the PCK chain is not
// clean PEM.
func FuzzParseQuote(f *testing.F) {
	for _, s := range quoteSeeds(f, newTestPKI(f)) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		q, err := ParseQuote(raw)
		v4 := len(raw) >= 2 && binary.LittleEndian.Uint16(raw) == 4 && !IsFakeQuote(raw)
		var ref *pb.QuoteV4
		var refErr error
		var refPanicked bool
		if v4 {
			ref, refErr, refPanicked = abiParse(raw)
		}
		if err != nil {
			if q != nil {
				t.Fatal("ParseQuote returned a quote and an error")
			}
			if !errors.Is(err, ErrMalformedQuote) && !errors.Is(err, ErrQuoteVersion) &&
				!errors.Is(err, ErrTEEType) && !errors.Is(err, ErrAttestationKeyType) {
				t.Fatalf("unclassified error: %v", err)
			}
			if v4 && refErr == nil {
				var te *TruncatedError
				if errors.As(err, &te) || !errors.Is(err, ErrMalformedQuote) || !strings.Contains(err.Error(), "PCK certificate chain at") {
					t.Fatalf("go-tdx-guest accepts a quote ParseQuote rejects: %v", err)
				}
			}
			return
		}
		if q.Fake {
			if len(raw) != FakeQuoteSize || string(q.ReportData[:]) != string(raw) {
				t.Fatal("bad fake quote")
			}
			return
		}
		if q.Version != 4 && q.Version != 5 || q.TEEType != TEETypeTDX || q.AttestationKeyType != AttestationKeyECDSAP256 {
			t.Fatalf("accepted version %d TEE 0x%x key type %d", q.Version, q.TEEType, q.AttestationKeyType)
		}
		if len(q.CertificationData.PCKChain) == 0 {
			t.Fatal("accepted a quote without a PCK certificate")
		}
		if string(q.SignedMessage()) != string(raw[:len(q.SignedMessage())]) {
			t.Fatal("signed message is not a prefix of the quote")
		}
		if v4 {
			if refPanicked || refErr != nil {
				t.Fatalf("ParseQuote accepts a v4 quote go-tdx-guest rejects: %v", refErr)
			}
			if diff := compareWithProto(q, ref); diff != "" {
				t.Fatal(diff)
			}
		}
	})
}

// FuzzVerifyQuote: VerifyQuote never panics, with Intel's root or a test
// root and with or without collateral; when it succeeds every check passed
// and the root key ID is the root's; a parse failure returns no
// Verification.
func FuzzVerifyQuote(f *testing.F) {
	pki := newTestPKI(f)
	for _, s := range quoteSeeds(f, pki) {
		f.Add(s, false, false)
		f.Add(s, true, false)
	}
	f.Add(testdata.RawQuote, false, true)
	testRootID, err := RootKeyID(pki.root)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte, testRoots, collateral bool) {
		opts := VerifyOptions{Now: sampleNow}
		wantRoot := IntelRootKeyID
		if testRoots {
			opts.Roots, wantRoot = pki.pool, testRootID
		}
		if collateral {
			opts.Collateral = sampleCollateral(true)
		}
		v, err := VerifyQuote(raw, opts)
		if v == nil {
			if err == nil {
				t.Fatal("no Verification and no error")
			}
			if _, perr := ParseQuote(raw); perr == nil && !IsFakeQuote(raw) {
				t.Fatalf("no Verification for a quote that parses: %v", err)
			}
			return
		}
		if v.ChainOK != (v.RootKeyID != [48]byte{}) || v.ChainOK && v.RootKeyID != wantRoot {
			t.Fatalf("ChainOK %v with root key ID %x", v.ChainOK, v.RootKeyID)
		}
		if err == nil && (!v.ChainOK || !v.QEReportOK || !v.SignatureOK) {
			t.Fatalf("accepted with ChainOK %v QEReportOK %v SignatureOK %v", v.ChainOK, v.QEReportOK, v.SignatureOK)
		}
		if err == nil && collateral {
			t.Fatal("the sample collateral accepted a quote (its TCB levels match no sample platform)")
		}
	})
}
