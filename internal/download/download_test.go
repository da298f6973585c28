package download

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type server struct {
	*httptest.Server
	mu          sync.Mutex
	body        []byte
	ignoreRange bool
	dropAfter   int64
	dropN       int
	ranges      []string
}

func newServer(t *testing.T, body []byte) *server {
	s := &server{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		drop := int64(0)
		if s.dropN > 0 {
			s.dropN--
			drop = s.dropAfter
		}
		ignore := s.ignoreRange
		s.mu.Unlock()
		if ignore {
			r.Header.Del("Range")
		}
		if drop > 0 {
			w.Header().Set("Content-Length", fmt.Sprint(len(s.body)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(s.body[:drop])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "f", time.Unix(0, 0), bytes.NewReader(s.body))
	}))
	t.Cleanup(s.Close)
	return s
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

var body = bytes.Repeat([]byte("0123456789abcdef"), 10000)

func TestGet(t *testing.T) {
	s := newServer(t, body)
	dest := filepath.Join(t.TempDir(), "f")
	var last [2]int64
	r, err := Get(context.Background(), s.URL, dest, Options{SHA256: strings.ToUpper(sum(body)), Progress: func(d, tot int64) { last = [2]int64{d, tot} }})
	if err != nil || r.Size != int64(len(body)) || r.Cached {
		t.Fatalf("%+v %v", r, err)
	}
	if b, _ := os.ReadFile(dest); !bytes.Equal(b, body) || last != [2]int64{int64(len(body)), int64(len(body))} {
		t.Errorf("content or progress %v", last)
	}
	if _, err := os.Stat(dest + PartSuffix); err == nil {
		t.Error("part left")
	}
	n := len(s.ranges)
	if r, err := Get(context.Background(), s.URL, dest, Options{SHA256: sum(body)}); err != nil || !r.Cached || len(s.ranges) != n {
		t.Errorf("cached: %+v %v", r, err)
	}
}

func TestGetRefused(t *testing.T) {
	s := newServer(t, body)
	cases := []struct {
		name string
		o    Options
		url  string
		kind error
	}{
		{"wrong sha256", Options{SHA256: sum(nil)}, "", ErrChecksum},
		{"bad sha256", Options{SHA256: "xyz"}, "", ErrSource},
		{"file url", Options{}, "file:///etc/passwd", ErrSource},
		{"not found", Options{}, s.URL + "/x?404", ErrChecksum},
		{"too large", Options{MaxSize: 100}, "", ErrTooLarge},
		{"size mismatch", Options{Size: 5}, "", ErrSize},
		{"disk full", Options{Policy: Policy{FreeSpace: func(string) (int64, error) { return 10, nil }}}, "", ErrDiskSpace},
		{"margin", Options{Policy: Policy{FreeSpace: func(string) (int64, error) { return int64(len(body)) + 10, nil }, FreeSpaceMargin: 100}}, "", ErrDiskSpace},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := c.url
			if u == "" {
				u = s.URL
			}
			if c.name == "not found" {
				srv := httptest.NewServer(http.NotFoundHandler())
				defer srv.Close()
				u, c.kind = srv.URL, ErrHTTPStatus
			}
			dest := filepath.Join(t.TempDir(), "f")
			_, err := Get(context.Background(), u, dest, c.o)
			if !errors.Is(err, c.kind) {
				t.Fatalf("err = %v, want %v", err, c.kind)
			}
			t.Log(err)
			for _, p := range []string{dest, dest + PartSuffix} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s left", p)
				}
			}
		})
	}
}

func TestGetResume(t *testing.T) {
	s := newServer(t, body)
	half := int64(len(body) / 2)
	s.dropAfter, s.dropN = half, 1
	dest := filepath.Join(t.TempDir(), "f")
	if _, err := Get(context.Background(), s.URL, dest, Options{}); !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "fetch again to resume") {
		t.Fatalf("first: %v", err)
	}
	if fi, err := os.Stat(dest + PartSuffix); err != nil || fi.Size() != half {
		t.Fatalf("part %v %v", fi, err)
	}
	if _, err := Get(context.Background(), s.URL, dest, Options{SHA256: sum(body)}); err != nil {
		t.Fatal(err)
	}
	if s.ranges[1] != fmt.Sprintf("bytes=%d-", half) {
		t.Errorf("ranges %q", s.ranges)
	}
	// Retries within one call.
	s2 := newServer(t, body)
	s2.dropAfter, s2.dropN = 100, 2
	d2 := filepath.Join(t.TempDir(), "f")
	if _, err := Get(context.Background(), s2.URL, d2, Options{Policy: Policy{Attempts: 3}, SHA256: sum(body)}); err != nil {
		t.Fatal(err)
	}
	if len(s2.ranges) != 3 || s2.ranges[2] != "bytes=100-" {
		t.Errorf("ranges %q", s2.ranges)
	}
	// A whole part file: the server's 416 says so, nothing is fetched again.
	d3 := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(d3+PartSuffix, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := Get(context.Background(), s.URL, d3, Options{}); err != nil || r.Size != int64(len(body)) {
		t.Fatalf("complete part: %+v %v", r, err)
	}
}

func TestGetServerIgnoresRange(t *testing.T) {
	s := newServer(t, body)
	s.ignoreRange = true
	dest := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(dest+PartSuffix, []byte(strings.Repeat("x", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Get(context.Background(), s.URL, dest, Options{SHA256: sum(body)}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dest); !bytes.Equal(b, body) {
		t.Error("content")
	}
}

func TestHeadAndContentRange(t *testing.T) {
	s := newServer(t, body)
	if n, err := Head(context.Background(), nil, s.URL); err != nil || n != int64(len(body)) {
		t.Errorf("head %d %v", n, err)
	}
	for v, want := range map[string][3]int64{"bytes 5-9/10": {5, 10, 1}, "bytes 5-9/*": {5, -1, 1}, "bytes x-9/10": {0, 0, 0}, "5-9/10": {0, 0, 0}, "bytes 5-9/3": {0, 0, 0}} {
		st, tot, ok := parseContentRange(v)
		okN := int64(0)
		if ok {
			okN = 1
		}
		if [3]int64{st, tot, okN} != want {
			t.Errorf("%q: %d %d %v", v, st, tot, ok)
		}
	}
}
