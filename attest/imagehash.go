package attest

import "crypto/sha256"

// Measurements are the TD measurement registers that make up the Cocoon
// image hash (spec §3). In a v4 quote they are the contiguous bytes
// 0x0B8–0x238; in a TD report, 0x210–0x390.
type Measurements struct {
	MRTD          [48]byte
	MRConfigID    [48]byte
	MROwner       [48]byte
	MROwnerConfig [48]byte
	RTMR          [4][48]byte
}

// imageHashInputSize is the size of the serialised attestation data that
// Cocoon hashes: 8 × 48 bytes of measurements plus the 64-byte REPORTDATA,
// zeroed.
const imageHashInputSize = 8*48 + 64

// ImageHash returns Cocoon's image hash of m: SHA-256 over MRTD, MRCONFIGID,
// MROWNER, MROWNERCONFIG, RTMR0..3 and 64 zero bytes (REPORTDATA zeroed), with
// no length prefixes or padding. TDATTRIBUTES (including DEBUG), XFAM, MRSEAM
// and the TCB SVNs are not covered.
func (m Measurements) ImageHash() [32]byte {
	var buf [imageHashInputSize]byte
	b := buf[:0]
	b = append(b, m.MRTD[:]...)
	b = append(b, m.MRConfigID[:]...)
	b = append(b, m.MROwner[:]...)
	b = append(b, m.MROwnerConfig[:]...)
	for i := range m.RTMR {
		b = append(b, m.RTMR[i][:]...)
	}
	// The remaining 64 bytes of buf stay zero: that is the zeroed REPORTDATA.
	return sha256.Sum256(buf[:])
}

// FakeTDXImageHash is the Cocoon image hash of fake TDX, whose measurements
// are all zero: SHA-256 of 448 zero bytes,
// 5c55c8f4db4010ba9203d83536d0609856af8c847ac039e37e7dde8fbd574b61.
// Treat it as a constant.
var FakeTDXImageHash = Measurements{}.ImageHash()
