package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeWorker emulates the worker's HTTP server (§6.1, §6.2) in httptest:
// every registered path answers 200 with a fixed body; unregistered paths
// get 400 with body "not found". It records the raw request URIs.
type fakeWorker struct {
	srv      *httptest.Server
	ready    atomic.Bool
	replies  map[string]string // path → body
	requests chan string       // RequestURI of every request
}

func newFakeWorker(t *testing.T, replies map[string]string) *fakeWorker {
	t.Helper()
	fw := &fakeWorker{replies: replies, requests: make(chan string, 100)}
	fw.ready.Store(true)
	fw.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the reply before reporting the request: a test may change
		// replies once it has seen the request.
		body, ok := fw.replies[r.URL.Path]
		fw.requests <- r.RequestURI
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if !ok || (!fw.ready.Load() && r.URL.Path != PathPerf) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, "not found")
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(fw.srv.Close)
	return fw
}

// client returns a Client that reaches fw through an injected dialer and
// counts the dials.
func (fw *fakeWorker) client(dials *atomic.Int32, opts ...ClientOption) *Client {
	var d net.Dialer
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials != nil {
			dials.Add(1)
		}
		// The address the client asks for is whatever NewClient got; the
		// dialer decides where it really goes.
		return d.DialContext(ctx, "tcp", fw.srv.Listener.Addr().String())
	}
	return NewClient(dial, "worker.invalid:12000", opts...)
}

func TestClientStats(t *testing.T) {
	fw := newFakeWorker(t, map[string]string{PathJSONStats: "\n" + string(readExample(t)), PathStats: "<html>STATUS</html>", PathPerf: "perf text"})
	var dials atomic.Int32
	c := fw.client(&dials)
	s, err := c.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Proxies[0].EarnedTokensMaxKnown != 2410533 {
		t.Errorf("Stats = %+v", s)
	}
	if raw, err := c.RawStats(context.Background()); err != nil || string(raw) != "<html>STATUS</html>" {
		t.Errorf("RawStats = %q, %v", raw, err)
	}
	if perf, err := c.Perf(context.Background()); err != nil || string(perf) != "perf text" {
		t.Errorf("Perf = %q, %v", perf, err)
	}
	if got := dials.Load(); got != 3 {
		t.Errorf("dialer used %d times, want 3 (one per request, no keep-alive)", got)
	}
	for _, want := range []string{PathJSONStats, PathStats, PathPerf} {
		if got := <-fw.requests; got != want {
			t.Errorf("request %q, want %q", got, want)
		}
	}
}

func TestClientNotReady(t *testing.T) {
	fw := newFakeWorker(t, map[string]string{PathJSONStats: string(readExample(t)), PathPerf: "perf", PathEnable: "state updated"})
	fw.ready.Store(false)
	c := fw.client(nil)
	_, err := c.Stats(context.Background())
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "/jsonstats") {
		t.Errorf("Stats before init: %v, want ErrNotReady naming /jsonstats", err)
	}
	if err := c.Enable(context.Background()); !errors.Is(err, ErrNotReady) {
		t.Errorf("Enable before init: %v", err)
	}
	if _, err := c.Perf(context.Background()); err != nil {
		t.Errorf("Perf works from process start: %v", err)
	}
}

func TestClientEnableDisable(t *testing.T) {
	fw := newFakeWorker(t, map[string]string{PathEnable: "state updated", PathDisable: "<html><body>state updated</body></html>"})
	c := fw.client(nil)
	if err := c.Enable(context.Background()); err != nil {
		t.Error(err)
	}
	if err := c.Disable(context.Background()); err != nil {
		t.Error(err)
	}
	if a, b := <-fw.requests, <-fw.requests; a != PathEnable || b != PathDisable {
		t.Errorf("requests %q %q", a, b)
	}
	fw.replies[PathEnable] = "something else"
	if err := c.Enable(context.Background()); !errors.Is(err, ErrUnexpectedReply) || !strings.Contains(err.Error(), `"something else"`) {
		t.Errorf("unexpected reply: %v", err)
	}
}

func TestClientPayout(t *testing.T) {
	const proxy = "UQCglfIPk5VlDPk4C47bIkprJIoekk6P0K4uGpSSozBfGAXe"
	tests := []struct {
		reply string
		want  error
	}{
		{"request sent", nil},
		{"proxy not found", ErrProxyNotFound},
		{"request is already running", ErrPayoutRunning},
		{"proxy is not inited", ErrProxyNotInited},
		{"proxy is closed", ErrProxyClosed},
		{"???", ErrUnexpectedReply},
	}
	for _, tt := range tests {
		t.Run(tt.reply, func(t *testing.T) {
			fw := newFakeWorker(t, map[string]string{PathPayout: tt.reply})
			err := fw.client(nil).Payout(context.Background(), proxy)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Payout = %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), PathPayout) {
				t.Errorf("error %q does not name the endpoint", err)
			}
			if got := <-fw.requests; got != PathPayout+"?proxy="+proxy {
				t.Errorf("request %q", got)
			}
		})
	}
}

func TestClientPayoutQueryVerbatim(t *testing.T) {
	// The worker does not URL-decode: '+', '/' and ':' must arrive as is.
	fw := newFakeWorker(t, map[string]string{PathPayout: "request sent"})
	c := fw.client(nil)
	for _, addr := range []string{"EQab+cd/ef", "0:83dfd552e63729b472fcbcc8c45ebcc6691702558b68ec7527e1ba403a0f31a8"} {
		if err := c.Payout(context.Background(), addr); err != nil {
			t.Fatal(err)
		}
		if got := <-fw.requests; got != PathPayout+"?proxy="+addr {
			t.Errorf("request %q, want the address verbatim", got)
		}
	}
	for _, bad := range []string{"", "a&b=c", "a b", "a%20", "a#b", "a=b", "é"} {
		if err := c.Payout(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "proxy address") {
			t.Errorf("Payout(%q) = %v, want a refusal", bad, err)
		}
	}
	if len(fw.requests) != 0 {
		t.Errorf("refused addresses were sent")
	}
}

func TestClientChangeCoefficient(t *testing.T) {
	fw := newFakeWorker(t, map[string]string{PathChangeCoefficient: "coefficient set to 1.5"})
	c := fw.client(nil)
	if err := c.ChangeCoefficient(context.Background(), 1500); err != nil {
		t.Fatal(err)
	}
	if got := <-fw.requests; got != PathChangeCoefficient+"?coefficient=1.5005" {
		t.Errorf("request %q", got)
	}
	for _, k := range []int64{-1, MaxWorkerCoefficient} {
		if err := c.ChangeCoefficient(context.Background(), k); err == nil {
			t.Errorf("ChangeCoefficient(%d) accepted", k)
		}
	}
	fw.replies[PathChangeCoefficient] = "failed to parse coefficient"
	if err := c.ChangeCoefficient(context.Background(), 1000); err == nil || !strings.Contains(err.Error(), "could not parse") {
		t.Errorf("parse failure: %v", err)
	}
}

// TestCoefficientParamTruncation runs the worker's computation,
// int(double(value)·1000), on what the client sends: it must give k back
// for every k (exhaustively up to 2·10^6, then spread to 10^9−1).
func TestCoefficientParamTruncation(t *testing.T) {
	check := func(k int64) {
		p := coefficientParam(k)
		v, err := strconv.ParseFloat(p, 64)
		if err != nil {
			t.Fatalf("k=%d: %q: %v", k, p, err)
		}
		if got := int64(v * 1000); got != k {
			t.Fatalf("k=%d: worker would store %d from %q", k, got, p)
		}
	}
	for k := int64(0); k <= 2_000_000; k++ {
		check(k)
	}
	for k := int64(2_000_000); k < MaxWorkerCoefficient; k += 997 {
		check(k)
	}
	check(MaxWorkerCoefficient - 1)
}

func TestClientLimitsAndErrors(t *testing.T) {
	fw := newFakeWorker(t, map[string]string{PathStats: strings.Repeat("x", 1000), PathJSONStats: "{not json"})
	c := fw.client(nil, WithMaxResponseBytes(999))
	if _, err := c.RawStats(context.Background()); !errors.Is(err, ErrResponseTooLarge) || !strings.Contains(err.Error(), "/stats") {
		t.Errorf("oversize: %v", err)
	}
	if _, err := fw.client(nil, WithMaxResponseBytes(1000)).RawStats(context.Background()); err != nil {
		t.Errorf("exactly at the cap: %v", err)
	}
	if _, err := c.Stats(context.Background()); err == nil || !strings.Contains(err.Error(), "worker /jsonstats: parse jsonstats") {
		t.Errorf("bad document: %v", err)
	}

	// Connection refused (worker-runner not running): the dial error,
	// named by endpoint.
	refuse := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
	}
	_, err := NewClient(refuse, "127.0.0.1:12000").Stats(context.Background())
	if err == nil || !strings.Contains(err.Error(), "worker /jsonstats: dial") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("refused: %v", err)
	}
}

func TestClientContextCancel(t *testing.T) {
	// A worker that accepts and never answers: the call ends when the
	// context is cancelled, no sooner and without sleeping.
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	var d net.Dialer
	c := NewClient(func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, "tcp", srv.Listener.Addr().String())
		return conn, err
	}, "w:12000")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := c.Stats(ctx); errc <- err }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "/jsonstats") {
		t.Errorf("cancelled: %v", err)
	}
}

// TestClientHTTP10 speaks the worker's exact wire format over net.Pipe:
// HTTP/1.0 responses, and "400 not found" as the status line's reason.
func TestClientHTTP10(t *testing.T) {
	serve := func(status, body string) DialFunc {
		return func(ctx context.Context, network, addr string) (net.Conn, error) {
			client, server := net.Pipe()
			go func() {
				defer server.Close()
				if _, err := http.ReadRequest(bufio.NewReader(server)); err != nil {
					return
				}
				fmt.Fprintf(server, "HTTP/1.0 %s\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s", status, len(body), body)
			}()
			return client, nil
		}
	}
	if err := NewClient(serve("200 OK", "state updated"), "w:1").Disable(context.Background()); err != nil {
		t.Errorf("HTTP/1.0 200: %v", err)
	}
	if err := NewClient(serve("400 not found", ""), "w:1").Disable(context.Background()); !errors.Is(err, ErrNotReady) {
		t.Errorf("HTTP/1.0 400 not found: %v", err)
	}
	err := NewClient(serve("500 Internal Server Error", "boom"), "w:1").Disable(context.Background())
	if err == nil || errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), `500 Internal Server Error: "boom"`) {
		t.Errorf("HTTP 500: %v", err)
	}
}
