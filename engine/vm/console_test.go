//go:build linux

package vm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// readConsole concatenates a console log's files, oldest first.
func readConsole(t *testing.T, path string, files int) []byte {
	t.Helper()
	var all []byte
	for i := files - 1; i >= 0; i-- {
		p := path
		if i > 0 {
			p = fmt.Sprintf("%s.%d", path, i)
		}
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func TestConsoleRotationBounds(t *testing.T) {
	for _, files := range []int{1, 2, 4} {
		t.Run(fmt.Sprint(files, " files"), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "console.log")
			const maxBytes = 1000
			c, err := OpenConsoleLog(ConsoleOptions{Path: path, MaxBytes: maxBytes, Files: files, TailBytes: 300})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			rng := rand.New(rand.NewPCG(1, uint64(files)))
			var stream []byte
			for i := range 400 {
				// Mostly small writes, now and then one larger than a file.
				n := rng.IntN(120)
				if i%37 == 0 {
					n = 2500
				}
				chunk := make([]byte, n)
				for j := range chunk {
					chunk[j] = byte('a' + (len(stream)+j)%26)
				}
				if w, err := c.Write(chunk); w != n || err != nil {
					t.Fatalf("Write = %d, %v", w, err)
				}
				stream = append(stream, chunk...)
				checkConsoleFiles(t, path, maxBytes, files)
			}
			if err := c.Err(); err != nil {
				t.Fatal(err)
			}
			// What is on disk is exactly the end of what was written.
			got := readConsole(t, path, files)
			if len(got) == 0 || !bytes.HasSuffix(stream, got) {
				t.Errorf("files hold %d bytes that are not the end of the stream", len(got))
			}
			if len(got) < maxBytes*(files-1) {
				t.Errorf("files hold only %d bytes", len(got))
			}
			if tail := c.Tail(); !bytes.Equal(tail, stream[len(stream)-300:]) {
				t.Errorf("tail is not the last 300 bytes")
			}
		})
	}
}

func TestConsoleAppendsAndCountsExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	if err := os.WriteFile(path, bytes.Repeat([]byte("o"), 90), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := OpenConsoleLog(ConsoleOptions{Path: path, MaxBytes: 100, Files: 2})
	if err != nil {
		t.Fatal(err)
	}
	c.Write(bytes.Repeat([]byte("n"), 20))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Writes after Close reopen the file where it ended.
	c.Write([]byte("z"))
	c.Close()
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if string(old) != string(bytes.Repeat([]byte("o"), 90))+"nnnnnnnnnn" || string(cur) != "nnnnnnnnnnz" {
		t.Errorf("console.log.1 = %q, console.log = %q", old, cur)
	}
}

func TestConsoleTailOnly(t *testing.T) {
	c, err := OpenConsoleLog(ConsoleOptions{TailBytes: 8})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				c.Write([]byte("0123456789"))
			}
		}()
	}
	wg.Wait()
	if got := string(c.Tail()); got != "23456789" {
		t.Errorf("tail = %q", got)
	}
	if c.Path() != "" || c.Close() != nil {
		t.Error("a tail-only log has no file")
	}
}

func TestConsoleWriteErrorDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "console.log")
	c, err := OpenConsoleLog(ConsoleOptions{Path: path, MaxBytes: 10, Files: 2, TailBytes: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Make rotation fail: console.log.1 is a non-empty directory.
	if err := os.MkdirAll(filepath.Join(path+".1", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if n, err := c.Write([]byte("0123456789")); n != 10 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if c.Err() == nil {
		t.Error("rotation failure not reported by Err")
	}
	if got := string(c.Tail()); got != "6789" {
		t.Errorf("tail = %q", got)
	}
}

func TestRing(t *testing.T) {
	r := newRing(5)
	var all []byte
	for _, s := range []string{"ab", "cde", "f", "ghijklm", "", "n", "opqr"} {
		r.Write([]byte(s))
		all = append(all, s...)
		want := all[max(0, len(all)-5):]
		if got := r.Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("after %q: %q, want %q", s, got, want)
		}
	}
}
