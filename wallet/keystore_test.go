package wallet

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Small Argon2id parameters so that tests run fast; the limits on what a
// file may ask for are lowered to match, so that a flipped bit in the
// parameters cannot ask for much.
var (
	testKeystoreKDF    = KeystoreKDF{Time: 1, MemoryKiB: 64, Threads: 1}
	testKeystoreMaxKDF = KeystoreKDF{Time: 4, MemoryKiB: 256, Threads: 2}
)

const testMnemonic = "diet diet attack autumn expose honey skate lounge holiday opinion village priority " +
	"major enroll romance famous motor pact hello rubber express warfare rose whisper"

var testPass = []byte("correct horse battery staple")

func testKeystoreOpts(extra ...KeystoreOption) []KeystoreOption {
	return append([]KeystoreOption{WithKeystoreKDF(testKeystoreKDF), withKeystoreMaxKDF(testKeystoreMaxKDF)}, extra...)
}

func testNodeKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(0xa0 + i)
	}
	return k
}

func testEntries() map[string][]byte {
	return map[string][]byte{
		KeystoreEntryOwnerMnemonic: []byte(testMnemonic),
		KeystoreEntryNodeKey:       testNodeKey(),
	}
}

var testMeta = KeystoreMeta{WalletVersion: "v4r2", OwnerAddress: "UQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazoTN"}

// createTestKeystore writes a keystore in a fresh directory and returns its
// path and bytes.
func createTestKeystore(t *testing.T, opts ...KeystoreOption) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keystore")
	if err := Create(path, testPass, testEntries(), testKeystoreOpts(append([]KeystoreOption{WithKeystoreMeta(testMeta)}, opts...)...)...); err != nil {
		t.Fatalf("Create: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, data
}

func openTestKeystore(t *testing.T, path string, pass []byte) *Keystore {
	t.Helper()
	ks, err := Open(path, pass, testKeystoreOpts()...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks
}

func mustFileBytes(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// dirNames lists a directory, to check that failed writes leave no
// temporary files.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func wantKeystoreErr(t *testing.T, err, sentinel error) *KeystoreError {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error = %v, want %v", err, sentinel)
	}
	var ke *KeystoreError
	if !errors.As(err, &ke) {
		t.Fatalf("error %v is not a *KeystoreError", err)
	}
	return ke
}

func TestKeystoreRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "keystore")
	now := time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.FixedZone("X", 3600))
	clock := withKeystoreClock(func() time.Time { return now })
	entries := testEntries()
	if err := Create(path, testPass, entries, testKeystoreOpts(WithKeystoreMeta(testMeta), clock)...); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(entries[KeystoreEntryNodeKey], testNodeKey()) {
		t.Fatal("Create modified the caller's entries")
	}
	if runtime.GOOS != "windows" {
		for p, want := range map[string]fs.FileMode{path: 0o600, dir: 0o700} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s mode %v, want %v", p, fi.Mode().Perm(), want)
			}
		}
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"keystore"}) {
		t.Errorf("directory holds %v, want only the keystore", names)
	}

	ks := openTestKeystore(t, path, testPass)
	if got := ks.Names(); !slices.Equal(got, []string{KeystoreEntryNodeKey, KeystoreEntryOwnerMnemonic}) {
		t.Errorf("Names = %v", got)
	}
	for name, want := range testEntries() {
		got, err := ks.Get(name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Get(%s) = %q, %v", name, got, err)
		}
	}
	wantMeta := testMeta
	wantMeta.Created = time.Date(2026, 3, 1, 11, 30, 45, 0, time.UTC)
	wantMeta.Updated = wantMeta.Created
	if got := ks.Meta(); got != wantMeta {
		t.Errorf("Meta = %+v, want %+v", got, wantMeta)
	}

	// Change everything, save, and read it back.
	if ks.Modified() {
		t.Error("Modified before any change")
	}
	if err := ks.Set("extra.token", []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := ks.Set("empty", nil); err != nil {
		t.Fatal(err)
	}
	if err := ks.Delete(KeystoreEntryOwnerMnemonic); err != nil {
		t.Fatal(err)
	}
	if err := ks.SetMeta(KeystoreMeta{WalletVersion: "v5r1", OwnerAddress: "UQother"}); err != nil {
		t.Fatal(err)
	}
	if !ks.Modified() {
		t.Error("not Modified after changes")
	}
	later := now.Add(time.Hour)
	ks.st.cfg.now = func() time.Time { return later }
	if err := ks.Save(testPass); err != nil {
		t.Fatal(err)
	}
	if ks.Modified() {
		t.Error("Modified after Save")
	}
	ks2 := openTestKeystore(t, path, testPass)
	if got := ks2.Names(); !slices.Equal(got, []string{"empty", "extra.token", KeystoreEntryNodeKey}) {
		t.Errorf("after Save, Names = %v", got)
	}
	if v, err := ks2.Get("empty"); err != nil || v == nil || len(v) != 0 {
		t.Errorf("Get(empty) = %v, %v; want an empty, non-nil value", v, err)
	}
	m := ks2.Meta()
	if m.WalletVersion != "v5r1" || m.OwnerAddress != "UQother" || !m.Created.Equal(wantMeta.Created) ||
		!m.Updated.Equal(later.Truncate(time.Second)) {
		t.Errorf("after Save, Meta = %+v", m)
	}
	if ks.Meta() != m {
		t.Errorf("in-memory Meta %+v differs from the saved %+v", ks.Meta(), m)
	}
	if _, err := ks2.Get(KeystoreEntryOwnerMnemonic); !errors.Is(err, ErrKeystoreNoEntry) {
		t.Errorf("Get of a deleted entry: %v", err)
	}
	if err := ks2.Delete("nope"); !errors.Is(err, ErrKeystoreNoEntry) {
		t.Errorf("Delete of a missing entry: %v", err)
	}
}

func TestKeystoreSaveUsesFreshSaltAndNonce(t *testing.T) {
	path, before := createTestKeystore(t)
	ks := openTestKeystore(t, path, testPass)
	if err := ks.Save(testPass); err != nil {
		t.Fatal(err)
	}
	after := mustFileBytes(t, path)
	fb, _ := parseKeystoreFile(before)
	fa, _ := parseKeystoreFile(after)
	if bytes.Equal(fb.hdr.salt, fa.hdr.salt) || bytes.Equal(fb.hdr.nonce, fa.hdr.nonce) {
		t.Error("Save reused the salt or the nonce")
	}
	// And it saves again after its own write (the in-memory file hash
	// follows the file).
	if err := ks.Save(testPass); err != nil {
		t.Fatal(err)
	}
}

func TestKeystoreKDFParamsAreStored(t *testing.T) {
	path, _ := createTestKeystore(t)
	info, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.KDF != testKeystoreKDF || info.Version != 1 {
		t.Errorf("Inspect: KDF %v version %d", info.KDF, info.Version)
	}
	// Open with other parameters for writing: the file's parameters open
	// it, and Save writes the new ones.
	other := KeystoreKDF{Time: 2, MemoryKiB: 128, Threads: 2}
	ks, err := Open(path, testPass, WithKeystoreKDF(other), withKeystoreMaxKDF(testKeystoreMaxKDF))
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	if err := ks.Save(testPass); err != nil {
		t.Fatal(err)
	}
	if info, err := Inspect(path); err != nil || info.KDF != other {
		t.Errorf("after Save: %v, %v", info.KDF, err)
	}
	// The passphrase check of the next Save uses the new parameters.
	if err := ks.Save(testPass); err != nil {
		t.Fatal(err)
	}
	if err := Create(filepath.Join(t.TempDir(), "k"), testPass, testEntries(),
		WithKeystoreKDF(KeystoreKDF{Time: 1, MemoryKiB: 4, Threads: 1})); !errors.Is(err, ErrKeystoreKDF) {
		t.Errorf("Create with memory below 8 KiB per lane: %v", err)
	}
	if err := DefaultKeystoreKDF().check(keystoreMaxKDF); err != nil {
		t.Errorf("the default parameters are outside the limits: %v", err)
	}
}

func TestKeystoreWrongPassphrase(t *testing.T) {
	path, _ := createTestKeystore(t)
	_, err := Open(path, []byte("correct horse battery stapler"), testKeystoreOpts()...)
	ke := wantKeystoreErr(t, err, ErrWrongPassphrase)
	if ke.Op != "open" || ke.Path != path {
		t.Errorf("error op %q path %q", ke.Op, ke.Path)
	}
	msg := err.Error()
	for _, want := range []string{"the passphrase does not open this keystore", path, "cannot be told apart", "backup"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if _, err := Open(path, nil, testKeystoreOpts()...); !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("empty passphrase: %v", err)
	}
}

func TestKeystoreNotFound(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	_, err := Open("missing.keystore", testPass, testKeystoreOpts()...)
	wantKeystoreErr(t, err, ErrKeystoreNotFound)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("not errors.Is(err, fs.ErrNotExist)")
	}
	if abs := filepath.Join(dir, "missing.keystore"); !strings.Contains(err.Error(), abs) {
		t.Errorf("message %q does not say where it looked (%s)", err, abs)
	}
	if _, err := Inspect("missing.keystore"); !errors.Is(err, ErrKeystoreNotFound) {
		t.Errorf("Inspect: %v", err)
	}
	if err := Export("missing.keystore", &bytes.Buffer{}); !errors.Is(err, ErrKeystoreNotFound) {
		t.Errorf("Export: %v", err)
	}
	if _, err := Open(dir, testPass, testKeystoreOpts()...); !errors.Is(err, ErrNotKeystore) {
		t.Errorf("Open of a directory: %v", err)
	}
}

// keystoreRegion names the part of the file a byte offset falls in.
func keystoreRegion(f *keystoreFile, off int) string {
	metaEnd := keystoreFixedHeader + len(f.hdr.metaRaw)
	switch {
	case off < 24:
		return "magic"
	case off < 26:
		return "version"
	case off < 27:
		return "kdf id"
	case off < 36:
		return "kdf params"
	case off < 52:
		return "salt"
	case off < 53:
		return "aead id"
	case off < 77:
		return "nonce"
	case off < 81:
		return "meta length"
	case off < metaEnd:
		return "meta"
	case off < metaEnd+4:
		return "ciphertext length"
	case off < len(f.ad)+len(f.ct)-keystoreTagSize:
		return "ciphertext"
	default:
		return "tag"
	}
}

func TestKeystoreEveryBitFlipFails(t *testing.T) {
	_, data := createTestKeystore(t)
	f, err := parseKeystoreFile(data)
	if err != nil {
		t.Fatal(err)
	}
	// What each region may fail with; a flip must fail, and with one of these.
	allowed := map[string][]error{
		"magic":             {ErrNotKeystore},
		"version":           {ErrKeystoreVersion},
		"kdf id":            {ErrKeystoreCorrupt},
		"kdf params":        {ErrKeystoreCorrupt, ErrWrongPassphrase},
		"salt":              {ErrWrongPassphrase},
		"aead id":           {ErrKeystoreCorrupt},
		"nonce":             {ErrWrongPassphrase},
		"meta length":       {ErrKeystoreCorrupt, ErrKeystoreTruncated},
		"meta":              {ErrKeystoreCorrupt, ErrWrongPassphrase},
		"ciphertext length": {ErrKeystoreCorrupt, ErrKeystoreTruncated},
		"ciphertext":        {ErrWrongPassphrase},
		"tag":               {ErrWrongPassphrase},
	}
	seen := map[string]int{}
	buf := make([]byte, len(data))
	for bit := range len(data) * 8 {
		copy(buf, data)
		buf[bit/8] ^= 1 << (bit % 8)
		region := keystoreRegion(f, bit/8)
		_, entries, _, err := openKeystoreBytes(buf, testPass, testKeystoreMaxKDF)
		if err == nil {
			t.Fatalf("flip of bit %d (%s) opened: %v", bit, region, entries)
		}
		ok := false
		for _, want := range allowed[region] {
			ok = ok || errors.Is(err, want)
		}
		if !ok {
			t.Errorf("flip of bit %d (%s): %v", bit, region, err)
		}
		seen[region]++
	}
	for region := range allowed {
		if seen[region] == 0 {
			t.Errorf("no flips in region %s", region)
		}
	}
	// The same through files, one flip per region.
	dir := t.TempDir()
	done := map[string]bool{}
	for off := range data {
		region := keystoreRegion(f, off)
		if done[region] {
			continue
		}
		done[region] = true
		copy(buf, data)
		buf[off] ^= 0x10
		p := filepath.Join(dir, fmt.Sprintf("flip%d", off))
		if err := os.WriteFile(p, buf, 0o600); err != nil {
			t.Fatal(err)
		}
		if ks, err := Open(p, testPass, testKeystoreOpts()...); err == nil {
			ks.Close()
			t.Errorf("Open of a file with byte %d (%s) altered succeeded", off, region)
		}
	}
}

func TestKeystoreTruncatedAtEveryLength(t *testing.T) {
	_, data := createTestKeystore(t)
	for n := range len(data) {
		_, _, _, err := openKeystoreBytes(data[:n], testPass, testKeystoreMaxKDF)
		if !errors.Is(err, ErrKeystoreTruncated) {
			t.Fatalf("file cut to %d of %d bytes: %v", n, len(data), err)
		}
	}
	path := filepath.Join(t.TempDir(), "cut")
	if err := os.WriteFile(path, data[:len(data)-1], 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, testPass, testKeystoreOpts()...)
	wantKeystoreErr(t, err, ErrKeystoreTruncated)
	if !strings.Contains(err.Error(), "restore") {
		t.Errorf("message %q does not say what to do", err)
	}
	if _, err := Inspect(path); !errors.Is(err, ErrKeystoreTruncated) {
		t.Errorf("Inspect: %v", err)
	}
	// One byte too many is damage too.
	if _, _, _, err := openKeystoreBytes(append(slices.Clone(data), 0), testPass, testKeystoreMaxKDF); !errors.Is(err, ErrKeystoreCorrupt) {
		t.Errorf("trailing byte: %v", err)
	}
}

func TestKeystoreUnknownVersion(t *testing.T) {
	path, data := createTestKeystore(t)
	for _, v := range []uint16{0, 2, 0xffff} {
		binary.BigEndian.PutUint16(data[len(keystoreMagic):], v)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path, testPass, testKeystoreOpts()...)
		wantKeystoreErr(t, err, ErrKeystoreVersion)
		if want := fmt.Sprintf("version %d", v); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "upgrade") {
			t.Errorf("message %q lacks %q or advice", err, want)
		}
		if _, err := Inspect(path); !errors.Is(err, ErrKeystoreVersion) {
			t.Errorf("Inspect: %v", err)
		}
	}
}

func TestKeystoreNotAKeystore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("hello, world\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, testPass, testKeystoreOpts()...)
	wantKeystoreErr(t, err, ErrNotKeystore)
	big := append([]byte(keystoreMagic), make([]byte, keystoreMaxFileSize)...)
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, testPass, testKeystoreOpts()...); !errors.Is(err, ErrKeystoreCorrupt) {
		t.Errorf("oversized file: %v", err)
	}
}

func TestKeystoreModeRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits on Windows")
	}
	path, _ := createTestKeystore(t)
	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path, testPass, testKeystoreOpts()...)
		wantKeystoreErr(t, err, ErrKeystorePermissions)
		if want := "chmod 600 " + path; !strings.Contains(err.Error(), want) {
			t.Errorf("mode %04o: message %q lacks %q", mode, err, want)
		}
	}
	// Metadata stays readable, and chmod 600 fixes it.
	if _, err := Inspect(path); err != nil {
		t.Errorf("Inspect of a 0602 keystore: %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	openTestKeystore(t, path, testPass)
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	openTestKeystore(t, path, testPass)
}

func TestKeystoreCreateOverExistingRefused(t *testing.T) {
	path, data := createTestKeystore(t)
	err := Create(path, []byte("another"), map[string][]byte{"x": {1}}, testKeystoreOpts()...)
	wantKeystoreErr(t, err, ErrKeystoreExists)
	if !bytes.Equal(mustFileBytes(t, path), data) {
		t.Error("Create changed the existing keystore")
	}
	other := filepath.Join(filepath.Dir(path), "other-file")
	if err := os.WriteFile(other, []byte("not mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Create(other, testPass, testEntries(), testKeystoreOpts()...); !errors.Is(err, ErrKeystoreExists) {
		t.Errorf("Create over another file: %v", err)
	}
	if got := mustFileBytes(t, other); string(got) != "not mine" {
		t.Error("Create changed an existing file")
	}
	// The final step refuses too, even when the early check is passed.
	racy := filepath.Join(filepath.Dir(path), "racy")
	err = Create(racy, testPass, testEntries(), testKeystoreOpts(withKeystoreFault(func(step string) error {
		if step == "link" {
			return os.WriteFile(racy, []byte("created meanwhile"), 0o600)
		}
		return nil
	}))...)
	if !errors.Is(err, ErrKeystoreExists) {
		t.Errorf("Create racing another writer: %v", err)
	}
	if got := mustFileBytes(t, racy); string(got) != "created meanwhile" {
		t.Error("Create replaced a file created meanwhile")
	}
	if names := dirNames(t, filepath.Dir(path)); !slices.Equal(names, []string{"keystore", "other-file", "racy"}) {
		t.Errorf("directory holds %v", names)
	}
}

func TestKeystoreEntryChecks(t *testing.T) {
	dir := t.TempDir()
	bad := []map[string][]byte{
		{"": {1}},
		{"Upper": {1}},
		{"has space": {1}},
		{strings.Repeat("a", 65): {1}},
		{"big": make([]byte, keystoreMaxValueLen+1)},
		{KeystoreEntryNodeKey: make([]byte, 31)},
		{KeystoreEntryOwnerMnemonic: []byte("only three words")},
		{KeystoreEntryOwnerMnemonic: []byte(testMnemonic + " ")},
		{KeystoreEntryOwnerMnemonic: []byte(strings.Replace(testMnemonic, " ", "  ", 1))},
		{KeystoreEntryOwnerMnemonic: []byte(strings.ToUpper(testMnemonic))},
	}
	for i, entries := range bad {
		path := filepath.Join(dir, fmt.Sprint(i))
		if err := Create(path, testPass, entries, testKeystoreOpts()...); !errors.Is(err, ErrKeystoreEntry) {
			t.Errorf("entries %d: %v", i, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("entries %d: a file was written", i)
		}
	}
	many := map[string][]byte{}
	for i := range keystoreMaxEntries + 1 {
		many[fmt.Sprintf("e%d", i)] = nil
	}
	if err := Create(filepath.Join(dir, "many"), testPass, many, testKeystoreOpts()...); !errors.Is(err, ErrKeystoreEntry) {
		t.Errorf("too many entries: %v", err)
	}
	if err := Create(filepath.Join(dir, "meta"), testPass, nil,
		testKeystoreOpts(WithKeystoreMeta(KeystoreMeta{OwnerAddress: "UQ\nx"}))...); !errors.Is(err, ErrKeystoreEntry) {
		t.Errorf("control character in metadata: %v", err)
	}
	if err := Create(filepath.Join(dir, "empty-pass"), nil, nil, testKeystoreOpts()...); !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("empty passphrase: %v", err)
	}
	// An empty keystore is fine.
	path := filepath.Join(dir, "empty")
	if err := Create(path, testPass, nil, testKeystoreOpts()...); err != nil {
		t.Fatal(err)
	}
	ks := openTestKeystore(t, path, testPass)
	if len(ks.Names()) != 0 {
		t.Error("entries in an empty keystore")
	}
	if err := ks.Set("Bad", nil); !errors.Is(err, ErrKeystoreEntry) {
		t.Errorf("Set with a bad name: %v", err)
	}
	if err := ks.SetMeta(KeystoreMeta{WalletVersion: strings.Repeat("v", 300)}); !errors.Is(err, ErrKeystoreEntry) {
		t.Errorf("SetMeta too long: %v", err)
	}
}

func TestKeystoreMetadataWithoutPassphrase(t *testing.T) {
	now := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	path, data := createTestKeystore(t, withKeystoreClock(func() time.Time { return now }))
	info, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	want := testMeta
	want.Created, want.Updated = now, now
	if info.Meta != want || info.Path != path || info.Size != int64(len(data)) {
		t.Errorf("Inspect = %+v", info)
	}
	if runtime.GOOS != "windows" && info.Mode.Perm() != 0o600 {
		t.Errorf("Inspect mode %v", info.Mode)
	}
	if bytes.Contains(data, []byte("diet")) || bytes.Contains(data, testNodeKey()) {
		t.Fatal("a secret is in the file in clear")
	}
	// Metadata is authenticated: the same length, valid JSON, another
	// owner: Inspect shows it, Open refuses it.
	forged := bytes.Replace(data, []byte(testMeta.OwnerAddress), []byte(strings.Repeat("A", len(testMeta.OwnerAddress))), 1)
	if err := os.WriteFile(path, forged, 0o600); err != nil {
		t.Fatal(err)
	}
	if info, err := Inspect(path); err != nil || info.Meta.OwnerAddress[0] != 'A' {
		t.Fatalf("Inspect of the forged file: %+v, %v", info, err)
	}
	_, err = Open(path, testPass, testKeystoreOpts()...)
	wantKeystoreErr(t, err, ErrWrongPassphrase)
}

func TestKeystoreChangePassphrase(t *testing.T) {
	path, data := createTestKeystore(t)
	ks := openTestKeystore(t, path, testPass)
	newPass := []byte("a much better passphrase")
	err := ks.ChangePassphrase([]byte("wrong"), newPass)
	ke := wantKeystoreErr(t, err, ErrWrongPassphrase)
	if ke.Op != "change passphrase" || !strings.Contains(err.Error(), "opened with") {
		t.Errorf("error %v", err)
	}
	if err := ks.ChangePassphrase(testPass, nil); !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("empty new passphrase: %v", err)
	}
	if !bytes.Equal(mustFileBytes(t, path), data) {
		t.Fatal("a failed ChangePassphrase wrote the file")
	}
	if err := ks.ChangePassphrase(testPass, newPass); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, testPass, testKeystoreOpts()...); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("old passphrase after the change: %v", err)
	}
	ks2 := openTestKeystore(t, path, newPass)
	if v, err := ks2.Get(KeystoreEntryNodeKey); err != nil || !bytes.Equal(v, testNodeKey()) {
		t.Errorf("after the change, Get = %x, %v", v, err)
	}
	// Save now wants the new passphrase.
	if err := ks.Save(testPass); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("Save with the old passphrase: %v", err)
	}
	if err := ks.Save(newPass); err != nil {
		t.Errorf("Save with the new passphrase: %v", err)
	}
}

func TestKeystoreSaveWrongPassphraseWritesNothing(t *testing.T) {
	path, data := createTestKeystore(t)
	ks := openTestKeystore(t, path, testPass)
	if err := ks.Set("x", []byte{1}); err != nil {
		t.Fatal(err)
	}
	err := ks.Save([]byte("typo"))
	wantKeystoreErr(t, err, ErrWrongPassphrase)
	if !bytes.Equal(mustFileBytes(t, path), data) {
		t.Error("Save with a wrong passphrase wrote the file")
	}
	if !ks.Modified() {
		t.Error("a failed Save cleared Modified")
	}
}

func TestKeystoreSaveKeepsSymlink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	target, _ := createTestKeystore(t)
	link := filepath.Join(t.TempDir(), "keystore-link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	ks := openTestKeystore(t, link, testPass)
	if err := ks.Set("x", []byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := ks.Save(testPass); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v, %v", fi.Mode(), err)
	}
	if _, err := openTestKeystore(t, target, testPass).Get("x"); err != nil {
		t.Errorf("the link's target was not written: %v", err)
	}
}

func TestKeystoreNotARegularFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no FIFOs on Windows")
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := mkfifoForTest(fifo); err != nil {
		t.Skip("cannot make a FIFO here:", err)
	}
	// Opening a FIFO for reading would block; this must return at once.
	if _, err := Open(fifo, testPass, testKeystoreOpts()...); !errors.Is(err, ErrNotKeystore) {
		t.Errorf("Open of a FIFO: %v", err)
	}
}

func TestKeystoreSaveRefusesFileChangedOnDisk(t *testing.T) {
	path, _ := createTestKeystore(t)
	ks := openTestKeystore(t, path, testPass)
	other := filepath.Join(t.TempDir(), "other")
	if err := Create(other, testPass, map[string][]byte{"other": {9}}, testKeystoreOpts()...); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	replaced := mustFileBytes(t, path)
	err := ks.Save(testPass)
	wantKeystoreErr(t, err, ErrKeystoreChanged)
	if !bytes.Equal(mustFileBytes(t, path), replaced) {
		t.Error("Save overwrote a file replaced behind its back")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := ks.Save(testPass); !errors.Is(err, ErrKeystoreChanged) {
		t.Errorf("Save after the file was removed: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Error("Save recreated a removed keystore")
	}
}

// TestKeystoreWriteFailureKeepsOldFile fails each step of the atomic write
// in turn. Root ignores a read-only directory, so this injects the failure;
// TestKeystoreReadOnlyDirectory does it for real where it can.
func TestKeystoreWriteFailureKeepsOldFile(t *testing.T) {
	boom := errors.New("injected failure")
	for _, step := range []string{"mkdir", "create", "chmod", "write", "sync", "rename", "syncdir"} {
		t.Run(step, func(t *testing.T) {
			path, data := createTestKeystore(t)
			ks, err := Open(path, testPass, testKeystoreOpts(withKeystoreFault(func(s string) error {
				if s == step {
					return boom
				}
				return nil
			}))...)
			if err != nil {
				t.Fatal(err)
			}
			defer ks.Close()
			if err := ks.Set("new.entry", []byte{7}); err != nil {
				t.Fatal(err)
			}
			err = ks.Save(testPass)
			if !errors.Is(err, boom) {
				t.Fatalf("Save: %v", err)
			}
			if names := dirNames(t, filepath.Dir(path)); !slices.Equal(names, []string{"keystore"}) {
				t.Errorf("directory holds %v after the failure", names)
			}
			got := mustFileBytes(t, path)
			if step == "syncdir" {
				// The rename happened; the new file is whole.
				if bytes.Equal(got, data) {
					t.Error("the file was not replaced before the directory sync")
				}
				ks2 := openTestKeystore(t, path, testPass)
				if _, err := ks2.Get("new.entry"); err != nil {
					t.Error(err)
				}
				return
			}
			if !bytes.Equal(got, data) {
				t.Fatal("a failed Save changed the keystore")
			}
			if !ks.Modified() {
				t.Error("a failed Save cleared Modified")
			}
			// After the failure, a working Save still goes through.
			ks.st.cfg.writer.fault = nil
			if err := ks.Save(testPass); err != nil {
				t.Errorf("Save after a failed one: %v", err)
			}
		})
	}
	for _, step := range []string{"mkdir", "create", "write", "sync", "link"} {
		t.Run("create/"+step, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "keystore")
			err := Create(path, testPass, testEntries(), testKeystoreOpts(withKeystoreFault(func(s string) error {
				if s == step {
					return boom
				}
				return nil
			}))...)
			if !errors.Is(err, boom) {
				t.Fatalf("Create: %v", err)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Errorf("directory holds %v after the failure", names)
			}
		})
	}
}

func TestKeystoreReadOnlyDirectory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("directory permission bits do not stop writes on Windows")
	}
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only directories; TestKeystoreWriteFailureKeepsOldFile injects the failure instead")
	}
	path, data := createTestKeystore(t)
	ks := openTestKeystore(t, path, testPass)
	dir := filepath.Dir(path)
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	err := ks.Save(testPass)
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Save into a read-only directory: %v", err)
	}
	if !bytes.Equal(mustFileBytes(t, path), data) {
		t.Error("a failed Save changed the keystore")
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"keystore"}) {
		t.Errorf("directory holds %v", names)
	}
}

func TestKeystoreExportRestore(t *testing.T) {
	path, data := createTestKeystore(t)
	var backup bytes.Buffer
	if err := Export(path, &backup); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(backup.Bytes(), data) {
		t.Fatal("Export is not the file verbatim")
	}
	dir := t.TempDir()

	// A wrong passphrase writes nothing.
	target := filepath.Join(dir, "sub", "restored")
	_, err := Restore(bytes.NewReader(data), target, []byte("wrong"), testKeystoreOpts()...)
	wantKeystoreErr(t, err, ErrWrongPassphrase)
	if _, err := os.Stat(filepath.Dir(target)); !errors.Is(err, fs.ErrNotExist) {
		t.Error("Restore with a wrong passphrase created the directory")
	}
	// Neither does a damaged backup.
	damaged := slices.Clone(data)
	damaged[len(damaged)-1] ^= 1
	if _, err := Restore(bytes.NewReader(damaged), target, testPass, testKeystoreOpts()...); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("Restore of a damaged backup: %v", err)
	}
	if _, err := Restore(bytes.NewReader(data[:100]), target, testPass, testKeystoreOpts()...); !errors.Is(err, ErrKeystoreTruncated) {
		t.Errorf("Restore of a truncated backup: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(target)); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a failed Restore wrote something")
	}

	// The right passphrase restores it verbatim.
	bak, err := Restore(bytes.NewReader(data), target, testPass, testKeystoreOpts()...)
	if err != nil || bak != "" {
		t.Fatalf("Restore = %q, %v", bak, err)
	}
	if !bytes.Equal(mustFileBytes(t, target), data) {
		t.Error("the restored file differs from the backup")
	}
	if fi, err := os.Stat(target); err != nil || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("restored file: %v, %v", fi.Mode(), err)
	}
	openTestKeystore(t, target, testPass)

	// An existing keystore is not replaced without the option…
	other := filepath.Join(t.TempDir(), "other")
	if err := Create(other, []byte("other pass"), map[string][]byte{"o": {1}}, testKeystoreOpts()...); err != nil {
		t.Fatal(err)
	}
	otherData := mustFileBytes(t, other)
	_, err = Restore(bytes.NewReader(otherData), target, []byte("other pass"), testKeystoreOpts()...)
	wantKeystoreErr(t, err, ErrKeystoreExists)
	if !bytes.Equal(mustFileBytes(t, target), data) {
		t.Error("Restore replaced a keystore without being asked")
	}
	// …nor with it, when the passphrase is wrong…
	if _, err := Restore(bytes.NewReader(otherData), target, testPass, testKeystoreOpts(WithKeystoreOverwrite())...); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("overwrite with a wrong passphrase: %v", err)
	}
	if names := dirNames(t, filepath.Dir(target)); !slices.Equal(names, []string{"restored"}) {
		t.Errorf("directory holds %v", names)
	}
	// …and with it, the old one is kept.
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	clock := withKeystoreClock(func() time.Time { return now })
	bak, err = Restore(bytes.NewReader(otherData), target, []byte("other pass"), testKeystoreOpts(WithKeystoreOverwrite(), clock)...)
	if err != nil {
		t.Fatal(err)
	}
	if want := target + ".bak-20260506T070809Z"; bak != want {
		t.Errorf("backup %q, want %q", bak, want)
	}
	if !bytes.Equal(mustFileBytes(t, bak), data) || !bytes.Equal(mustFileBytes(t, target), otherData) {
		t.Error("after the overwrite, the files are not what they should be")
	}
	// A second overwrite in the same second gets its own backup name.
	bak2, err := Restore(bytes.NewReader(data), target, testPass, testKeystoreOpts(WithKeystoreOverwrite(), clock)...)
	if err != nil || bak2 != bak+"-2" {
		t.Errorf("second backup %q, %v", bak2, err)
	}
	if !bytes.Equal(mustFileBytes(t, bak2), otherData) || !bytes.Equal(mustFileBytes(t, bak), data) {
		t.Error("the second overwrite changed the first backup")
	}
	// A failing write keeps the old keystore and removes the extra name.
	_, err = Restore(bytes.NewReader(otherData), target, []byte("other pass"), testKeystoreOpts(WithKeystoreOverwrite(), clock,
		withKeystoreFault(func(s string) error {
			if s == "rename" {
				return errors.New("injected")
			}
			return nil
		}))...)
	if err == nil {
		t.Fatal("Restore with a failing rename succeeded")
	}
	if !bytes.Equal(mustFileBytes(t, target), data) {
		t.Error("a failed Restore changed the keystore")
	}
	if names := dirNames(t, filepath.Dir(target)); len(names) != 3 {
		t.Errorf("directory holds %v", names)
	}
}

func TestKeystoreGetReturnsCopyAndCloseWipes(t *testing.T) {
	path, _ := createTestKeystore(t)
	ks := openTestKeystore(t, path, testPass)
	v, err := ks.Get(KeystoreEntryNodeKey)
	if err != nil {
		t.Fatal(err)
	}
	clear(v)
	if v2, _ := ks.Get(KeystoreEntryNodeKey); !bytes.Equal(v2, testNodeKey()) {
		t.Fatal("Get returned the keystore's own buffer")
	}
	val := []byte{1, 2, 3}
	if err := ks.Set("x", val); err != nil {
		t.Fatal(err)
	}
	val[0] = 9
	if v, _ := ks.Get("x"); v[0] != 1 {
		t.Fatal("Set kept the caller's buffer")
	}
	// Keep references to the internal buffers, then close.
	var internal [][]byte
	for _, v := range ks.st.entries {
		internal = append(internal, v)
	}
	key := ks.st.key
	replaced := ks.st.entries["x"]
	if err := ks.Set("x", []byte{4, 5, 6}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(replaced, []byte{0, 0, 0}) {
		t.Error("Set did not wipe the value it replaced")
	}
	if err := ks.Close(); err != nil {
		t.Fatal(err)
	}
	for _, b := range append(internal, key) {
		if !bytes.Equal(b, make([]byte, len(b))) {
			t.Errorf("buffer not wiped by Close: %x", b)
		}
	}
	if _, err := ks.Get(KeystoreEntryNodeKey); !errors.Is(err, ErrKeystoreClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	for name, err := range map[string]error{
		"Set": ks.Set("y", nil), "Delete": ks.Delete("x"), "Save": ks.Save(testPass),
		"ChangePassphrase": ks.ChangePassphrase(testPass, testPass), "SetMeta": ks.SetMeta(KeystoreMeta{}),
	} {
		if !errors.Is(err, ErrKeystoreClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
	if ks.Names() != nil || ks.Modified() || ks.Meta() != (KeystoreMeta{}) {
		t.Error("a closed keystore still shows state")
	}
	if err := ks.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	var nilKS *Keystore
	if _, err := nilKS.Get("x"); !errors.Is(err, ErrKeystoreClosed) {
		t.Errorf("Get on nil: %v", err)
	}
}

// secretForms returns the ways a secret could show up in printed output.
func secretForms() []string {
	key := testNodeKey()
	forms := []string{
		"diet diet", "whisper", hex.EncodeToString(key), strings.ToUpper(hex.EncodeToString(key)),
		base64.StdEncoding.EncodeToString(key), base64.StdEncoding.EncodeToString([]byte(testMnemonic))[:16],
		fmt.Sprint(key[:4])[1:12], // "160 161 162" as %v of []byte prints
		string(key[:4]),
		"0xa0", "0xa1",
	}
	return forms
}

func assertNoSecrets(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range secretForms() {
		if strings.Contains(out, s) {
			t.Errorf("%s leaks %q: %s", what, s, out)
		}
	}
}

func TestKeystoreRedaction(t *testing.T) {
	path, _ := createTestKeystore(t)
	ks := openTestKeystore(t, path, testPass)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v", "%10.3v"} {
		out := fmt.Sprintf(verb, ks)
		assertNoSecrets(t, verb, out)
		if verb != "%T %v" && (!strings.Contains(out, KeystoreEntryNodeKey) || !strings.Contains(out, "[redacted]")) {
			t.Errorf("%s: %q does not list entry names and say [redacted]", verb, out)
		}
		// The value, and nested in other values, where fmt cannot call
		// methods (unexported fields) and dereferences on a bad verb.
		for what, v := range map[string]any{
			"value":            *ks,
			"exported field":   struct{ K *Keystore }{ks},
			"unexported field": struct{ k *Keystore }{ks},
			"unexported value": struct{ k Keystore }{*ks},
			"slice":            []any{ks, *ks},
			"map":              map[string]Keystore{"k": *ks},
		} {
			assertNoSecrets(t, what+" "+verb, fmt.Sprintf(verb, v))
		}
		if out := fmt.Sprintf(verb, *ks); verb != "%T %v" && !strings.Contains(out, "[redacted]") {
			t.Errorf("value %s: %q", verb, out)
		}
	}
	if got := ks.String(); got != fmt.Sprintf("wallet.Keystore{path: %q, entries: [node.key owner.mnemonic], values: [redacted]}", path) {
		t.Errorf("String = %s", got)
	}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		l := slog.New(h)
		l.Info("opened", "keystore", ks)
		l.Info("opened", slog.Any("keystore", ks), slog.Any("value", *ks))
		l.Info("opened", "err", fmt.Errorf("wrapped: %v", ks))
	}
	assertNoSecrets(t, "slog", logs.String())
	if !strings.Contains(logs.String(), "owner.mnemonic") {
		t.Errorf("slog output lacks the entry names: %s", logs.String())
	}
	for _, v := range []any{ks, *ks, struct{ K *Keystore }{ks}, map[string]any{"k": ks}} {
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		assertNoSecrets(t, "json", string(out))
	}
	out, _ := json.Marshal(ks)
	want := fmt.Sprintf(`{"path":%q,"entries":["node.key","owner.mnemonic"],"closed":false,"values":"[redacted]"}`, path)
	if string(out) != want {
		t.Errorf("MarshalJSON = %s, want %s", out, want)
	}
	ks.Close()
	if got := fmt.Sprint(ks); !strings.Contains(got, "closed") {
		t.Errorf("closed keystore prints %q", got)
	}
	var nilKS *Keystore
	if got := fmt.Sprint(nilKS); got != "<nil>" {
		t.Errorf("nil keystore prints %q", got)
	}
	if out, err := json.Marshal(nilKS); err != nil || string(out) != "null" {
		t.Errorf("nil keystore marshals to %s, %v", out, err)
	}
	if got := (Keystore{}).String(); !strings.Contains(got, "closed") {
		t.Errorf("zero Keystore prints %q", got)
	}
}

func TestKeystoreErrorsDoNotLeakSecrets(t *testing.T) {
	path, _ := createTestKeystore(t)
	ks := openTestKeystore(t, path, testPass)
	var errs []error
	errs = append(errs, ks.Set(KeystoreEntryNodeKey, testNodeKey()[:31]))
	errs = append(errs, ks.Set(KeystoreEntryOwnerMnemonic, []byte(strings.ToUpper(testMnemonic))))
	errs = append(errs, ks.Save([]byte("wrong passphrase")))
	_, err := Open(path, []byte("wrong passphrase"), testKeystoreOpts()...)
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		assertNoSecrets(t, "error", err.Error())
		if strings.Contains(err.Error(), "wrong passphrase") && !strings.Contains(err.Error(), "does not open") {
			t.Errorf("error shows the passphrase: %v", err)
		}
	}
}

func TestKeystoreConcurrentUse(t *testing.T) {
	path, _ := createTestKeystore(t)
	ks := openTestKeystore(t, path, testPass)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := fmt.Sprintf("e%d", i)
			for j := range 50 {
				if err := ks.Set(name, []byte{byte(j)}); err != nil {
					t.Error(err)
					return
				}
				if _, err := ks.Get(KeystoreEntryNodeKey); err != nil {
					t.Error(err)
				}
				_ = ks.Names()
				_ = ks.String()
			}
		})
	}
	wg.Go(func() {
		if err := ks.Save(testPass); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	if err := ks.Save(testPass); err != nil {
		t.Fatal(err)
	}
	if got := len(openTestKeystore(t, path, testPass).Names()); got != 10 {
		t.Errorf("%d entries after concurrent use, want 10", got)
	}
}

// TestKeystoreDefaultParameters runs Create and Open once with the real
// Argon2id parameters and limits (about three derivations' time).
func TestKeystoreDefaultParameters(t *testing.T) {
	if testing.Short() {
		t.Skip("slow by design: three Argon2id derivations at the default cost")
	}
	path := filepath.Join(t.TempDir(), "keystore")
	if err := Create(path, testPass, testEntries()); err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(path)
	if err != nil || info.KDF != DefaultKeystoreKDF() {
		t.Fatalf("Inspect: %v, %v", info.KDF, err)
	}
	ks, err := Open(path, testPass)
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	if _, err := Open(path, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
}
