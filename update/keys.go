package update

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// releaseKey is the release signing public key (base64 Ed25519; several
// separated by commas), set when a release is built:
//
//	-ldflags "-X github.com/cocoon-provider/cocoon-provider/update.releaseKey=…"
var releaseKey string

// ReleasesPage is where releases are published, for a user whose build
// cannot check for updates by itself.
const ReleasesPage = "https://github.com/cocoon-provider/cocoon-provider/releases"

// MaxSignatures is how many signature lines a signature file may hold.
const MaxSignatures = 8

// PinnedKeys returns the release keys pinned in this build. A build
// without one returns ErrNoPinnedKey: it cannot check for updates.
func PinnedKeys() ([]ed25519.PublicKey, error) {
	fields := strings.FieldsFunc(releaseKey, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
	if len(fields) == 0 {
		return nil, noPinnedKey()
	}
	keys := make([]ed25519.PublicKey, 0, len(fields))
	for _, f := range fields {
		k, err := ParsePublicKey(f)
		if err != nil {
			return nil, &Error{Kind: ErrNoPinnedKey, Err: err,
				Msg: fmt.Sprintf("this build cannot check for updates: the release key pinned in it is not usable (%v); get releases from %s", err, ReleasesPage)}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func noPinnedKey() error {
	return &Error{Kind: ErrNoPinnedKey, Msg: "this build cannot check for updates: no release key is pinned in it " +
		"(release builds pin one when they are built), and a release feed is never used without checking its signature; " +
		"get releases from " + ReleasesPage}
}

// ParsePublicKey reads a base64 Ed25519 public key (32 bytes).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := decodeB64(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("release key: not base64")
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("release key: %d bytes, an Ed25519 public key has %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// ParsePrivateKey reads a base64 Ed25519 private key: its 32-byte seed
// (as feedsign keygen writes it) or the 64-byte seed‖public form.
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	b, err := decodeB64(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("signing key: not base64")
	}
	switch len(b) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case ed25519.PrivateKeySize:
		k := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		if !bytes.Equal(k[ed25519.SeedSize:], b[ed25519.SeedSize:]) {
			return nil, errors.New("signing key: the public half does not belong to the seed")
		}
		return k, nil
	}
	return nil, fmt.Errorf("signing key: %d bytes, want a %d-byte Ed25519 seed", len(b), ed25519.SeedSize)
}

// EncodeKey is the base64 text of a key, as PinnedKeys and the key files
// read it.
func EncodeKey(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func decodeB64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// Sign signs the exact feed bytes and returns the signature file's
// content: the base64 signature and a newline.
func Sign(key ed25519.PrivateKey, feed []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(key, feed)) + "\n")
}

// Verify checks a signature file (one base64 signature a line) against
// the exact feed bytes: it succeeds when any signature verifies against
// any of keys.
func Verify(feed, sigFile []byte, keys []ed25519.PublicKey) error {
	if len(keys) == 0 {
		return noPinnedKey()
	}
	var sigs [][]byte
	for line := range strings.Lines(string(sigFile)) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(sigs) == MaxSignatures {
			return &Error{Kind: ErrSignature, Err: ErrSignatureFile, Msg: fmt.Sprintf("the release feed's signature file holds more than %d signatures; no update was offered", MaxSignatures)}
		}
		b, err := decodeB64(line)
		if err != nil || len(b) != ed25519.SignatureSize {
			return &Error{Kind: ErrSignature, Err: ErrSignatureFile, Msg: "the release feed's signature file does not hold an Ed25519 signature in base64; no update was offered"}
		}
		sigs = append(sigs, b)
	}
	if len(sigs) == 0 {
		return &Error{Kind: ErrUnsigned, Msg: "the release feed's signature file is empty: an unsigned feed is never used; no update was offered"}
	}
	for _, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			continue
		}
		for _, s := range sigs {
			if ed25519.Verify(k, feed, s) {
				return nil
			}
		}
	}
	return &Error{Kind: ErrSignature, Msg: "the release feed's signature does not match the key pinned in this build: " +
		"the feed was altered or is not from the Cocoon Provider releases; no update was offered"}
}
