package update

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
)

// VerifyDownload reads an artifact from r and checks it against the
// feed's SHA-256 (hex) and size in bytes. It reads at most size+1 bytes,
// so a source that sends more cannot make it read without end. Only an
// artifact that passes may be offered for installation.
func VerifyDownload(r io.Reader, sha256hex string, size int64) error {
	want, err := hex.DecodeString(sha256hex)
	if err != nil || len(want) != sha256.Size {
		return &Error{Kind: ErrDownload, Msg: fmt.Sprintf("the expected SHA-256 %q is not 64 hex digits", sha256hex)}
	}
	if size <= 0 {
		return &Error{Kind: ErrDownload, Msg: fmt.Sprintf("the expected size %d is not a positive number of bytes", size)}
	}
	h := sha256.New()
	n, err := io.CopyN(h, r, size+1)
	if err != nil && err != io.EOF {
		return &Error{Kind: ErrDownload, Err: err, Msg: fmt.Sprintf("reading the download failed after %d bytes: %v", n, err)}
	}
	switch {
	case n > size:
		return &Error{Kind: ErrDownload, Msg: fmt.Sprintf("the download is larger than the %d bytes the release feed lists: it is not the released file; do not install it", size)}
	case n < size:
		return &Error{Kind: ErrDownload, Msg: fmt.Sprintf("the download is %d bytes, the release feed lists %d: it is incomplete or not the released file; do not install it", n, size)}
	}
	if got := h.Sum(nil); subtle.ConstantTimeCompare(got, want) != 1 {
		return &Error{Kind: ErrDownload, Msg: fmt.Sprintf("the download's SHA-256 is %x, the release feed lists %x: it is damaged or not the released file; do not install it", got, want)}
	}
	return nil
}
