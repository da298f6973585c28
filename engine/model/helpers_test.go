package model

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/internal/download"
)

// fileServer serves files by path with Range and HEAD support, and can
// be told to drop the next connections part-way.
type fileServer struct {
	*httptest.Server
	mu        sync.Mutex
	files     map[string][]byte
	dropAfter int64
	dropN     int
	requests  []string // "METHOD path range"
}

func newFileServer(t testing.TB) *fileServer {
	s := &fileServer{files: map[string][]byte{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *fileServer) put(path string, b []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = b
	return s.URL + path
}

func (s *fileServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, ok := s.files[r.URL.Path]
	s.requests = append(s.requests, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+r.Header.Get("Range")))
	drop := int64(0)
	if s.dropN > 0 && r.Method == http.MethodGet {
		s.dropN--
		drop = s.dropAfter
	}
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if drop > 0 {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b[:drop])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	http.ServeContent(w, r, "m.tar", time.Unix(0, 0), bytes.NewReader(b))
}

func (s *fileServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// testModel is a model "archive" (any whole number of blocks will do for
// dm-verity), its verity file and its model string.
type testModel struct {
	tar, verity []byte
	spec        Spec
}

func makeModel(t testing.TB, name string, blocks int, seed byte) testModel {
	t.Helper()
	tar := fixtureData(blocks)
	for i := range tar {
		tar[i] ^= seed
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "v"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	root, err := BuildVerity(bytes.NewReader(tar), int64(len(tar)), f, BuildModelVerity())
	if err != nil {
		t.Fatal(err)
	}
	v, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	commit := strings.Repeat(fmt.Sprintf("%02x", seed), 20)
	return testModel{tar: tar, verity: v, spec: Spec{Name: name, Commit: commit, VerityHash: hex.EncodeToString(root[:])}}
}

func newTestStore(t testing.TB, mod func(*Options)) *Store {
	t.Helper()
	o := Options{
		Dir: t.TempDir(),
		Policy: download.Policy{FreeSpace: func(string) (int64, error) { return 1 << 40, nil },
			FreeSpaceMargin: -1, RetryWait: -1, Attempts: 1},
	}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
