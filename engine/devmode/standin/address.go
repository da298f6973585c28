package standin

import (
	"crypto/sha256"
	"encoding/base64"
)

// TON amounts in nanoTON.
const nanoPerTON = 1_000_000_000

// DevAddress returns a TON-style user-friendly address for a stand-in
// account named by label: the 48-character base64url form with tag 0x51
// (non-bounceable), workchain 0, account hash SHA-256(label) and a
// CRC16-XMODEM checksum. The same label always gives the same address, and
// the text is valid for every address parser; no key belongs to it.
func DevAddress(label string) string {
	h := sha256.Sum256([]byte(label))
	b := make([]byte, 0, 36)
	b = append(b, 0x51, 0x00)
	b = append(b, h[:]...)
	crc := crc16XModem(b)
	b = append(b, byte(crc>>8), byte(crc))
	return base64.URLEncoding.EncodeToString(b)
}

// crc16XModem is CRC-16/XMODEM (polynomial 0x1021, initial value 0).
func crc16XModem(b []byte) uint16 {
	var crc uint16
	for _, x := range b {
		crc ^= uint16(x) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
