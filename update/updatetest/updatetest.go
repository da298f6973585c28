// Package updatetest serves release feeds to tests.
package updatetest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// FeedServer serves /feed.json and /feed.json.sig; a nil body answers 404.
type FeedServer struct {
	*httptest.Server
	mu        sync.Mutex
	feed, sig []byte
}

// NewFeedServer starts a FeedServer, closed when the test ends.
func NewFeedServer(t testing.TB, feed, sig []byte) *FeedServer {
	t.Helper()
	s := &FeedServer{feed: feed, sig: sig}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var b []byte
		switch r.URL.Path {
		case "/feed.json":
			b = s.feed
		case "/feed.json.sig":
			b = s.sig
		}
		if b == nil {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

// FeedURL is the feed's address.
func (s *FeedServer) FeedURL() string { return s.URL + "/feed.json" }

// Set replaces what the server answers.
func (s *FeedServer) Set(feed, sig []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.feed, s.sig = feed, sig
}
