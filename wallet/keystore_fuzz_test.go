package wallet

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzOpen feeds arbitrary files to the parser and decryptor. It must never
// panic, every failure must be one of the documented errors, and a file that
// opens must be exactly the canonical encoding of what it decrypted to (so
// no bit of a file that opens is unauthenticated). The KDF limits are the
// small test ones: a mutated header cannot ask for much memory or time.
//
//	go test -run '^$' -fuzz FuzzOpen -fuzztime 60s ./wallet/
func FuzzOpen(f *testing.F) {
	var files [][]byte
	for _, entries := range []map[string][]byte{testEntries(), nil, {"a": nil, "b": {0}}} {
		path := f.TempDir() + "/k"
		if err := Create(path, testPass, entries, testKeystoreOpts(WithKeystoreMeta(testMeta))...); err != nil {
			f.Fatal(err)
		}
		data, err := readKeystoreFileForTest(path)
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, data)
	}
	for _, data := range files {
		f.Add(data, testPass)
		f.Add(data, []byte("wrong"))
		f.Add(data[:len(data)/2], testPass)
		f.Add(append(bytes.Clone(data), 0), testPass)
	}
	f.Add([]byte(keystoreMagic), testPass)
	f.Add([]byte{}, []byte{})
	known := []error{ErrWrongPassphrase, ErrNotKeystore, ErrKeystoreCorrupt, ErrKeystoreTruncated, ErrKeystoreVersion}
	f.Fuzz(func(t *testing.T, data, pass []byte) {
		kf, entries, key, err := openKeystoreBytes(data, pass, testKeystoreMaxKDF)
		if err != nil {
			var ke *KeystoreError
			if !errors.As(err, &ke) {
				t.Fatalf("error %v (%T) is not a *KeystoreError", err, err)
			}
			ok := false
			for _, want := range known {
				ok = ok || errors.Is(err, want)
			}
			if !ok {
				t.Fatalf("undocumented error %v", err)
			}
			_ = err.Error()
			return
		}
		defer clear(key)
		payload, err := encodeKeystorePayload(entries)
		if err != nil {
			t.Fatalf("decrypted entries do not encode: %v", err)
		}
		again, err := sealKeystoreFile(kf.hdr.kdf, kf.hdr.salt, kf.hdr.nonce, kf.hdr.metaRaw, payload, key)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("a non-canonical file opened:\n got %x\nwant %x", data, again)
		}
	})
}

func readKeystoreFileForTest(path string) ([]byte, error) {
	data, _, err := readKeystoreFile(path, true)
	return data, err
}
