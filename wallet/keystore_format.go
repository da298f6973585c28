package wallet

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Keystore file format, version 1. All integers are big-endian.
//
//	offset  size  field
//	0       24    magic "cocoon-provider keystore"
//	24      2     format version = 1
//	26      1     KDF id: 1 = Argon2id
//	27      4     Argon2 time (passes)
//	31      4     Argon2 memory in KiB
//	35      1     Argon2 threads (lanes)
//	36      16    salt, random per write
//	52      1     AEAD id: 1 = XChaCha20-Poly1305
//	53      24    nonce, random per write
//	77      4     metadata length M
//	81      M     metadata, JSON (KeystoreMeta), not secret
//	81+M    4     ciphertext length C (includes the 16-byte tag)
//	85+M    C     ciphertext of the payload, then the tag
//
// Everything before the ciphertext (bytes 0 to 85+M) is the header, and the
// header bytes exactly as stored are the AEAD's associated data: changing any
// bit of the file makes decryption fail. The file ends right after the
// ciphertext; trailing bytes are refused.
//
// The payload (plaintext) is: entry count u16, then for each entry, in
// strictly increasing byte order of names: name length u8, name, value
// length u32, value.
const (
	keystoreMagic         = "cocoon-provider keystore"
	keystoreFormatVersion = 1
	keystoreKDFArgon2id   = 1
	keystoreAEADXChaCha   = 1
	keystoreSaltSize      = 16
	keystoreNonceSize     = chacha20poly1305.NonceSizeX
	keystoreKeySize       = chacha20poly1305.KeySize
	keystoreTagSize       = chacha20poly1305.Overhead
	keystoreFixedHeader   = len(keystoreMagic) + 2 + 1 + 4 + 4 + 1 + keystoreSaltSize + 1 + keystoreNonceSize + 4
	keystoreMaxFileSize   = 1 << 20
	keystoreMaxMetaSize   = 16 << 10
	keystoreMaxEntries    = 64
	keystoreMaxNameLen    = 64
	keystoreMaxValueLen   = 64 << 10
	keystoreMaxMetaField  = 256
)

// KeystoreKDF holds Argon2id parameters. They are stored in each file, so a
// keystore written with other parameters still opens.
type KeystoreKDF struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // lanes, each run on its own goroutine
}

// DefaultKeystoreKDF returns what Create and Save use unless told otherwise:
// Argon2id, 8 passes over 128 MiB, 2 lanes. BenchmarkDeriveKey on a 2-core
// AMD EPYC VM: 0.36 s per derivation with the machine otherwise idle, 0.5 to
// 0.9 s while other processes kept both cores busy. RFC 9106 §4's second
// recommendation (3 passes over 64 MiB) took 0.12 s there, so the defaults
// spend more memory and passes, aiming at 0.3 to 0.8 s. Opening a keystore
// costs one derivation; Save and ChangePassphrase cost two (check the
// passphrase, then re-key with a fresh salt).
func DefaultKeystoreKDF() KeystoreKDF {
	return KeystoreKDF{Time: 8, MemoryKiB: 128 << 10, Threads: 2}
}

// keystoreMaxKDF bounds what a file may ask for, so that a damaged or hostile
// file cannot make Open run for minutes or allocate gigabytes.
var keystoreMaxKDF = KeystoreKDF{Time: 32, MemoryKiB: 1 << 20, Threads: 16}

func (p KeystoreKDF) String() string {
	return fmt.Sprintf("argon2id time=%d memory=%dKiB threads=%d", p.Time, p.MemoryKiB, p.Threads)
}

// check reports whether p is usable and within max.
func (p KeystoreKDF) check(max KeystoreKDF) error {
	if p.Time < 1 || p.Threads < 1 || p.MemoryKiB < 8*uint32(p.Threads) ||
		p.Time > max.Time || p.MemoryKiB > max.MemoryKiB || p.Threads > max.Threads {
		return fmt.Errorf("%w: %v; accepted: time 1..%d, memory 8×threads..%d KiB, threads 1..%d",
			ErrKeystoreKDF, p, max.Time, max.MemoryKiB, max.Threads)
	}
	return nil
}

func deriveKeystoreKey(passphrase, salt []byte, p KeystoreKDF) []byte {
	return argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, keystoreKeySize)
}

// KeystoreMeta is the keystore's non-secret metadata. It is stored in clear
// in the header, so Inspect reads it without the passphrase; Open
// authenticates it together with the secrets.
type KeystoreMeta struct {
	Created       time.Time `json:"created"`                  // set by Create, UTC, whole seconds
	Updated       time.Time `json:"updated"`                  // set by each write
	WalletVersion string    `json:"wallet_version,omitempty"` // the owner wallet's contract version, e.g. "v4r2"
	OwnerAddress  string    `json:"owner_address,omitempty"`  // the owner wallet's address, user-friendly form
}

func (m KeystoreMeta) check() error {
	for _, f := range []struct{ name, v string }{{"wallet version", m.WalletVersion}, {"owner address", m.OwnerAddress}} {
		if len(f.v) > keystoreMaxMetaField {
			return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrKeystoreEntry, f.name, len(f.v), keystoreMaxMetaField)
		}
		if strings.ContainsFunc(f.v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("%w: %s contains control characters", ErrKeystoreEntry, f.name)
		}
	}
	return nil
}

// keystoreHeader is the parsed header of a keystore file.
type keystoreHeader struct {
	version uint16
	kdf     KeystoreKDF
	salt    []byte
	nonce   []byte
	metaRaw []byte
	meta    KeystoreMeta
}

// keystoreFile is a parsed, not yet decrypted, keystore file.
type keystoreFile struct {
	hdr keystoreHeader
	ad  []byte // the header bytes as stored: the associated data
	ct  []byte // ciphertext and tag
}

// parseKeystoreFile checks the structure of data and splits it. It does not
// check the KDF parameters against limits (checkKDF does) and never
// decrypts. Slices in the result alias data.
func parseKeystoreFile(data []byte) (*keystoreFile, error) {
	truncated := func(need int) error {
		return keystoreErr(ErrKeystoreTruncated, fmt.Sprintf("file is %d bytes, at least %d expected", len(data), need))
	}
	if len(data) == 0 {
		return nil, keystoreErr(ErrKeystoreTruncated, "the file is empty")
	}
	n := min(len(data), len(keystoreMagic))
	if string(data[:n]) != keystoreMagic[:n] {
		return nil, keystoreErr(ErrNotKeystore, "it does not start with \""+keystoreMagic+"\"")
	}
	if len(data) < len(keystoreMagic)+2 {
		return nil, truncated(len(keystoreMagic) + 2)
	}
	f := &keystoreFile{}
	h := &f.hdr
	p := len(keystoreMagic)
	h.version = binary.BigEndian.Uint16(data[p:])
	p += 2
	if h.version != keystoreFormatVersion {
		return nil, keystoreErr(ErrKeystoreVersion,
			fmt.Sprintf("the file says version %d; this program reads version %d", h.version, keystoreFormatVersion))
	}
	if len(data) < keystoreFixedHeader {
		return nil, truncated(keystoreFixedHeader)
	}
	if id := data[p]; id != keystoreKDFArgon2id {
		return nil, keystoreErr(ErrKeystoreCorrupt, fmt.Sprintf("unknown key-derivation function id %d", id))
	}
	p++
	h.kdf.Time = binary.BigEndian.Uint32(data[p:])
	h.kdf.MemoryKiB = binary.BigEndian.Uint32(data[p+4:])
	h.kdf.Threads = data[p+8]
	p += 9
	h.salt = data[p : p+keystoreSaltSize]
	p += keystoreSaltSize
	if id := data[p]; id != keystoreAEADXChaCha {
		return nil, keystoreErr(ErrKeystoreCorrupt, fmt.Sprintf("unknown cipher id %d", id))
	}
	p++
	h.nonce = data[p : p+keystoreNonceSize]
	p += keystoreNonceSize
	metaLen := binary.BigEndian.Uint32(data[p:])
	p += 4
	if metaLen > keystoreMaxMetaSize {
		return nil, keystoreErr(ErrKeystoreCorrupt, fmt.Sprintf("metadata length %d exceeds %d", metaLen, keystoreMaxMetaSize))
	}
	if need := p + int(metaLen) + 4; len(data) < need {
		return nil, truncated(need)
	}
	h.metaRaw = data[p : p+int(metaLen)]
	p += int(metaLen)
	ctLen := binary.BigEndian.Uint32(data[p:])
	p += 4
	if ctLen < keystoreTagSize+2 || ctLen > keystoreMaxFileSize {
		return nil, keystoreErr(ErrKeystoreCorrupt, fmt.Sprintf("ciphertext length %d is out of range", ctLen))
	}
	if need := p + int(ctLen); len(data) < need {
		return nil, truncated(need)
	} else if len(data) > need {
		return nil, keystoreErr(ErrKeystoreCorrupt, fmt.Sprintf("%d unexpected bytes after the end", len(data)-need))
	}
	f.ad = data[:p]
	f.ct = data[p:]
	if err := json.Unmarshal(h.metaRaw, &h.meta); err != nil {
		return nil, keystoreErr(ErrKeystoreCorrupt, "the metadata is not valid JSON")
	}
	return f, nil
}

// checkKDF refuses parameters beyond max as damage.
func (f *keystoreFile) checkKDF(max KeystoreKDF) error {
	if err := f.hdr.kdf.check(max); err != nil {
		return keystoreErr(ErrKeystoreCorrupt, err.Error()+"; the file is damaged, or was written by a newer cocoon-provider")
	}
	return nil
}

// open decrypts the payload with key. The caller clears the result.
func (f *keystoreFile) open(key []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, f.hdr.nonce, f.ct, f.ad)
	if err != nil {
		return nil, keystoreErr(ErrWrongPassphrase, "")
	}
	return pt, nil
}

// sealKeystoreFile builds a complete file. metaRaw is the encoded metadata.
func sealKeystoreFile(kdf KeystoreKDF, salt, nonce, metaRaw, payload, key []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	ctLen := len(payload) + keystoreTagSize
	hdrLen := keystoreFixedHeader + len(metaRaw) + 4
	if len(metaRaw) > keystoreMaxMetaSize || hdrLen+ctLen > keystoreMaxFileSize {
		return nil, fmt.Errorf("%w: the keystore would be %d bytes, at most %d", ErrKeystoreEntry, hdrLen+ctLen, keystoreMaxFileSize)
	}
	hdr := make([]byte, 0, hdrLen)
	hdr = append(hdr, keystoreMagic...)
	hdr = binary.BigEndian.AppendUint16(hdr, keystoreFormatVersion)
	hdr = append(hdr, keystoreKDFArgon2id)
	hdr = binary.BigEndian.AppendUint32(hdr, kdf.Time)
	hdr = binary.BigEndian.AppendUint32(hdr, kdf.MemoryKiB)
	hdr = append(hdr, kdf.Threads)
	hdr = append(hdr, salt...)
	hdr = append(hdr, keystoreAEADXChaCha)
	hdr = append(hdr, nonce...)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(metaRaw)))
	hdr = append(hdr, metaRaw...)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(ctLen))
	out := make([]byte, hdrLen, hdrLen+ctLen)
	copy(out, hdr)
	return aead.Seal(out, nonce, payload, hdr), nil
}

// encodeKeystoreMeta encodes m with times in UTC whole seconds.
func encodeKeystoreMeta(m KeystoreMeta) ([]byte, error) {
	m.Created = m.Created.UTC().Truncate(time.Second)
	m.Updated = m.Updated.UTC().Truncate(time.Second)
	return json.Marshal(m)
}

// checkKeystoreEntry validates one entry. Names are 1 to 64 bytes of a-z,
// 0-9, '.', '_' and '-'. The two well-known names get a shape check.
func checkKeystoreEntry(name string, value []byte) error {
	if name == "" || len(name) > keystoreMaxNameLen {
		return fmt.Errorf("%w: name %q must be 1 to %d bytes", ErrKeystoreEntry, name, keystoreMaxNameLen)
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: name %q may only contain a-z, 0-9, '.', '_' and '-'", ErrKeystoreEntry, name)
		}
	}
	if len(value) > keystoreMaxValueLen {
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrKeystoreEntry, name, len(value), keystoreMaxValueLen)
	}
	switch name {
	case KeystoreEntryNodeKey:
		if len(value) != 32 {
			return fmt.Errorf("%w: %s must be 32 bytes, got %d", ErrKeystoreEntry, name, len(value))
		}
	case KeystoreEntryOwnerMnemonic:
		// Deliberately no word-list check here (the mnemonic code does that);
		// this only catches a wrong value being stored under this name.
		// Counting without strings.Fields keeps the value out of new strings.
		words, inWord := 0, false
		for _, c := range value {
			switch {
			case 'a' <= c && c <= 'z':
				if !inWord {
					words++
				}
				inWord = true
			case c == ' ' && inWord:
				inWord = false
			default:
				return fmt.Errorf("%w: %s must be lower-case words separated by single spaces", ErrKeystoreEntry, name)
			}
		}
		if words != 24 || !inWord {
			return fmt.Errorf("%w: %s must be 24 lower-case words separated by single spaces", ErrKeystoreEntry, name)
		}
	}
	return nil
}

// encodeKeystorePayload serialises entries. The caller clears the result.
func encodeKeystorePayload(entries map[string][]byte) ([]byte, error) {
	if len(entries) > keystoreMaxEntries {
		return nil, fmt.Errorf("%w: %d entries, at most %d", ErrKeystoreEntry, len(entries), keystoreMaxEntries)
	}
	names := make([]string, 0, len(entries))
	size := 2
	for name, v := range entries {
		if err := checkKeystoreEntry(name, v); err != nil {
			return nil, err
		}
		names = append(names, name)
		size += 1 + len(name) + 4 + len(v)
	}
	slices.Sort(names)
	out := make([]byte, 0, size)
	out = binary.BigEndian.AppendUint16(out, uint16(len(names)))
	for _, name := range names {
		out = append(out, byte(len(name)))
		out = append(out, name...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(entries[name])))
		out = append(out, entries[name]...)
	}
	return out, nil
}

// decodeKeystorePayload parses an authenticated payload into fresh copies of
// the values. On error, it clears what it copied.
func decodeKeystorePayload(p []byte) (entries map[string][]byte, err error) {
	entries = map[string][]byte{}
	defer func() {
		if err != nil {
			clearKeystoreEntries(entries)
			entries = nil
		}
	}()
	malformed := func(what string) error {
		return keystoreErr(ErrKeystoreCorrupt, "the decrypted contents are malformed: "+what)
	}
	if len(p) < 2 {
		return nil, malformed("no entry count")
	}
	count := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	if count > keystoreMaxEntries {
		return nil, malformed("too many entries")
	}
	prev := ""
	for i := range count {
		if len(p) < 1 || len(p) < 1+int(p[0])+4 {
			return nil, malformed(fmt.Sprintf("entry %d is cut short", i))
		}
		name := string(p[1 : 1+int(p[0])])
		p = p[1+len(name):]
		n := binary.BigEndian.Uint32(p)
		p = p[4:]
		if uint64(n) > uint64(len(p)) {
			return nil, malformed(fmt.Sprintf("entry %q is cut short", name))
		}
		if i > 0 && name <= prev {
			return nil, malformed("entries are not in order")
		}
		if err := checkKeystoreEntry(name, p[:n]); err != nil {
			return nil, malformed(err.Error())
		}
		entries[name] = bytes.Clone(p[:n])
		if entries[name] == nil {
			entries[name] = []byte{}
		}
		p = p[n:]
		prev = name
	}
	if len(p) != 0 {
		return nil, malformed(fmt.Sprintf("%d bytes after the last entry", len(p)))
	}
	return entries, nil
}

func clearKeystoreEntries(entries map[string][]byte) {
	for name, v := range entries {
		clear(v)
		delete(entries, name)
	}
}
