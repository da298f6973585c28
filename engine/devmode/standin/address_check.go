package standin

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/sigurn/crc16"
)

// checkAddress reports whether s is a TON address in user-friendly form
// (48 characters, base64url or base64, valid CRC16) or raw form
// ("workchain:64 hex digits").
func checkAddress(s string) error {
	if wc, h, ok := strings.Cut(s, ":"); ok {
		if _, err := strconv.ParseInt(wc, 10, 32); err != nil || len(h) != 64 {
			return fmt.Errorf("address %.80q: raw form must be workchain:64 hex digits", s)
		}
		if _, err := hex.DecodeString(h); err != nil {
			return fmt.Errorf("address %.80q: raw form must be workchain:64 hex digits", s)
		}
		return nil
	}
	if len(s) != 48 {
		return fmt.Errorf("address %.80q: want 48 characters (user-friendly form), have %d", s, len(s))
	}
	b, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.StdEncoding.DecodeString(s)
	}
	if err != nil {
		return fmt.Errorf("address %q: not base64: %w", s, err)
	}
	if crc := crc16.Checksum(b[:34], xmodem); uint16(b[34])<<8|uint16(b[35]) != crc {
		return fmt.Errorf("address %q: checksum mismatch (a typo?)", s)
	}
	return nil
}
