package attest

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
)

// Quote header values (spec §1).
const (
	// TEETypeTDX is the header's TEE type of a TDX quote.
	TEETypeTDX uint32 = 0x00000081
	// TEETypeSGX is the header's TEE type of an SGX quote; rejected.
	TEETypeSGX uint32 = 0x00000000
	// AttestationKeyECDSAP256 is the only attestation key type there is:
	// ECDSA-256 with P-256.
	AttestationKeyECDSAP256 uint16 = 2
)

// Body types of a v5 quote's body descriptor (spec §1.2). A v4 quote has no
// descriptor; ParseQuote reports it as BodyTypeTD10.
const (
	BodyTypeSGX  uint16 = 1 // SGX enclave report, 384 bytes; rejected
	BodyTypeTD10 uint16 = 2 // TD report 1.0, 584 bytes
	BodyTypeTD15 uint16 = 3 // TD report 1.5, 648 bytes
)

// Certification data types (spec §1.1).
const (
	// CertDataPCKChain is a PEM chain PCK leaf → PCK CA → root.
	CertDataPCKChain uint16 = 5
	// CertDataQEReport is QE report certification data: QE report, its
	// signature, QE auth data and nested certification data (type 5).
	CertDataQEReport uint16 = 6
)

// Sizes and offsets of the quote layout (spec §1). Offsets inside the body
// are relative to its start.
const (
	quoteHeaderSize   = 0x30  // 48
	tdBody10Size      = 0x248 // 584
	tdBody15Size      = 0x288 // 648
	bodyDescSize      = 6     // v5: u16 body type, u32 body size
	qeReportSize      = 0x180 // 384: an SGX report body
	ecdsaSigSize      = 64    // r‖s, big-endian
	ecdsaKeySize      = 64    // X‖Y, big-endian
	certDataHdrSize   = 6     // u16 type, u32 size
	qeReportDataStart = 0x140 // REPORTDATA inside the QE report

	bodyMRTD   = 0x88
	bodyRTMR0  = 0x148
	bodyReport = 0x208
)

// Errors from ParseQuote, wrapped with details; match with errors.Is.
var (
	// ErrMalformedQuote: the bytes do not have the layout of a TDX quote.
	// *TruncatedError matches it too.
	ErrMalformedQuote = errors.New("attest: malformed quote")
	// ErrQuoteVersion: the version is neither 4 nor 5 (and the quote is not
	// the 64-byte fake-TDX form).
	ErrQuoteVersion = errors.New("attest: unsupported quote version")
	// ErrTEEType: the header's TEE type is not TDX.
	ErrTEEType = errors.New("attest: quote is not a TDX quote")
	// ErrAttestationKeyType: the attestation key is not ECDSA-256 with P-256.
	ErrAttestationKeyType = errors.New("attest: unsupported attestation key type")
	// ErrSGXQuote: the quote is an SGX quote (version 3, TEE type 0 or v5
	// body type 1). Cocoon workers and proxies run in TDX only.
	ErrSGXQuote = errors.New("SGX quotes are not accepted")
)

// TruncatedError reports a field that runs past the end of the quote or of
// the structure that holds it.
type TruncatedError struct {
	Field      string // the field that does not fit
	Start, End int    // the byte range it needs, from the start of the quote
	Limit      int    // where its container ends, from the start of the quote
	Container  string // "quote", "signature data", "certification data"
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("attest: malformed quote: truncated: %s needs bytes 0x%03x–0x%03x but the %s ends at 0x%03x",
		e.Field, e.Start, e.End, e.Container, e.Limit)
}

// Unwrap makes a TruncatedError match ErrMalformedQuote.
func (e *TruncatedError) Unwrap() error { return ErrMalformedQuote }

// TDAttributes is the TD's TDATTRIBUTES field (8 bytes, little-endian).
type TDAttributes [8]byte

// Uint64 returns the attributes as a number (bit 0 is DEBUG).
func (a TDAttributes) Uint64() uint64 { return binary.LittleEndian.Uint64(a[:]) }

// Debug reports bit 0, DEBUG: the host can read and change the TD's state,
// so a debug TD proves nothing. The image hash does not cover it.
func (a TDAttributes) Debug() bool { return a[0]&1 != 0 }

// SEPTVEDisable reports bit 28, SEPT_VE_DISABLE.
func (a TDAttributes) SEPTVEDisable() bool { return a.Uint64()&(1<<28) != 0 }

// PKS reports bit 30, PKS (supervisor protection keys).
func (a TDAttributes) PKS() bool { return a.Uint64()&(1<<30) != 0 }

// CertificationData is the quote's certification data of type 6 (QE report
// certification data) with its nested type 5 (PCK certificate chain). Its
// byte slices point into Quote.Raw.
type CertificationData struct {
	Type uint16 // always CertDataQEReport
	Raw  []byte // the whole type-6 data, after its 6-byte type and size

	QEReport          [qeReportSize]byte // SGX report body of the quoting enclave
	QEReportSignature [ecdsaSigSize]byte // r‖s by the PCK leaf key over SHA-256(QEReport)
	QEAuthData        []byte             // bound into QEReport's REPORTDATA

	PCKChainType uint16              // always CertDataPCKChain
	PCKChainPEM  []byte              // the PEM chain as carried, maybe NUL-terminated
	PCKChain     []*x509.Certificate // parsed, leaf first
}

// Quote is a parsed TDX quote (v4 or v5) or a fake-TDX quote. Byte slices
// point into Raw, a private copy of the input. For a v5 quote with a TD 1.5
// body, TEETCBSVN2 and MRServiceTD are set too; Cocoon reads only the 1.0
// fields.
type Quote struct {
	Raw []byte
	// Fake is set for the 64-byte fake-TDX form (spec §6): only ReportData
	// is set and every measurement is zero.
	Fake bool

	// Header.
	Version            uint16 // 4 or 5; 0 when Fake
	AttestationKeyType uint16
	TEEType            uint32
	// Reserved is header bytes 8–11; go-tdx-guest calls bytes 8–9 PceSvn
	// and 10–11 QeSvn.
	Reserved   [4]byte
	QEVendorID [16]byte
	UserData   [20]byte

	// BodyType and BodySize come from the v5 body descriptor; a v4 quote
	// reports BodyTypeTD10 and 584.
	BodyType uint16
	BodySize uint32

	// TD quote body.
	TEETCBSVN      [16]byte
	MRSEAM         [48]byte
	MRSignerSEAM   [48]byte
	SEAMAttributes [8]byte
	TDAttributes   TDAttributes
	XFAM           [8]byte
	MRTD           [48]byte
	MRConfigID     [48]byte
	MROwner        [48]byte
	MROwnerConfig  [48]byte
	RTMR           [4][48]byte
	ReportData     [64]byte
	TEETCBSVN2     [16]byte // TD 1.5 body only
	MRServiceTD    [48]byte // TD 1.5 body only

	// Signature data.
	SignedDataSize    uint32
	Signature         [ecdsaSigSize]byte // r‖s over SHA-256(SignedMessage())
	AttestationKey    [ecdsaKeySize]byte // X‖Y on P-256
	CertificationData CertificationData
	// ExtraBytes follow the signature data; they are not signed and are
	// ignored, as in go-tdx-guest and Cocoon. Nil when there are none.
	ExtraBytes []byte

	signedEnd int // end of the signed message (header ‖ [descriptor ‖] body)
}

// Measurements returns the registers that make up the Cocoon image hash.
func (q *Quote) Measurements() Measurements {
	return Measurements{
		MRTD:          q.MRTD,
		MRConfigID:    q.MRConfigID,
		MROwner:       q.MROwner,
		MROwnerConfig: q.MROwnerConfig,
		RTMR:          q.RTMR,
	}
}

// SignedMessage returns the bytes the attestation key signs: header ‖ body
// for v4, header ‖ body descriptor ‖ body for v5. Nil for a fake quote.
func (q *Quote) SignedMessage() []byte {
	if q.Fake {
		return nil
	}
	return q.Raw[:q.signedEnd:q.signedEnd]
}

// ParseQuote parses a TDX quote: the 64-byte fake-TDX form (checked first,
// by length), a v4 quote (the layout go-tdx-guest reads, with the same
// results) or a v5 quote whose body is a TD report 1.0 (type 2, 584 bytes)
// or 1.5 (type 3, 648 bytes). The certification data must be of type 6
// holding type 5, as in every DCAP quote; the PCK chain is parsed into
// certificates but not verified (see VerifyQuote).
//
// Errors name the field and its byte offsets: *TruncatedError and
// ErrMalformedQuote for layout problems, ErrQuoteVersion, ErrTEEType,
// ErrAttestationKeyType and ErrSGXQuote for quotes of the wrong kind.
// Bytes after the signature data are kept in ExtraBytes.
func ParseQuote(raw []byte) (*Quote, error) {
	raw = bytes.Clone(raw)
	if IsFakeQuote(raw) {
		q := &Quote{Raw: raw, Fake: true}
		copy(q.ReportData[:], raw)
		return q, nil
	}
	p := quoteParser{raw: raw}
	q := &Quote{Raw: raw}
	if err := p.header(q); err != nil {
		return nil, err
	}
	if err := p.signatureData(q); err != nil {
		return nil, err
	}
	return q, nil
}

// quoteParser reads one quote; every read is bounds-checked.
type quoteParser struct {
	raw []byte
}

// need checks that [start, start+size) lies within [0, limit).
func (p *quoteParser) need(field string, start int, size uint64, limit int, container string) error {
	if uint64(start)+size > uint64(limit) {
		end := min(uint64(start)+size, math.MaxInt32) // a u32 size may not fit an int
		return &TruncatedError{Field: field, Start: start, End: int(end), Limit: limit, Container: container}
	}
	return nil
}

// header reads the header, the v5 body descriptor and the body.
func (p *quoteParser) header(q *Quote) error {
	raw := p.raw
	if err := p.need("version", 0, 2, len(raw), "quote"); err != nil {
		return err
	}
	q.Version = binary.LittleEndian.Uint16(raw[0:2])
	switch q.Version {
	case 4, 5:
	case 3:
		return fmt.Errorf("%w 3 at 0x000: version 3 is an SGX quote; %w", ErrQuoteVersion, ErrSGXQuote)
	default:
		return fmt.Errorf("%w %d at 0x000 (want 4 or 5, or a %d-byte fake-TDX quote)", ErrQuoteVersion, q.Version, FakeQuoteSize)
	}
	if err := p.need("quote header", 0, quoteHeaderSize, len(raw), "quote"); err != nil {
		return err
	}
	q.AttestationKeyType = binary.LittleEndian.Uint16(raw[2:4])
	q.TEEType = binary.LittleEndian.Uint32(raw[4:8])
	copy(q.Reserved[:], raw[8:12])
	copy(q.QEVendorID[:], raw[12:28])
	copy(q.UserData[:], raw[28:48])
	if q.AttestationKeyType != AttestationKeyECDSAP256 {
		return fmt.Errorf("%w %d at 0x002 (want %d, ECDSA-256 with P-256)", ErrAttestationKeyType, q.AttestationKeyType, AttestationKeyECDSAP256)
	}
	switch q.TEEType {
	case TEETypeTDX:
	case TEETypeSGX:
		return fmt.Errorf("%w: TEE type 0x%08x (SGX) at 0x004; %w", ErrTEEType, q.TEEType, ErrSGXQuote)
	default:
		return fmt.Errorf("%w: TEE type 0x%08x at 0x004 (want 0x%08x, TDX)", ErrTEEType, q.TEEType, TEETypeTDX)
	}

	bodyStart := quoteHeaderSize
	if q.Version == 4 {
		q.BodyType, q.BodySize = BodyTypeTD10, tdBody10Size
	} else {
		if err := p.need("v5 body descriptor", quoteHeaderSize, bodyDescSize, len(raw), "quote"); err != nil {
			return err
		}
		q.BodyType = binary.LittleEndian.Uint16(raw[0x30:0x32])
		q.BodySize = binary.LittleEndian.Uint32(raw[0x32:0x36])
		bodyStart += bodyDescSize
		var want uint32
		switch q.BodyType {
		case BodyTypeTD10:
			want = tdBody10Size
		case BodyTypeTD15:
			want = tdBody15Size
		case BodyTypeSGX:
			return fmt.Errorf("%w: v5 body type 1 (SGX enclave report) at 0x030; %w", ErrMalformedQuote, ErrSGXQuote)
		default:
			return fmt.Errorf("%w: v5 body type %d at 0x030 (want 2, TD report 1.0, or 3, TD report 1.5)", ErrMalformedQuote, q.BodyType)
		}
		if q.BodySize != want {
			return fmt.Errorf("%w: v5 body descriptor at 0x030 gives body type %d with size %d at 0x032; want %d",
				ErrMalformedQuote, q.BodyType, q.BodySize, want)
		}
	}
	if err := p.need("TD quote body", bodyStart, uint64(q.BodySize), len(raw), "quote"); err != nil {
		return err
	}
	b := raw[bodyStart : bodyStart+int(q.BodySize)]
	copy(q.TEETCBSVN[:], b[0x00:0x10])
	copy(q.MRSEAM[:], b[0x10:0x40])
	copy(q.MRSignerSEAM[:], b[0x40:0x70])
	copy(q.SEAMAttributes[:], b[0x70:0x78])
	copy(q.TDAttributes[:], b[0x78:0x80])
	copy(q.XFAM[:], b[0x80:bodyMRTD])
	copy(q.MRTD[:], b[bodyMRTD:0xB8])
	copy(q.MRConfigID[:], b[0xB8:0xE8])
	copy(q.MROwner[:], b[0xE8:0x118])
	copy(q.MROwnerConfig[:], b[0x118:bodyRTMR0])
	for i := range q.RTMR {
		copy(q.RTMR[i][:], b[bodyRTMR0+48*i:])
	}
	copy(q.ReportData[:], b[bodyReport:tdBody10Size])
	if q.BodyType == BodyTypeTD15 {
		copy(q.TEETCBSVN2[:], b[tdBody10Size:tdBody10Size+16])
		copy(q.MRServiceTD[:], b[tdBody10Size+16:tdBody15Size])
	}
	q.signedEnd = bodyStart + int(q.BodySize)
	return nil
}

// signatureData reads the signature data after the body: the ECDSA
// signature, the attestation key and the certification data.
func (p *quoteParser) signatureData(q *Quote) error {
	raw := p.raw
	off := q.signedEnd
	if err := p.need("signature data length", off, 4, len(raw), "quote"); err != nil {
		return err
	}
	q.SignedDataSize = binary.LittleEndian.Uint32(raw[off : off+4])
	sdStart := off + 4
	if err := p.need("signature data", sdStart, uint64(q.SignedDataSize), len(raw), "quote"); err != nil {
		return err
	}
	sdEnd := sdStart + int(q.SignedDataSize)
	if sdEnd < len(raw) {
		q.ExtraBytes = raw[sdEnd:]
	}

	const sd = "signature data"
	if err := p.need("ECDSA signature and attestation key", sdStart, ecdsaSigSize+ecdsaKeySize, sdEnd, sd); err != nil {
		return err
	}
	copy(q.Signature[:], raw[sdStart:])
	copy(q.AttestationKey[:], raw[sdStart+ecdsaSigSize:])

	cdHdr := sdStart + ecdsaSigSize + ecdsaKeySize
	if err := p.need("certification data header", cdHdr, certDataHdrSize, sdEnd, sd); err != nil {
		return err
	}
	cd := &q.CertificationData
	cd.Type = binary.LittleEndian.Uint16(raw[cdHdr:])
	cdSize := binary.LittleEndian.Uint32(raw[cdHdr+2:])
	if cd.Type != CertDataQEReport {
		return fmt.Errorf("%w: certification data type %d at 0x%03x (want %d, QE report certification data)",
			ErrMalformedQuote, cd.Type, cdHdr, CertDataQEReport)
	}
	cdStart := cdHdr + certDataHdrSize
	if err := p.need("certification data", cdStart, uint64(cdSize), sdEnd, sd); err != nil {
		return err
	}
	cdEnd := cdStart + int(cdSize)
	if cdEnd != sdEnd {
		return fmt.Errorf("%w: %d unexpected bytes at 0x%03x after the certification data, inside the signature data",
			ErrMalformedQuote, sdEnd-cdEnd, cdEnd)
	}
	cd.Raw = raw[cdStart:cdEnd:cdEnd]
	return p.qeReportCertData(cd, cdStart, cdEnd)
}

// qeReportCertData reads certification data of type 6 at raw[start:end].
func (p *quoteParser) qeReportCertData(cd *CertificationData, start, end int) error {
	raw := p.raw
	const c = "certification data"
	if err := p.need("QE report and its signature", start, qeReportSize+ecdsaSigSize, end, c); err != nil {
		return err
	}
	copy(cd.QEReport[:], raw[start:])
	copy(cd.QEReportSignature[:], raw[start+qeReportSize:])

	authHdr := start + qeReportSize + ecdsaSigSize
	if err := p.need("QE auth data length", authHdr, 2, end, c); err != nil {
		return err
	}
	authLen := int(binary.LittleEndian.Uint16(raw[authHdr:]))
	if err := p.need("QE auth data", authHdr+2, uint64(authLen), end, c); err != nil {
		return err
	}
	cd.QEAuthData = raw[authHdr+2 : authHdr+2+authLen : authHdr+2+authLen]

	chainHdr := authHdr + 2 + authLen
	if err := p.need("PCK chain certification data header", chainHdr, certDataHdrSize, end, c); err != nil {
		return err
	}
	cd.PCKChainType = binary.LittleEndian.Uint16(raw[chainHdr:])
	chainSize := binary.LittleEndian.Uint32(raw[chainHdr+2:])
	if cd.PCKChainType != CertDataPCKChain {
		return fmt.Errorf("%w: nested certification data type %d at 0x%03x (want %d, PCK certificate chain)",
			ErrMalformedQuote, cd.PCKChainType, chainHdr, CertDataPCKChain)
	}
	chainStart := chainHdr + certDataHdrSize
	if err := p.need("PCK certificate chain", chainStart, uint64(chainSize), end, c); err != nil {
		return err
	}
	chainEnd := chainStart + int(chainSize)
	if chainEnd != end {
		return fmt.Errorf("%w: %d unexpected bytes at 0x%03x after the PCK certificate chain, inside the certification data",
			ErrMalformedQuote, end-chainEnd, chainEnd)
	}
	cd.PCKChainPEM = raw[chainStart:chainEnd:chainEnd]
	certs, err := parsePCKChain(cd.PCKChainPEM)
	if err != nil {
		return fmt.Errorf("%w: PCK certificate chain at 0x%03x: %w", ErrMalformedQuote, chainStart, err)
	}
	cd.PCKChain = certs
	return nil
}

// parsePCKChain parses a PEM chain of CERTIFICATE blocks, strictly: every
// block must decode (pem.Decode alone would skip a corrupt block and go on
// to the next), and only whitespace and NUL bytes (DCAP NUL-terminates the
// chain) may surround the blocks.
func parsePCKChain(b []byte) ([]*x509.Certificate, error) {
	const blank = "\x00 \t\r\n"
	var certs []*x509.Certificate
	rest := bytes.TrimLeft(b, blank)
	for len(rest) > 0 {
		n := len(certs) + 1
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("non-PEM data where certificate %d should start", n)
		}
		end := bytes.Index(rest, []byte("-----END "))
		if end < 0 {
			return nil, fmt.Errorf("certificate %d has no END line", n)
		}
		if nl := bytes.IndexByte(rest[end:], '\n'); nl >= 0 {
			end += nl + 1
		} else {
			end = len(rest)
		}
		block, tail := pem.Decode(rest[:end])
		if block == nil || len(bytes.TrimSpace(tail)) > 0 {
			return nil, fmt.Errorf("certificate %d is not valid PEM", n)
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is %q, want CERTIFICATE", n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n, err)
		}
		certs = append(certs, c)
		rest = bytes.TrimLeft(rest[end:], blank)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}
