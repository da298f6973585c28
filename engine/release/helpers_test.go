package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/internal/download"
)

// entry is one tar entry of a test archive.
type entry struct {
	name string
	typ  byte
	body string
	link string
	mode int64
	size int64 // header size when it should differ from len(body)
}

func file(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, body: body, mode: 0o644}
}
func exe(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, body: body, mode: 0o755}
}

// tarGz builds a gzip-compressed tar archive.
func tarGz(t testing.TB, ents []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
			if e.size != 0 {
				h.Size = e.size
			}
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg && e.body != "" {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const testRootHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// releaseEntries is a small worker release under release-<tag>/.
func releaseEntries(tag string) []entry {
	p := "release-" + tag + "/"
	return []entry{
		{name: p, typ: tar.TypeDir, mode: 0o755},
		exe(p+"scripts/cocoon-launch", "#!/usr/bin/env python3\n# "+tag+"\n"),
		exe(p+"scripts/setup-gpu-vfio", "#!/usr/bin/env python3\n"),
		exe(p+"bin/health-client", "ELF "+tag),
		file(p+"spec/spec-worker/.gitignore", "runtime\n"),
		exe(p+"spec/spec-worker/init", "#!/bin/sh\necho init\n"),
		file(p+"spec/spec-worker/worker-config.json", `{"tag":"`+tag+`"}`),
		file(p+"spec/spec-worker/model.verity_hash", "$MODEL_VERITY_HASH\n"),
		file(p+"spec/mainnet-base-ton-config.json", `{"dht":{}}`),
		file(p+"images/prod/OVMF.fd", "firmware "+tag),
		file(p+"images/prod/image.vmlinuz", "kernel "+tag),
		file(p+"images/prod/image.initrd", "initrd "+tag),
		file(p+"images/prod/image.cmdline", "roothash="+testRootHash+" console=hvc0\n"),
		file(p+"README.md", "release "+tag+"\n"),
	}
}

func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// archiveServer serves archives by path with Range support, and can be
// told to drop connections or ignore Range.
type archiveServer struct {
	*httptest.Server
	mu          sync.Mutex
	files       map[string][]byte
	ignoreRange bool
	dropAfter   int64 // >0: the next dropN requests stop after this many bytes
	dropN       int
	ranges      []string // Range headers seen, "" for none
}

func newArchiveServer(t testing.TB) *archiveServer {
	s := &archiveServer{files: map[string][]byte{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *archiveServer) put(path string, b []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = b
	return s.URL + path
}

func (s *archiveServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, ok := s.files[r.URL.Path]
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	ignore, drop := s.ignoreRange, int64(0)
	if s.dropN > 0 {
		s.dropN--
		drop = s.dropAfter
	}
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if ignore {
		r.Header.Del("Range")
	}
	if drop > 0 {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b[:drop])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection drops mid-transfer
	}
	http.ServeContent(w, r, "r.tar.gz", time.Unix(0, 0), bytes.NewReader(b))
}

func (s *archiveServer) seenRanges() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

// newTestManager is a Manager in a temporary folder with plenty of
// (pretend) disk space and no waiting between attempts.
func newTestManager(t testing.TB, mod func(*Options)) *Manager {
	t.Helper()
	opts := Options{
		Dir: t.TempDir(),
		Policy: download.Policy{FreeSpace: func(string) (int64, error) { return 1 << 40, nil },
			FreeSpaceMargin: -1, RetryWait: -1, Attempts: 1},
		Now: func() time.Time { return time.Now() },
	}
	if mod != nil {
		mod(&opts)
	}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// clock returns increasing times, so fetch order is well defined.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// fetchGood serves and fetches the release tagged tag.
func fetchGood(t testing.TB, m *Manager, s *archiveServer, tag string) Release {
	t.Helper()
	b := tarGz(t, releaseEntries(tag))
	u := s.put("/"+tag+".tar.gz", b)
	r, err := m.Fetch(context.Background(), Source{URL: u, SHA256: sumHex(b)}, nil)
	if err != nil {
		t.Fatalf("fetch %s: %v", tag, err)
	}
	return r
}

func containsAll(t testing.TB, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%q does not contain %q", s, sub)
		}
	}
}
