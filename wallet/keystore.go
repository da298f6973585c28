package wallet

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Well-known keystore entry names.
const (
	// KeystoreEntryOwnerMnemonic holds the owner wallet's 24-word mnemonic:
	// lower-case words separated by single spaces, as UTF-8 bytes.
	KeystoreEntryOwnerMnemonic = "owner.mnemonic"
	// KeystoreEntryNodeKey holds the node wallet key: 32 random bytes, the
	// Ed25519 seed (raw, not base64).
	KeystoreEntryNodeKey = "node.key"
)

// Keystore is an open, decrypted keystore: named secret entries plus
// non-secret metadata, kept in memory until Close.
//
// On disk (see keystore_format.go for the byte layout) a keystore is one
// file, mode 0600: a header with the magic "cocoon-provider keystore", the
// format version, the Argon2id parameters, a random 16-byte salt, a random
// 24-byte nonce and the metadata in clear JSON; then the entries encrypted
// with XChaCha20-Poly1305 under the Argon2id key of the passphrase, with the
// whole header as associated data. Every write draws a fresh salt and nonce.
// Inspect reads the metadata without the passphrase; Open authenticates it.
//
// Integrity: a wrong passphrase and a file altered after the header checks
// (salt, nonce, metadata, ciphertext or tag) are cryptographically
// indistinguishable — both are a failed tag check — so both give
// ErrWrongPassphrase, whose advice covers both. Damage the header parser can
// see (bad magic, unknown version or algorithm, out-of-range parameters, bad
// lengths) gets its own error.
//
// Zeroing: keys derived from passphrases and decrypted buffers are cleared
// after use, Get returns copies, and Close clears every entry. In Go this is
// best effort, and these copies are outside its reach: the caller's own
// buffers (passphrases passed in are never modified; clear them yourself),
// strings made from secrets (immutable; avoid them), Argon2's internal
// memory (the x/crypto implementation drops it to the garbage collector
// unwiped), cipher state inside x/crypto, values copied by the runtime when a
// goroutine's stack grows, and memory written to swap or a core dump (no
// mlock). The runtime/secret experiment of Go 1.26 (GOEXPERIMENT=runtimesecret)
// would cover stacks and registers, but not Argon2's worker goroutines.
//
// Logging: Keystore's String, Format (every verb, %#v included), LogValue and
// MarshalJSON list only the path and the entry names, never values.
//
// A Keystore is safe for concurrent use. Set, Delete and SetMeta change only
// memory; Save writes them.
type Keystore struct {
	// A pointer, so that even a Keystore value printed by reflection
	// shows an address, not secrets.
	st *keystoreState
}

type keystoreState struct {
	mu       sync.Mutex
	path     string
	cfg      keystoreConfig
	meta     KeystoreMeta
	modified bool
	closed   bool
	// The secrets sit behind a second pointer: fmt dereferences a pointer
	// it prints with a verb it cannot apply (%s of a Keystore inside an
	// unexported field reaches the state that way), but only at the top.
	*keystoreSecrets

	// The parameters and salt of the file last read or written; with
	// keystoreSecrets.key, what Save needs to check a passphrase without
	// keeping it.
	kdf  KeystoreKDF
	salt []byte
	// SHA-256 of the file last read or written, so that Save notices a file
	// replaced behind its back.
	fileSum [sha256.Size]byte
}

type keystoreSecrets struct {
	entries map[string][]byte
	// The key derived from the current passphrase with kdf and salt.
	key []byte
}

// KeystoreOption configures Create, Open and Restore.
type KeystoreOption func(*keystoreConfig)

type keystoreConfig struct {
	kdf       KeystoreKDF // for writing
	maxKDF    KeystoreKDF // the most a file being read may ask for
	meta      KeystoreMeta
	overwrite bool
	now       func() time.Time
	rand      io.Reader
	writer    keystoreWriter
}

func newKeystoreConfig(opts []KeystoreOption) keystoreConfig {
	c := keystoreConfig{kdf: DefaultKeystoreKDF(), maxKDF: keystoreMaxKDF, now: time.Now, rand: rand.Reader}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithKeystoreKDF sets the Argon2id parameters for the files that Create,
// Save and ChangePassphrase write (default DefaultKeystoreKDF). Reading
// always uses the parameters stored in the file.
func WithKeystoreKDF(p KeystoreKDF) KeystoreOption {
	return func(c *keystoreConfig) { c.kdf = p }
}

// WithKeystoreMeta sets the wallet version and owner address that Create
// stores; Created and Updated are set by Create itself.
func WithKeystoreMeta(m KeystoreMeta) KeystoreOption {
	return func(c *keystoreConfig) { c.meta = m }
}

// WithKeystoreOverwrite lets Restore replace an existing keystore. The old
// file is kept as path+".bak-<UTC timestamp>".
func WithKeystoreOverwrite() KeystoreOption {
	return func(c *keystoreConfig) { c.overwrite = true }
}

// withKeystoreMaxKDF lowers the limits on stored KDF parameters (tests and
// fuzzing: a flipped bit must not ask for gigabytes).
func withKeystoreMaxKDF(p KeystoreKDF) KeystoreOption {
	return func(c *keystoreConfig) { c.maxKDF = p }
}

func withKeystoreClock(now func() time.Time) KeystoreOption {
	return func(c *keystoreConfig) { c.now = now }
}

func withKeystoreRand(r io.Reader) KeystoreOption {
	return func(c *keystoreConfig) { c.rand = r }
}

func withKeystoreFault(fault func(step string) error) KeystoreOption {
	return func(c *keystoreConfig) { c.writer.fault = fault }
}

// seal encrypts payload under passphrase with a fresh salt and nonce and
// returns the file, the salt and the derived key (the caller clears it).
func (c *keystoreConfig) seal(passphrase []byte, meta KeystoreMeta, payload []byte) (data, salt, key []byte, err error) {
	metaRaw, err := encodeKeystoreMeta(meta)
	if err != nil {
		return nil, nil, nil, err
	}
	salt = make([]byte, keystoreSaltSize)
	nonce := make([]byte, keystoreNonceSize)
	if _, err := io.ReadFull(c.rand, salt); err != nil {
		return nil, nil, nil, fmt.Errorf("random salt: %w", err)
	}
	if _, err := io.ReadFull(c.rand, nonce); err != nil {
		return nil, nil, nil, fmt.Errorf("random nonce: %w", err)
	}
	key = deriveKeystoreKey(passphrase, salt, c.kdf)
	data, err = sealKeystoreFile(c.kdf, salt, nonce, metaRaw, payload, key)
	if err != nil {
		clear(key)
		return nil, nil, nil, err
	}
	return data, salt, key, nil
}

// openKeystoreBytes parses, authenticates and decrypts a keystore file.
// The caller clears the entries and the key.
func openKeystoreBytes(data, passphrase []byte, maxKDF KeystoreKDF) (f *keystoreFile, entries map[string][]byte, key []byte, err error) {
	f, err = parseKeystoreFile(data)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := f.checkKDF(maxKDF); err != nil {
		return nil, nil, nil, err
	}
	key = deriveKeystoreKey(passphrase, f.hdr.salt, f.hdr.kdf)
	pt, err := f.open(key)
	if err != nil {
		clear(key)
		return nil, nil, nil, err
	}
	defer clear(pt)
	entries, err = decodeKeystorePayload(pt)
	if err != nil {
		clear(key)
		return nil, nil, nil, err
	}
	return f, entries, key, nil
}

func normalizeKeystoreMeta(m KeystoreMeta) KeystoreMeta {
	m.Created = m.Created.UTC().Truncate(time.Second)
	m.Updated = m.Updated.UTC().Truncate(time.Second)
	return m
}

// Create writes a new keystore at path holding entries (copied; the
// caller's map and slices are not modified). It fails with
// ErrKeystoreExists, writing nothing, if a file is already there. A
// directory it has to create gets mode 0700; the file gets 0600.
func Create(path string, passphrase []byte, entries map[string][]byte, opts ...KeystoreOption) (err error) {
	defer annotateKeystoreErr(&err, "create", path)
	cfg := newKeystoreConfig(opts)
	if len(passphrase) == 0 {
		return keystoreErr(ErrEmptyPassphrase, "")
	}
	if err := cfg.kdf.check(cfg.maxKDF); err != nil {
		return err
	}
	if err := cfg.meta.check(); err != nil {
		return err
	}
	payload, err := encodeKeystorePayload(entries)
	if err != nil {
		return err
	}
	defer clear(payload)
	// Fail fast, before the KDF; the final link checks again atomically.
	if _, err := os.Lstat(path); err == nil {
		return keystoreErr(ErrKeystoreExists, "")
	}
	now := cfg.now()
	meta := cfg.meta
	meta.Created, meta.Updated = now, now
	data, _, key, err := cfg.seal(passphrase, meta, payload)
	if err != nil {
		return err
	}
	clear(key)
	return cfg.writer.write(path, data, false)
}

// Open reads and decrypts the keystore at path. It refuses a file that other
// users can access (ErrKeystorePermissions, with the chmod to fix it).
// Errors: ErrKeystoreNotFound (naming the absolute path looked at),
// ErrWrongPassphrase, ErrNotKeystore, ErrKeystoreVersion,
// ErrKeystoreTruncated, ErrKeystoreCorrupt. Options: WithKeystoreKDF for
// later saves.
func Open(path string, passphrase []byte, opts ...KeystoreOption) (ks *Keystore, err error) {
	defer annotateKeystoreErr(&err, "open", path)
	cfg := newKeystoreConfig(opts)
	if len(passphrase) == 0 {
		return nil, keystoreErr(ErrEmptyPassphrase, "")
	}
	if err := cfg.kdf.check(cfg.maxKDF); err != nil {
		return nil, err
	}
	data, _, err := readKeystoreFile(path, true)
	if err != nil {
		return nil, err
	}
	f, entries, key, err := openKeystoreBytes(data, passphrase, cfg.maxKDF)
	if err != nil {
		return nil, err
	}
	return &Keystore{st: &keystoreState{
		path:            path,
		cfg:             cfg,
		meta:            normalizeKeystoreMeta(f.hdr.meta),
		keystoreSecrets: &keystoreSecrets{entries: entries, key: key},
		kdf:             f.hdr.kdf,
		salt:            bytes.Clone(f.hdr.salt),
		fileSum:         sha256.Sum256(data),
	}}, nil
}

// KeystoreInfo is what Inspect can tell without the passphrase. None of it
// is authenticated until the keystore is opened.
type KeystoreInfo struct {
	Path    string
	Version int
	KDF     KeystoreKDF
	Meta    KeystoreMeta
	Size    int64
	Mode    fs.FileMode
}

// Inspect reads the header of the keystore at path: format version, KDF
// parameters and metadata. It needs no passphrase and checks the file's
// structure, not its authenticity.
func Inspect(path string) (info KeystoreInfo, err error) {
	defer annotateKeystoreErr(&err, "inspect", path)
	data, fi, err := readKeystoreFile(path, false)
	if err != nil {
		return KeystoreInfo{}, err
	}
	f, err := parseKeystoreFile(data)
	if err != nil {
		return KeystoreInfo{}, err
	}
	if err := f.checkKDF(keystoreMaxKDF); err != nil {
		return KeystoreInfo{}, err
	}
	return KeystoreInfo{
		Path:    path,
		Version: int(f.hdr.version),
		KDF:     f.hdr.kdf,
		Meta:    normalizeKeystoreMeta(f.hdr.meta),
		Size:    fi.Size(),
		Mode:    fi.Mode(),
	}, nil
}

// Export copies the encrypted keystore file at path to w, byte for byte, as
// a backup; Restore takes it back. It checks the file's structure first (a
// damaged file is not exported), but needs no passphrase.
func Export(path string, w io.Writer) (err error) {
	defer annotateKeystoreErr(&err, "export", path)
	data, _, err := readKeystoreFile(path, false)
	if err != nil {
		return err
	}
	f, err := parseKeystoreFile(data)
	if err != nil {
		return err
	}
	if err := f.checkKDF(keystoreMaxKDF); err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// Restore writes the keystore backup read from r to path, after checking
// that passphrase opens it; on any error nothing is written. It refuses to
// replace an existing file (ErrKeystoreExists) unless given
// WithKeystoreOverwrite; then the old file is kept as
// path+".bak-<UTC timestamp>", whose name Restore returns.
func Restore(r io.Reader, path string, passphrase []byte, opts ...KeystoreOption) (backup string, err error) {
	defer annotateKeystoreErr(&err, "restore", path)
	cfg := newKeystoreConfig(opts)
	if len(passphrase) == 0 {
		return "", keystoreErr(ErrEmptyPassphrase, "")
	}
	data, err := readKeystoreBytes(r)
	if err != nil {
		return "", err
	}
	_, statErr := os.Lstat(path)
	exists := statErr == nil
	if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
		return "", statErr
	}
	if exists && !cfg.overwrite {
		return "", keystoreErr(ErrKeystoreExists, "")
	}
	_, entries, key, err := openKeystoreBytes(data, passphrase, cfg.maxKDF)
	if err != nil {
		return "", err
	}
	clearKeystoreEntries(entries)
	clear(key)
	if !exists {
		return "", cfg.writer.write(path, data, false)
	}
	backup, err = keepBackup(path, cfg.now())
	if err != nil {
		return "", fmt.Errorf("keep the old keystore as a backup, nothing was replaced: %w", err)
	}
	if err := cfg.writer.write(path, data, true); err != nil {
		// The old keystore is still at path; the backup name is redundant.
		os.Remove(backup)
		return "", err
	}
	return backup, nil
}

// lock returns the state locked, or ErrKeystoreClosed.
func (k *Keystore) lock() (*keystoreState, error) {
	if k == nil || k.st == nil {
		return nil, keystoreErr(ErrKeystoreClosed, "")
	}
	k.st.mu.Lock()
	if k.st.closed {
		k.st.mu.Unlock()
		return nil, &KeystoreError{Err: ErrKeystoreClosed, Path: k.st.path}
	}
	return k.st, nil
}

// Path returns the file the keystore was opened from.
func (k *Keystore) Path() string {
	if k == nil || k.st == nil {
		return ""
	}
	return k.st.path
}

// Names returns the entry names, sorted; nil once closed.
func (k *Keystore) Names() []string {
	st, err := k.lock()
	if err != nil {
		return nil
	}
	defer st.mu.Unlock()
	return st.names()
}

func (st *keystoreState) names() []string {
	names := make([]string, 0, len(st.entries))
	for name := range st.entries {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Get returns a copy of the named entry's value; clear it when done.
func (k *Keystore) Get(name string) ([]byte, error) {
	st, err := k.lock()
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	v, ok := st.entries[name]
	if !ok {
		return nil, &KeystoreError{Op: "get", Path: st.path, Err: ErrKeystoreNoEntry, Detail: name}
	}
	return bytes.Clone(v), nil
}

// Set stores a copy of value under name, wiping any previous value. It
// changes memory only; Save writes it.
func (k *Keystore) Set(name string, value []byte) error {
	st, err := k.lock()
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	if err := checkKeystoreEntry(name, value); err != nil {
		return &KeystoreError{Op: "set", Path: st.path, Err: err}
	}
	old, ok := st.entries[name]
	if !ok && len(st.entries) >= keystoreMaxEntries {
		return &KeystoreError{Op: "set", Path: st.path, Err: ErrKeystoreEntry,
			Detail: fmt.Sprintf("at most %d entries", keystoreMaxEntries)}
	}
	clear(old)
	v := make([]byte, len(value))
	copy(v, value)
	st.entries[name] = v
	st.modified = true
	return nil
}

// Delete wipes and removes the named entry. It changes memory only; Save
// writes it.
func (k *Keystore) Delete(name string) error {
	st, err := k.lock()
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	v, ok := st.entries[name]
	if !ok {
		return &KeystoreError{Op: "delete", Path: st.path, Err: ErrKeystoreNoEntry, Detail: name}
	}
	clear(v)
	delete(st.entries, name)
	st.modified = true
	return nil
}

// Meta returns the metadata (Updated is the time of the last write).
func (k *Keystore) Meta() KeystoreMeta {
	st, err := k.lock()
	if err != nil {
		return KeystoreMeta{}
	}
	defer st.mu.Unlock()
	return st.meta
}

// SetMeta sets the wallet version and owner address (Created and Updated in
// m are ignored). It changes memory only; Save writes it.
func (k *Keystore) SetMeta(m KeystoreMeta) error {
	st, err := k.lock()
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	if err := m.check(); err != nil {
		return &KeystoreError{Op: "set metadata", Path: st.path, Err: err}
	}
	st.meta.WalletVersion, st.meta.OwnerAddress = m.WalletVersion, m.OwnerAddress
	st.modified = true
	return nil
}

// Modified reports whether Set, Delete or SetMeta made changes not yet saved.
func (k *Keystore) Modified() bool {
	st, err := k.lock()
	if err != nil {
		return false
	}
	defer st.mu.Unlock()
	return st.modified
}

// Save writes the keystore back to its file, encrypted anew under a fresh
// salt and nonce with the same passphrase, which it checks first: a
// passphrase other than the current one fails with ErrWrongPassphrase and
// writes nothing (use ChangePassphrase to change it). It refuses
// (ErrKeystoreChanged) if the file on disk is no longer the one last read or
// written.
func (k *Keystore) Save(passphrase []byte) (err error) {
	st, err := k.lock()
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	defer annotateKeystoreErr(&err, "save", st.path)
	if err := st.verify(passphrase); err != nil {
		return err
	}
	return st.write(passphrase)
}

// ChangePassphrase checks oldPass and saves the keystore under newPass, with the
// current entries and metadata.
func (k *Keystore) ChangePassphrase(oldPass, newPass []byte) (err error) {
	st, err := k.lock()
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	defer annotateKeystoreErr(&err, "change passphrase", st.path)
	if err := st.verify(oldPass); err != nil {
		return err
	}
	if len(newPass) == 0 {
		return keystoreErr(ErrEmptyPassphrase, "the new passphrase is empty; nothing was written")
	}
	return st.write(newPass)
}

// verify checks that passphrase is the one the file was last read or
// written with.
func (st *keystoreState) verify(passphrase []byte) error {
	if len(passphrase) == 0 {
		return keystoreErr(ErrEmptyPassphrase, "")
	}
	key := deriveKeystoreKey(passphrase, st.salt, st.kdf)
	defer clear(key)
	if subtle.ConstantTimeCompare(key, st.key) != 1 {
		return keystoreErr(ErrWrongPassphrase, "it is not the keystore's current passphrase; nothing was written")
	}
	return nil
}

// write encrypts the state under passphrase and replaces the file (the
// target of a symbolic link, if path is one, so that the link stays).
func (st *keystoreState) write(passphrase []byte) error {
	cur, _, err := readKeystoreFile(st.path, false)
	switch {
	case errors.Is(err, ErrKeystoreNotFound):
		return keystoreErr(ErrKeystoreChanged, "it was removed")
	case errors.Is(err, ErrNotKeystore), errors.Is(err, ErrKeystoreCorrupt):
		return keystoreErr(ErrKeystoreChanged, "")
	case err != nil:
		return err
	case sha256.Sum256(cur) != st.fileSum:
		return keystoreErr(ErrKeystoreChanged, "")
	}
	dst, err := filepath.EvalSymlinks(st.path)
	if err != nil {
		return err
	}
	if err := st.cfg.kdf.check(st.cfg.maxKDF); err != nil {
		return err
	}
	payload, err := encodeKeystorePayload(st.entries)
	if err != nil {
		return err
	}
	defer clear(payload)
	meta := st.meta
	meta.Updated = st.cfg.now()
	data, salt, key, err := st.cfg.seal(passphrase, meta, payload)
	if err != nil {
		return err
	}
	if err := st.cfg.writer.write(dst, data, true); err != nil {
		clear(key)
		return err
	}
	clear(st.key)
	st.key, st.salt, st.kdf = key, salt, st.cfg.kdf
	st.meta = normalizeKeystoreMeta(meta)
	st.fileSum = sha256.Sum256(data)
	st.modified = false
	return nil
}

// Close wipes the entries and the derived key. The Keystore cannot be used
// afterwards; closing again does nothing.
func (k *Keystore) Close() error {
	if k == nil || k.st == nil {
		return nil
	}
	st := k.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return nil
	}
	clearKeystoreEntries(st.entries)
	clear(st.key)
	st.key = nil
	st.closed = true
	return nil
}

// The printing methods have value receivers, so that a Keystore value is
// redacted as well as a pointer.
var (
	_ fmt.Stringer   = Keystore{}
	_ fmt.Formatter  = Keystore{}
	_ fmt.GoStringer = Keystore{}
	_ slog.LogValuer = Keystore{}
	_ json.Marshaler = Keystore{}
)

const keystoreRedacted = "[redacted]"

// describe returns the path, the entry names and whether k is closed.
func (k Keystore) describe() (path string, names []string, closed bool) {
	if k.st == nil {
		return "", nil, true
	}
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	return k.st.path, k.st.names(), k.st.closed
}

// String names the file and the entries; values are never shown.
func (k Keystore) String() string {
	path, names, closed := k.describe()
	if closed {
		return fmt.Sprintf("wallet.Keystore{path: %q, closed}", path)
	}
	return fmt.Sprintf("wallet.Keystore{path: %q, entries: [%s], values: %s}", path, strings.Join(names, " "), keystoreRedacted)
}

// GoString is String: %#v must not dump the fields.
func (k Keystore) GoString() string { return k.String() }

// Format prints String for every verb and flag.
func (k Keystore) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue logs the path and entry names only.
func (k Keystore) LogValue() slog.Value {
	path, names, closed := k.describe()
	return slog.GroupValue(
		slog.String("path", path),
		slog.Any("entries", names),
		slog.Bool("closed", closed),
		slog.String("values", keystoreRedacted),
	)
}

// MarshalJSON encodes the path and entry names only.
func (k Keystore) MarshalJSON() ([]byte, error) {
	path, names, closed := k.describe()
	if names == nil {
		names = []string{}
	}
	return json.Marshal(struct {
		Path    string   `json:"path"`
		Entries []string `json:"entries"`
		Closed  bool     `json:"closed"`
		Values  string   `json:"values"`
	}{path, names, closed, keystoreRedacted})
}
