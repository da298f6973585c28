package standin

import (
	"crypto/sha256"
	"encoding/base64"

	"github.com/sigurn/crc16"
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
	crc := crc16.Checksum(b, xmodem)
	b = append(b, byte(crc>>8), byte(crc))
	return base64.URLEncoding.EncodeToString(b)
}

// xmodem is CRC-16/XMODEM, the checksum of user-friendly TON addresses.
var xmodem = crc16.MakeTable(crc16.CRC16_XMODEM)
