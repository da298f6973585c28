package attest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-tdx-guest/abi"
	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/testing/testdata"
)

// TestParseQuoteSample checks every field against the values spec §2
// printed from go-tdx-guest's parse of the same file.
func TestParseQuoteSample(t *testing.T) {
	if got := hex.EncodeToString(sha256Sum(testdata.RawQuote)); len(testdata.RawQuote) != 4974 ||
		got != "6dde5548bec99147fef832643301f113df99931547be26df8ac376c4eaa5b5a7" {
		t.Fatalf("sample quote is %d bytes with SHA-256 %s; not the file spec §2 describes", len(testdata.RawQuote), got)
	}
	q := sampleQuote(t)
	zero48 := strings.Repeat("00", 48)
	fields := []struct {
		name, got, want string
	}{
		{"QEVendorID", hex.EncodeToString(q.QEVendorID[:]), "939a7233f79c4ca9940a0db3957f0607"},
		{"TEE_TCB_SVN", hex.EncodeToString(q.TEETCBSVN[:]), "03000400000000000000000000000000"},
		{"TDATTRIBUTES", hex.EncodeToString(q.TDAttributes[:]), "0000004000000000"},
		{"XFAM", hex.EncodeToString(q.XFAM[:]), "e71a060000000000"},
		{"MRTD", hex.EncodeToString(q.MRTD[:]), "6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb"},
		{"MRCONFIGID", hex.EncodeToString(q.MRConfigID[:]), zero48},
		{"MROWNER", hex.EncodeToString(q.MROwner[:]), zero48},
		{"MROWNERCONFIG", hex.EncodeToString(q.MROwnerConfig[:]), zero48},
		{"RTMR0", hex.EncodeToString(q.RTMR[0][:]), "2927da70461cd63266f43230cc1849c03ef25ebe490062a801d8fcc80af42976823adf08f833c1e50b51779c6593f32a"},
		{"RTMR1", hex.EncodeToString(q.RTMR[1][:]), "2c700b8ba9b85783f8be9fb9443647bdc0bb3c50747f06297cc6538c25a5f589c4b56d035c59107c6bc5800db2cacb61"},
		{"RTMR2", hex.EncodeToString(q.RTMR[2][:]), "8652f0caaba7e215ea442dc36a4499d8fec3362f3a0b2ca151cbe4b3e6466fe59c7368b3c2287fc7c3bf5c924eb4424e"},
		{"RTMR3", hex.EncodeToString(q.RTMR[3][:]), zero48},
		{"REPORTDATA", hex.EncodeToString(q.ReportData[:]), "6c62dec1b8191749a31dab490be532a35944dea47caef1f980863993d9899545eb7406a38d1eed313b987a467dacead6f0c87a6d766c66f6f29f8acb281f1113"},
		{"image hash", hex.EncodeToString(imageHashOf(q)), "6f07b63ffaad70ee8ffd5fcf7adfd79d1c853c1db0e3612568921649259771b5"},
	}
	for _, f := range fields {
		if f.got != f.want {
			t.Errorf("%s = %s, want %s", f.name, f.got, f.want)
		}
	}
	nums := []struct {
		name      string
		got, want uint64
	}{
		{"Version", uint64(q.Version), 4},
		{"AttestationKeyType", uint64(q.AttestationKeyType), 2},
		{"TEEType", uint64(q.TEEType), 0x81},
		{"BodyType", uint64(q.BodyType), uint64(BodyTypeTD10)},
		{"BodySize", uint64(q.BodySize), 584},
		{"SignedDataSize", uint64(q.SignedDataSize), 4299},
		{"len(ExtraBytes)", uint64(len(q.ExtraBytes)), 39},
		{"CertificationData.Type", uint64(q.CertificationData.Type), 6},
		{"PCKChainType", uint64(q.CertificationData.PCKChainType), 5},
		{"len(QEAuthData)", uint64(len(q.CertificationData.QEAuthData)), 32},
		{"len(SignedMessage)", uint64(len(q.SignedMessage())), 0x278},
		{"TDAttributes", q.TDAttributes.Uint64(), 1 << 30},
	}
	for _, n := range nums {
		if n.got != n.want {
			t.Errorf("%s = %d, want %d", n.name, n.got, n.want)
		}
	}
	if q.Fake || q.TDAttributes.Debug() || !q.TDAttributes.PKS() || q.TDAttributes.SEPTVEDisable() {
		t.Errorf("Fake=%v Debug=%v PKS=%v SEPT_VE_DISABLE=%v, want false false true false",
			q.Fake, q.TDAttributes.Debug(), q.TDAttributes.PKS(), q.TDAttributes.SEPTVEDisable())
	}
	chain := q.CertificationData.PCKChain
	wantChain := []struct{ cn, from, to string }{
		{"Intel SGX PCK Certificate", "2022-09-20T13:20:31Z", "2029-09-20T13:20:31Z"},
		{"Intel SGX PCK Platform CA", "2018-05-21T10:50:10Z", "2033-05-21T10:50:10Z"},
		{"Intel SGX Root CA", "2018-05-21T10:45:10Z", "2049-12-31T23:59:59Z"},
	}
	if len(chain) != len(wantChain) {
		t.Fatalf("PCK chain has %d certificates, want 3", len(chain))
	}
	for i, w := range wantChain {
		c := chain[i]
		if c.Subject.CommonName != w.cn || c.NotBefore.Format("2006-01-02T15:04:05Z") != w.from || c.NotAfter.Format("2006-01-02T15:04:05Z") != w.to {
			t.Errorf("chain[%d] = %q %v..%v, want %q %s..%s", i, c.Subject.CommonName, c.NotBefore, c.NotAfter, w.cn, w.from, w.to)
		}
	}
	if !chain[2].Equal(IntelRootCA()) {
		t.Error("the sample's root is not the embedded Intel SGX Root CA")
	}
	if !bytes.Equal(q.ExtraBytes, testdata.RawQuote[len(testdata.RawQuote)-39:]) {
		t.Error("ExtraBytes are not the last 39 bytes")
	}
}

func sha256Sum(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

func imageHashOf(q *Quote) []byte { h := q.Measurements().ImageHash(); return h[:] }

// TestParseQuoteMatchesGoTDXGuest compares ParseQuote with go-tdx-guest's
// parser, the reference, on the sample and on a re-signed v4 quote.
func TestParseQuoteMatchesGoTDXGuest(t *testing.T) {
	pki := newTestPKI(t)
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"sample", testdata.RawQuote},
		{"re-signed v4", buildQuote(t, pki, quoteSpec{version: 4})},
		{"sample with more extra bytes", append(append([]byte(nil), testdata.RawQuote...), 1, 2, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseQuote(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			p, err := abi.QuoteToProto(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if diff := compareWithProto(q, p.(*pb.QuoteV4)); diff != "" {
				t.Error(diff)
			}
		})
	}
}

// compareWithProto returns the first field where q differs from go-tdx-guest's
// parse, or "".
func compareWithProto(q *Quote, p *pb.QuoteV4) string {
	h, b, sd := p.GetHeader(), p.GetTdQuoteBody(), p.GetSignedData()
	qe := sd.GetCertificationData().GetQeReportCertificationData()
	var rtmrs []byte
	for _, r := range b.GetRtmrs() {
		rtmrs = append(rtmrs, r...)
	}
	var ours []byte
	for i := range q.RTMR {
		ours = append(ours, q.RTMR[i][:]...)
	}
	pairs := []struct {
		name      string
		got, want []byte
	}{
		{"Reserved", q.Reserved[:], append(append([]byte(nil), h.GetPceSvn()...), h.GetQeSvn()...)},
		{"QEVendorID", q.QEVendorID[:], h.GetQeVendorId()},
		{"UserData", q.UserData[:], h.GetUserData()},
		{"TEETCBSVN", q.TEETCBSVN[:], b.GetTeeTcbSvn()},
		{"MRSEAM", q.MRSEAM[:], b.GetMrSeam()},
		{"MRSignerSEAM", q.MRSignerSEAM[:], b.GetMrSignerSeam()},
		{"SEAMAttributes", q.SEAMAttributes[:], b.GetSeamAttributes()},
		{"TDAttributes", q.TDAttributes[:], b.GetTdAttributes()},
		{"XFAM", q.XFAM[:], b.GetXfam()},
		{"MRTD", q.MRTD[:], b.GetMrTd()},
		{"MRConfigID", q.MRConfigID[:], b.GetMrConfigId()},
		{"MROwner", q.MROwner[:], b.GetMrOwner()},
		{"MROwnerConfig", q.MROwnerConfig[:], b.GetMrOwnerConfig()},
		{"RTMR", ours, rtmrs},
		{"ReportData", q.ReportData[:], b.GetReportData()},
		{"Signature", q.Signature[:], sd.GetSignature()},
		{"AttestationKey", q.AttestationKey[:], sd.GetEcdsaAttestationKey()},
		{"QEReportSignature", q.CertificationData.QEReportSignature[:], qe.GetQeReportSignature()},
		{"QEReport.ReportData", q.CertificationData.QEReport[qeReportDataStart:], qe.GetQeReport().GetReportData()},
		{"QEReport.MrSigner", q.CertificationData.QEReport[0x80:0xA0], qe.GetQeReport().GetMrSigner()},
		{"QEAuthData", q.CertificationData.QEAuthData, qe.GetQeAuthData().GetData()},
		{"PCKChainPEM", q.CertificationData.PCKChainPEM, qe.GetPckCertificateChainData().GetPckCertChain()},
		{"ExtraBytes", q.ExtraBytes, p.GetExtraBytes()},
	}
	for _, pr := range pairs {
		if !bytes.Equal(pr.got, pr.want) {
			return pr.name + " differs from go-tdx-guest: " + hex.EncodeToString(pr.got) + " vs " + hex.EncodeToString(pr.want)
		}
	}
	nums := []struct {
		name      string
		got, want uint32
	}{
		{"Version", uint32(q.Version), h.GetVersion()},
		{"AttestationKeyType", uint32(q.AttestationKeyType), h.GetAttestationKeyType()},
		{"TEEType", q.TEEType, h.GetTeeType()},
		{"SignedDataSize", q.SignedDataSize, p.GetSignedDataSize()},
		{"CertificationData.Type", uint32(q.CertificationData.Type), sd.GetCertificationData().GetCertificateDataType()},
		{"CertificationData size", uint32(len(q.CertificationData.Raw)), sd.GetCertificationData().GetSize()},
		{"PCKChainType", uint32(q.CertificationData.PCKChainType), qe.GetPckCertificateChainData().GetCertificateDataType()},
		{"QE IsvSvn", uint32(binary.LittleEndian.Uint16(q.CertificationData.QEReport[0x102:])), qe.GetQeReport().GetIsvSvn()},
	}
	for _, n := range nums {
		if n.got != n.want {
			return n.name + " differs from go-tdx-guest"
		}
	}
	return ""
}

func TestParseQuoteFake(t *testing.T) {
	rd := ReportData(specKey().Public().(ed25519.PublicKey))
	q, err := ParseQuote(rd[:])
	if err != nil {
		t.Fatal(err)
	}
	if !q.Fake || q.ReportData != rd || q.Version != 0 || q.SignedMessage() != nil {
		t.Errorf("fake quote parsed as %+v", q)
	}
	if q.Measurements() != (Measurements{}) || q.Measurements().ImageHash() != FakeTDXImageHash {
		t.Error("fake quote measurements are not all zero")
	}
	if _, err := VerifyQuote(rd[:], VerifyOptions{}); !errors.Is(err, ErrFakeQuote) {
		t.Errorf("VerifyQuote(fake) = %v, want ErrFakeQuote", err)
	}
}

func TestParseQuoteCopiesInput(t *testing.T) {
	raw := append([]byte(nil), testdata.RawQuote...)
	q, err := ParseQuote(raw)
	if err != nil {
		t.Fatal(err)
	}
	clear(raw)
	if !bytes.Equal(q.Raw, testdata.RawQuote) || q.CertificationData.PCKChainPEM[0] != '-' {
		t.Error("Quote aliases its input")
	}
}

// TestParseQuoteErrors is the parse half of the tampering table: every
// malformed quote fails with an error naming the field and its offsets.
func TestParseQuoteErrors(t *testing.T) {
	sample := testdata.RawQuote
	pki := newTestPKI(t)
	v5 := buildQuote(t, pki, quoteSpec{version: 5, bodyType: BodyTypeTD10})
	le16 := func(off int, v uint16) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint16(b[off:], v) }
	}
	le32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
	}
	chainStart := offQEAuthLen + 2 + 32 + 6
	tests := []struct {
		name     string
		raw      []byte
		wantErr  error    // errors.Is, if set
		wantText []string // substrings
	}{
		{"empty", nil, ErrMalformedQuote, []string{"version needs bytes 0x000–0x002 but the quote ends at 0x000"}},
		{"1 byte", sample[:1], ErrMalformedQuote, []string{"version needs bytes 0x000–0x002"}},
		{"truncated in the header", sample[:0x2f], ErrMalformedQuote, []string{"quote header needs bytes 0x000–0x030 but the quote ends at 0x02f"}},
		{"truncated at the body", sample[:0x30], ErrMalformedQuote, []string{"TD quote body needs bytes 0x030–0x278 but the quote ends at 0x030"}},
		{"truncated in RTMR3", sample[:offRTMR3+10], ErrMalformedQuote, []string{"TD quote body needs bytes 0x030–0x278"}},
		{"truncated before the signature data length", sample[:0x278], ErrMalformedQuote, []string{"signature data length needs bytes 0x278–0x27c"}},
		{"truncated in the signature data length", sample[:0x27a], ErrMalformedQuote, []string{"signature data length needs bytes 0x278–0x27c but the quote ends at 0x27a"}},
		{"truncated in the signature", sample[:0x300], ErrMalformedQuote, []string{"signature data needs bytes 0x27c–0x1347 but the quote ends at 0x300"}},
		{"truncated in the PCK chain", sample[:len(sample)-100], ErrMalformedQuote, []string{"signature data needs bytes 0x27c–0x1347"}},
		{"signature data length too small", patched(sample, le32(offSigDataLen, 100)), ErrMalformedQuote,
			[]string{"ECDSA signature and attestation key needs bytes 0x27c–0x2fc but the signature data ends at 0x2e0"}},
		{"signature data length one short", patched(sample, le32(offSigDataLen, 4298)), ErrMalformedQuote,
			[]string{"certification data needs bytes 0x302–0x1347 but the signature data ends at 0x1346"}},
		{"certification data size too large", patched(sample, le32(offCertDataSize, 5000)), ErrMalformedQuote,
			[]string{"certification data needs bytes 0x302–0x168a but the signature data ends at 0x1347"}},
		{"certification data size too small", patched(sample, le32(offCertDataSize, 4164)), ErrMalformedQuote,
			[]string{"1 unexpected bytes at 0x1346 after the certification data"}},
		{"QE auth data length too large", patched(sample, le16(offQEAuthLen, 0xffff)), ErrMalformedQuote,
			[]string{"QE auth data needs bytes 0x4c4–0x104c3 but the certification data ends at 0x1347"}},
		{"PCK chain size too large", patched(sample, le32(chainStart-4, 4000)), ErrMalformedQuote,
			[]string{"PCK certificate chain needs bytes", "but the certification data ends at 0x1347"}},
		{"certification data type 5 at the top", patched(sample, le16(offCertDataType, 5)), ErrMalformedQuote,
			[]string{"certification data type 5 at 0x2fc (want 6"}},
		{"nested certification data type 4", patched(sample, le16(chainStart-6, 4)), ErrMalformedQuote,
			[]string{"nested certification data type 4 at 0x4e4 (want 5"}},
		{"PEM chain not a certificate", patched(sample, func(b []byte) { copy(b[chainStart+200:], "@@@@") }), ErrMalformedQuote,
			[]string{"PCK certificate chain at 0x4ea: certificate 1 is not valid PEM"}},
		{"junk between PEM blocks", patched(sample, func(b []byte) {
			i := chainStart + bytes.Index(b[chainStart:], []byte("-----END CERTIFICATE-----\n")) + 26
			copy(b[i:], "x")
		}), ErrMalformedQuote, []string{"PCK certificate chain at 0x4ea: non-PEM data where certificate 2 should start"}},
		{"version 5 patched on a v4 quote", patched(sample, le16(0, 5)), ErrMalformedQuote,
			[]string{"v5 body descriptor at 0x030 gives body type 3 with size 4 at 0x032; want 648"}},
		{"version 7", patched(sample, le16(0, 7)), ErrQuoteVersion, []string{"unsupported quote version 7 at 0x000 (want 4 or 5"}},
		{"version 3 (SGX)", patched(sample, le16(0, 3)), ErrSGXQuote, []string{"unsupported quote version 3", "SGX quotes are not accepted"}},
		{"TEE type SGX", patched(sample, le32(offTEEType, 0)), ErrSGXQuote, []string{"TEE type 0x00000000 (SGX) at 0x004", "SGX quotes are not accepted"}},
		{"TEE type unknown", patched(sample, le32(offTEEType, 0x82)), ErrTEEType, []string{"TEE type 0x00000082 at 0x004 (want 0x00000081, TDX)"}},
		{"attestation key type 3", patched(sample, le16(2, 3)), ErrAttestationKeyType, []string{"attestation key type 3 at 0x002 (want 2"}},
		{"v5 body type 1 (SGX)", patched(v5, le16(0x30, 1)), ErrSGXQuote, []string{"v5 body type 1 (SGX enclave report) at 0x030"}},
		{"v5 body type 9", patched(v5, le16(0x30, 9)), ErrMalformedQuote, []string{"v5 body type 9 at 0x030"}},
		{"v5 body type 2 with size 648", patched(v5, le32(0x32, 648)), ErrMalformedQuote, []string{"body type 2 with size 648 at 0x032; want 584"}},
		{"v5 truncated in the descriptor", v5[:0x33], ErrMalformedQuote, []string{"v5 body descriptor needs bytes 0x030–0x036"}},
		{"v5 truncated in the body", v5[:0x100], ErrMalformedQuote, []string{"TD quote body needs bytes 0x036–0x27e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := ParseQuote(tt.raw)
			if err == nil {
				t.Fatalf("ParseQuote succeeded: %+v", q)
			}
			if q != nil {
				t.Error("ParseQuote returned a quote with its error")
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want errors.Is %v", err, tt.wantErr)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error = %q, want it to contain %q", err, s)
				}
			}
			// VerifyQuote fails the same way, with no Verification.
			v, verr := VerifyQuote(tt.raw, VerifyOptions{Now: sampleNow})
			if v != nil || verr == nil || verr.Error() != err.Error() {
				t.Errorf("VerifyQuote = %v, %v; want nil and the parse error", v, verr)
			}
		})
	}
}

func TestTruncatedErrorType(t *testing.T) {
	_, err := ParseQuote(testdata.RawQuote[:0x300])
	var te *TruncatedError
	if !errors.As(err, &te) {
		t.Fatalf("error = %v, want *TruncatedError", err)
	}
	want := TruncatedError{Field: "signature data", Start: 0x27c, End: 0x1347, Limit: 0x300, Container: "quote"}
	if *te != want {
		t.Errorf("TruncatedError = %+v, want %+v", *te, want)
	}
}

func TestParseQuoteTrailingGarbage(t *testing.T) {
	raw := append(append([]byte(nil), testdata.RawQuote...), bytes.Repeat([]byte{0xee}, 1000)...)
	q, err := ParseQuote(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.ExtraBytes) != 1039 {
		t.Errorf("ExtraBytes = %d bytes, want 1039", len(q.ExtraBytes))
	}
	if _, err := VerifyQuote(raw, VerifyOptions{Now: sampleNow}); err != nil {
		t.Errorf("VerifyQuote with trailing bytes: %v (they are not signed and must be ignored)", err)
	}
}

func TestParseQuoteV5(t *testing.T) {
	pki := newTestPKI(t)
	sample := sampleQuote(t)
	for _, tc := range []struct {
		name     string
		bodyType uint16
		size     uint32
	}{
		{"TD report 1.0", BodyTypeTD10, 584},
		{"TD report 1.5", BodyTypeTD15, 648},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := buildQuote(t, pki, quoteSpec{version: 5, bodyType: tc.bodyType})
			q, err := ParseQuote(raw)
			if err != nil {
				t.Fatal(err)
			}
			if q.Version != 5 || q.BodyType != tc.bodyType || q.BodySize != tc.size {
				t.Errorf("version %d body %d/%d, want 5 %d/%d", q.Version, q.BodyType, q.BodySize, tc.bodyType, tc.size)
			}
			if q.Measurements() != sample.Measurements() || q.ReportData != sample.ReportData ||
				q.TEETCBSVN != sample.TEETCBSVN || q.TDAttributes != sample.TDAttributes || q.MRSEAM != sample.MRSEAM {
				t.Error("v5 body fields differ from the v4 sample they were copied from")
			}
			if got := len(q.SignedMessage()); got != 0x36+int(tc.size) {
				t.Errorf("signed message is %d bytes, want header+descriptor+body = %d", got, 0x36+tc.size)
			}
			var wantSvn2 [16]byte
			var wantSvcTD [48]byte
			if tc.bodyType == BodyTypeTD15 {
				for i := range wantSvn2 {
					wantSvn2[i] = byte(0xA0 + i)
				}
				for i := range wantSvcTD {
					wantSvcTD[i] = byte(0xA0 + (16+i)%16)
				}
			}
			if q.TEETCBSVN2 != wantSvn2 || q.MRServiceTD != wantSvcTD {
				t.Errorf("TEE_TCB_SVN_2 %x MRSERVICETD %x, want %x %x", q.TEETCBSVN2, q.MRServiceTD, wantSvn2, wantSvcTD)
			}
			if got := hex.EncodeToString(imageHashOf(q)); got != "6f07b63ffaad70ee8ffd5fcf7adfd79d1c853c1db0e3612568921649259771b5" {
				t.Errorf("image hash = %s, want the sample's (the 1.5 fields are not hashed)", got)
			}
		})
	}
}

func TestTDAttributes(t *testing.T) {
	tests := []struct {
		attr             TDAttributes
		debug, sept, pks bool
	}{
		{TDAttributes{}, false, false, false},
		{TDAttributes{0x01}, true, false, false},
		{TDAttributes{0, 0, 0, 0x10}, false, true, false}, // Cocoon's quote.dat: 0000001000000000
		{TDAttributes{0, 0, 0, 0x40}, false, false, true}, // the go-tdx-guest sample
		{TDAttributes{0x01, 0, 0, 0x50}, true, true, true},
	}
	for _, tt := range tests {
		if tt.attr.Debug() != tt.debug || tt.attr.SEPTVEDisable() != tt.sept || tt.attr.PKS() != tt.pks {
			t.Errorf("%x: Debug %v SEPT_VE_DISABLE %v PKS %v, want %v %v %v", tt.attr[:],
				tt.attr.Debug(), tt.attr.SEPTVEDisable(), tt.attr.PKS(), tt.debug, tt.sept, tt.pks)
		}
	}
}
