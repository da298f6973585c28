package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fixtureData is deterministic test data of n 4096-byte blocks: byte k
// is (7k + 13·(k>>12) + (k>>9)) mod 256.
func fixtureData(blocks int) []byte {
	b := make([]byte, blocks*VerityBlockSize)
	for k := range b {
		b[k] = byte(k*7 + (k>>12)*13 + (k >> 9))
	}
	return b
}

// The expected values were made with cryptsetup 2.6.1:
//
//	veritysetup format --uuid=645ac31f-7610-42e1-8434-9d733699eac0 \
//	    --salt=00010203040506070809101a1b1c1d1e1f DATA HASHFILE
//
// over fixtureData(blocks): its root hash, the SHA-256 of the hash file,
// and the hash file's size. The sizes cover no hash level (one block),
// one level (2–128 blocks), two (129) and three (16385).
var verityFixtures = []struct {
	blocks     int
	root       string
	fileSHA256 string
	fileSize   int64
}{
	{1, "919ce46995d71dc55995698c38b19ea815ded1a469b5681d848110651e2d3b2b", "3e35a0050395ce5656db243999a2310e28076d4cd853cfbeedd430bd42f7caaf", 4096},
	{2, "1b8c8517340517c14e4721459425a5176efc8acdf5f3282d4c955b39c0b1bffb", "842a6ba2c6aa0816212b2ab11acf66e3b8e16437c47ef3ef503bcd0c25996339", 8192},
	{127, "9e8c73e1c70ae0893f84a64532dfd2655dd288e1c40e7abc8bd0feeacb355623", "7a53d8ce410152f30e260effbb5da05c55e350eff6ab5820bd3f33ac893c421e", 8192},
	{128, "0611516dad851340541d50da83e8a9c252502086ba216bf66f9a9280933f539f", "93fe6d26cc0cd24011dd6ec4934e53e623193dbfcf166427b713b9381fe8d7bc", 8192},
	{129, "0f1d79c443e7b6252ca755c80621e0ddb54b008dd86d161513c9dc102d1186b6", "3b4e5d2c7981ba0f7a65b9ace5550ad0be5ee40ca0800bfff6e183b4a63acbc4", 16384},
	{16385, "2c06594f1f9bfe8ded89c9d1e973ebec3903c9bbaba82a96145a8d20ff4e292a", "efaa4af615a9ea7d5672906f3969f658208bbda9abebdd8b9f0f0f5df5b276a3", 544768},
}

func TestBuildVerityMatchesVeritysetup(t *testing.T) {
	for _, fx := range verityFixtures {
		if testing.Short() && fx.blocks > 1000 {
			continue
		}
		data := fixtureData(fx.blocks)
		path := filepath.Join(t.TempDir(), "h")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		root, err := BuildVerity(bytes.NewReader(data), int64(len(data)), f, BuildModelVerity())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("%d blocks: %v", fx.blocks, err)
		}
		if got := hex.EncodeToString(root[:]); got != fx.root {
			t.Errorf("%d blocks: root %s, veritysetup %s", fx.blocks, got, fx.root)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if int64(len(b)) != fx.fileSize || hex.EncodeToString(sum[:]) != fx.fileSHA256 {
			t.Errorf("%d blocks: hash file %d bytes, sha256 %x; veritysetup: %d bytes, %s", fx.blocks, len(b), sum, fx.fileSize, fx.fileSHA256)
		}
		if VeritySize(int64(len(data))) != fx.fileSize {
			t.Errorf("%d blocks: VeritySize %d, want %d", fx.blocks, VeritySize(int64(len(data))), fx.fileSize)
		}
		uuid, n, err := ReadVerityHeader(bytes.NewReader(b), BuildModelVerity())
		if err != nil || n != int64(fx.blocks) || uuid != BuildModelVerity().UUID {
			t.Errorf("%d blocks: header %x %d %v", fx.blocks, uuid, n, err)
		}
	}
}

func TestBuildVerityRefusesUnpadded(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "h"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, size := range []int64{0, 1, 4095, 4097} {
		if _, err := BuildVerity(bytes.NewReader(make([]byte, size)), size, f, BuildModelVerity()); !errors.Is(err, ErrFormat) {
			t.Errorf("size %d: %v", size, err)
		}
	}
	// Shorter than it says.
	if _, err := BuildVerity(bytes.NewReader(make([]byte, 4096)), 8192, f, BuildModelVerity()); !errors.Is(err, ErrFormat) {
		t.Errorf("short: %v", err)
	}
}
