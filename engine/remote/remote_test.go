package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

const (
	testToken = "test-token-0123456789"
	waitLimit = 10 * time.Second
)

// testAPI is the fake engine with some methods replaced by a test.
type testAPI struct {
	*enginetest.Fake
	check  func(ctx context.Context) (hostcheck.Report, error)
	payout func(ctx context.Context) ([]engine.TargetResult, error)
	ledger func(ctx context.Context, w io.Writer, since time.Time) error
}

func (a *testAPI) Check(ctx context.Context) (hostcheck.Report, error) {
	if a.check != nil {
		return a.check(ctx)
	}
	return a.Fake.Check(ctx)
}

func (a *testAPI) Payout(ctx context.Context) ([]engine.TargetResult, error) {
	if a.payout != nil {
		return a.payout(ctx)
	}
	return a.Fake.Payout(ctx)
}

func (a *testAPI) ExportLedgerCSV(ctx context.Context, w io.Writer, since time.Time) error {
	if a.ledger != nil {
		return a.ledger(ctx, w, since)
	}
	return a.Fake.ExportLedgerCSV(ctx, w, since)
}

func newAPI() *testAPI {
	idx := 0
	mem := uint64(81559)
	r := hostcheck.Report{Time: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), Host: hostcheck.HostInfo{Hostname: "worker-1", OS: "Debian", Kernel: "6.12"},
		Checks:     []hostcheck.Check{{ID: "kvm", Title: "KVM", Status: hostcheck.StatusOK, Observed: "yes", Why: "speed"}},
		Production: hostcheck.Verdict{Mode: hostcheck.ModeProduction, Summary: "not ready"}, Dev: hostcheck.Verdict{Mode: hostcheck.ModeDev, Ready: true, Summary: "ready"},
		DevAccel: "kvm"}
	inv := gpu.Inventory{Time: time.Date(2024, 5, 1, 12, 0, 1, 0, time.UTC), NVML: gpu.NVMLStatus{Loaded: true, DriverVersion: "550.54.15"},
		GPUs: []gpu.GPU{{Source: gpu.SourceNVML, Index: &idx, Name: "NVIDIA H100", UUID: "GPU-1", BusID: "0000:17:00.0", MemoryTotalMiB: &mem}}}
	return &testAPI{Fake: enginetest.New(engine.State{Mode: engine.ModeDev, DataDir: "/var/lib/cocoon-provider"}, r, inv)}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nextEvent reads events until one satisfies ok.
func nextEvent(t *testing.T, ch <-chan engine.Event, what string, ok func(engine.Event) bool) engine.Event {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case ev, open := <-ch:
			if !open {
				t.Fatalf("the event channel closed while waiting for %s", what)
			}
			if ok(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitClosed waits for ch to close, reading what is left.
func waitClosed(t *testing.T, ch <-chan engine.Event) {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case _, open := <-ch:
			if !open {
				return
			}
		case <-timeout:
			t.Fatal("the event channel did not close")
		}
	}
}

// unixServer serves srv on a socket in a new directory until stopped.
type unixServer struct {
	path   string
	cancel context.CancelFunc
	done   chan error
}

func startUnix(t *testing.T, srv *Server, path string) *unixServer {
	t.Helper()
	ready := make(chan string, 1)
	srv.onListen = func(addr string) { ready <- addr }
	ctx, cancel := context.WithCancel(context.Background())
	u := &unixServer{path: path, cancel: cancel, done: make(chan error, 1)}
	go func() { u.done <- srv.ServeUnix(ctx, path) }()
	select {
	case <-ready:
	case err := <-u.done:
		cancel()
		t.Fatalf("ServeUnix: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("ServeUnix did not start")
	}
	t.Cleanup(u.stop)
	return u
}

func (u *unixServer) stop() {
	u.cancel()
	<-u.done
	u.done <- nil // later stops return at once
}

func dialUnix(t *testing.T, path string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), "unix://"+path, "", "")
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// httpServer serves srv's token-protected handler on a loopback port.
func httpServer(t *testing.T, srv *Server) (*httptest.Server, *Client) {
	t.Helper()
	hs := httptest.NewServer(srv.Handler(true))
	t.Cleanup(hs.Close)
	c, err := Dial(context.Background(), hs.URL, testToken, "")
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return hs, c
}

// clientOver serves srv over transport ("unix" or "tcp") and dials it.
func clientOver(t *testing.T, transport string, srv *Server) *Client {
	t.Helper()
	if transport == "unix" {
		path := filepath.Join(t.TempDir(), "api.sock")
		startUnix(t, srv, path)
		return dialUnix(t, path)
	}
	_, c := httpServer(t, srv)
	return c
}

func TestClientMethods(t *testing.T) {
	for _, transport := range []string{"unix", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			api := newAPI()
			shown := make(chan struct{}, 1)
			srv := NewServer(api, ServerOptions{Token: testToken, Version: "1.2.3", OnShow: func() { shown <- struct{}{} }})
			c := clientOver(t, transport, srv)
			ctx := context.Background()
			if v := c.ServerVersion(); v != "1.2.3" {
				t.Errorf("ServerVersion = %q", v)
			}
			if st := c.State(); st.Mode != engine.ModeDev || st.DataDir != "/var/lib/cocoon-provider" || st.StoreError != "" {
				t.Errorf("State = %+v", st)
			}

			rep, err := c.Check(ctx)
			_ = api.State() // takes the fake's lock: its Checks count is then safe to read
			if err != nil || rep.Host.Hostname != "worker-1" || len(rep.Checks) != 1 || api.Checks != 1 {
				t.Fatalf("Check = %+v, %v (checks %d)", rep, err, api.Checks)
			}
			if st := c.State(); st.Report == nil || st.Report.DevAccel != "kvm" || len(st.GPUs.GPUs) != 1 {
				t.Errorf("State after Check = %+v", st)
			}
			api.FailChecks(errors.New("the doctor failed"))
			if _, err := c.Check(ctx); err == nil || err.Error() != "the doctor failed" {
				t.Errorf("failing Check: %v", err)
			}

			inv, err := c.GPUs(ctx)
			if err != nil || len(inv.GPUs) != 1 || *inv.GPUs[0].MemoryTotalMiB != 81559 || *inv.GPUs[0].Index != 0 {
				t.Fatalf("GPUs = %+v, %v", inv, err)
			}

			if err := c.StartDev(ctx); err != nil {
				t.Fatalf("StartDev: %v", err)
			}
			if st := c.State(); st.Dev == nil || st.Dev.State != vm.StateRunning || st.Dev.StatsAddr != "127.0.0.1:12000" {
				t.Errorf("State after StartDev: %+v", st.Dev)
			}
			if err := c.StopDev(ctx); err != nil {
				t.Fatalf("StopDev: %v", err)
			}
			if st := c.State(); st.Dev == nil || st.Dev.State != vm.StateStopped {
				t.Errorf("State after StopDev: %+v", st.Dev)
			}

			until := time.Date(2030, 1, 2, 8, 0, 0, 0, time.UTC)
			if err := c.SetPause(ctx, &engine.Pause{Until: until}); err != nil {
				t.Fatalf("SetPause: %v", err)
			}
			if st := api.State(); st.Pause == nil || !st.Pause.Until.Equal(until) {
				t.Errorf("the engine's pause is %+v", st.Pause)
			}
			if st := c.State(); st.Pause == nil || !st.Pause.Until.Equal(until) {
				t.Errorf("the client's pause is %+v", st.Pause)
			}
			if err := c.SetPause(ctx, &engine.Pause{}); err != nil {
				t.Fatalf("SetPause indefinite: %v", err)
			}
			if st := api.State(); st.Pause == nil || !st.Pause.Indefinite() {
				t.Errorf("the engine's pause is %+v", st.Pause)
			}
			if err := c.SetPause(ctx, nil); err != nil {
				t.Fatalf("resume: %v", err)
			}
			if st := api.State(); st.Pause != nil {
				t.Errorf("resume left the pause %+v", st.Pause)
			}

			res, err := c.Payout(ctx)
			if !errors.Is(err, engine.ErrNothingClaimable) || len(res) != 0 {
				t.Fatalf("Payout = %v, %v; want ErrNothingClaimable", res, err)
			}
			if err.Error() != engine.ErrNothingClaimable.Error() {
				t.Errorf("Payout error text %q", err)
			}
			var ae *Error
			if !errors.As(err, &ae) || ae.Code != "nothing_claimable" || ae.Status != http.StatusConflict {
				t.Errorf("Payout error %#v", err)
			}

			t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
			api.SetEarningsSeries([]engine.EarningsBucket{
				{Start: t0, NanoTON: map[string]int64{"earned": 1}},
				{Start: t0.Add(time.Hour), NanoTON: map[string]int64{"earned": 2, "paid": 3}},
			})
			bs, err := c.EarningsSeries(ctx, t0.Add(30*time.Minute), time.Hour)
			if err != nil || len(bs) != 1 || !bs[0].Start.Equal(t0.Add(time.Hour)) || bs[0].NanoTON["paid"] != 3 {
				t.Fatalf("EarningsSeries = %+v, %v", bs, err)
			}
			if bs, err := c.EarningsSeries(ctx, t0.Add(48*time.Hour), time.Hour); err != nil || len(bs) != 0 {
				t.Errorf("EarningsSeries with nothing = %+v, %v", bs, err)
			}

			var csv bytes.Buffer
			if err := c.ExportLedgerCSV(ctx, &csv, t0); err != nil {
				t.Fatalf("ExportLedgerCSV: %v", err)
			}
			if want := strings.Join(engine.LedgerCSVHeader, ",") + "\n"; csv.String() != want {
				t.Errorf("CSV = %q, want %q", csv.String(), want)
			}

			if err := c.Show(ctx); err != nil {
				t.Fatalf("Show: %v", err)
			}
			select {
			case <-shown:
			default:
				t.Error("Show did not reach OnShow")
			}
		})
	}
}

func TestShowWithoutHandler(t *testing.T) {
	_, c := httpServer(t, NewServer(newAPI(), ServerOptions{Token: testToken}))
	err := c.Show(context.Background())
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("Show = %v, want a 404", err)
	}
}

func TestPayoutResults(t *testing.T) {
	api := newAPI()
	results := []engine.TargetResult{
		{Target: engine.Target{Instance: 0, StatsAddr: "127.0.0.1:12000", Label: "dev instance 0"}, Proxy: "EQproxy", Tokens: 10, Amount: 1000},
		{Target: engine.Target{Instance: 100, StatsAddr: "10.0.0.2:9000", Label: "attached"}, Proxy: "EQbusy", Tokens: 5, Amount: 500,
			Err: fmt.Errorf("payout: %w", worker.ErrPayoutRunning)},
	}
	var fail atomic.Bool
	api.payout = func(context.Context) ([]engine.TargetResult, error) {
		if fail.Load() {
			return results[1:], errors.New("half of it failed")
		}
		return results, nil
	}
	_, c := httpServer(t, NewServer(api, ServerOptions{Token: testToken}))
	got, err := c.Payout(context.Background())
	if err != nil || len(got) != 2 {
		t.Fatalf("Payout = %+v, %v", got, err)
	}
	if got[0].Target != results[0].Target || got[0].Proxy != "EQproxy" || got[0].Tokens != 10 || got[0].Amount != 1000 || got[0].Err != nil {
		t.Errorf("result 0 = %+v", got[0])
	}
	if !errors.Is(got[1].Err, worker.ErrPayoutRunning) || got[1].Err.Error() != results[1].Err.Error() {
		t.Errorf("result 1 error = %v", got[1].Err)
	}
	fail.Store(true)
	got, err = c.Payout(context.Background())
	if err == nil || err.Error() != "half of it failed" || len(got) != 1 || got[0].Proxy != "EQbusy" {
		t.Errorf("failing Payout = %+v, %v", got, err)
	}
}

func TestTokenRefused(t *testing.T) {
	srv := NewServer(newAPI(), ServerOptions{Token: testToken})
	hs := httptest.NewServer(srv.Handler(true))
	defer hs.Close()
	ctx := context.Background()

	for name, token := range map[string]string{"wrong": "not-the-token", "prefix": testToken[:10]} {
		_, err := Dial(ctx, hs.URL, token, "")
		if !errors.Is(err, ErrTokenRefused) || !strings.Contains(err.Error(), "the token was refused: copy it again from") ||
			!strings.Contains(err.Error(), "api-token on the worker host") {
			t.Errorf("%s token: Dial error %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("%s token: the error shows the token", name)
		}
	}
	if _, err := Dial(ctx, hs.URL, "", ""); err == nil || !strings.Contains(err.Error(), "a token is required") {
		t.Errorf("no token: Dial error %v", err)
	}

	for name, auth := range map[string]string{"missing": "", "wrong": "Bearer nope", "basic": "Basic " + testToken, "bare": testToken} {
		req, _ := http.NewRequest(http.MethodGet, hs.URL+"/v1/state", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"code":"unauthorized"`) {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/v1/state", nil)
	req.Header.Set("Authorization", "bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("right token: %d", resp.StatusCode)
	}

	// A server without a token refuses everyone.
	open := httptest.NewServer(NewServer(newAPI(), ServerOptions{}).Handler(true))
	defer open.Close()
	if _, err := Dial(ctx, open.URL, "anything", ""); !errors.Is(err, ErrTokenRefused) {
		t.Errorf("server without a token: Dial error %v", err)
	}
}

func TestDialErrors(t *testing.T) {
	ctx := context.Background()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") }))
	defer other.Close()
	if _, err := Dial(ctx, other.URL, testToken, ""); err == nil || !strings.Contains(err.Error(), "is not a Cocoon Provider API") {
		t.Errorf("another server: %v", err)
	}
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	if _, err := Dial(ctx, missing.URL, testToken, ""); err == nil || !strings.Contains(err.Error(), "is not a Cocoon Provider API") {
		t.Errorf("a server with no API: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Dial(ctx, "http://"+addr, testToken, "")
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "cannot reach the worker host") {
		t.Errorf("nothing listening: %v", err)
	}
	_, err = Dial(ctx, "unix://"+filepath.Join(t.TempDir(), "api.sock"), "", "")
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("no socket: %v", err)
	}

	for target, want := range map[string]string{
		"ftp://host":                 "unknown scheme",
		"127.0.0.1:9311":             "use unix:///path/api.sock",
		"http://192.0.2.1:9311":      "plain http is for loopback addresses only",
		"https://192.0.2.1:9311":     "needs the SHA-256 fingerprint",
		"unix://relative/api.sock":   "unix:///absolute/path",
		"http://127.0.0.1:9311/api/": "leave out the path",
	} {
		if _, err := Dial(ctx, target, testToken, ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Dial(%q) = %v, want %q", target, err, want)
		}
	}
	if _, err := Dial(ctx, "https://192.0.2.1:9311", testToken, "abc"); err == nil || !strings.Contains(err.Error(), "not a SHA-256 fingerprint") {
		t.Errorf("bad fingerprint: %v", err)
	}
	if _, err := Dial(ctx, "http://127.0.0.1:9311", testToken, strings.Repeat("ab", 32)); err == nil || !strings.Contains(err.Error(), "https addresses only") {
		t.Errorf("fingerprint on http: %v", err)
	}
}

func TestRoutesAndLimits(t *testing.T) {
	srv := NewServer(newAPI(), ServerOptions{Token: testToken})
	hs := httptest.NewServer(srv.Handler(true))
	defer hs.Close()
	call := func(method, path string, body io.Reader) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, hs.URL+path, body)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && ct != "application/json" {
			t.Errorf("%s %s: error with Content-Type %q", method, path, ct)
		}
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		method, path string
		body         io.Reader
		status       int
		code         string
	}{
		{"GET", "/v1/nothing", nil, 404, "not_found"},
		{"GET", "/v1/check", nil, 405, "method_not_allowed"},
		{"POST", "/v1/state", nil, 405, "method_not_allowed"},
		{"POST", "/v1/pause", strings.NewReader(`{"until":"` + strings.Repeat("x", 100<<10) + `"}`), 413, "too_large"},
		{"POST", "/v1/pause", nil, 400, "bad_request"},
		{"POST", "/v1/pause", strings.NewReader(`{"until": 5}`), 400, "bad_request"},
		{"GET", "/v1/earnings/series?since=yesterday&bucket=1h", nil, 400, "bad_request"},
		{"GET", "/v1/earnings/series?since=2024-05-01T00:00:00Z&bucket=hourly", nil, 400, "bad_request"},
		{"GET", "/v1/ledger.csv", nil, 400, "bad_request"},
		{"POST", "/v1/settings", nil, 405, "method_not_allowed"},
		{"PUT", "/v1/settings", strings.NewReader(`{"gpu_temp_limit_c": "hot"}`), 400, "bad_request"},
		{"PUT", "/v1/settings", strings.NewReader(`{"gpu_temp_limit_c": 85, "bogus": 1}`), 400, "bad_request"},
		{"PUT", "/v1/settings", strings.NewReader(`{"gpu_temp_limit_c": 85, "pause_above_c": 80, "resume_below_c": 79}`), 400, "invalid_settings"},
	}
	for _, c := range cases {
		status, body := call(c.method, c.path, c.body)
		if status != c.status || !strings.Contains(body, `"code":"`+c.code+`"`) {
			t.Errorf("%s %s: %d %s; want %d %s", c.method, c.path, status, body, c.status, c.code)
		}
	}
	if status, body := call("POST", "/v1/pause", strings.NewReader("null")); status != 200 || !strings.Contains(body, `"state"`) {
		t.Errorf("resume: %d %s", status, body)
	}
	if status, body := call("GET", "/v1/version", nil); status != 200 || !strings.Contains(body, `"api":"cocoon-provider/v1"`) {
		t.Errorf("version: %d %s", status, body)
	}
}

func TestContextCancelsRequest(t *testing.T) {
	api := newAPI()
	started, ended := make(chan struct{}), make(chan struct{})
	api.check = func(ctx context.Context) (hostcheck.Report, error) {
		close(started)
		<-ctx.Done()
		close(ended)
		return hostcheck.Report{}, ctx.Err()
	}
	_, c := httpServer(t, NewServer(api, ServerOptions{Token: testToken}))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Check(ctx)
		errc <- err
	}()
	<-started
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Check = %v, want context.Canceled", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Check did not return after its context ended")
	}
	select {
	case <-ended:
	case <-time.After(waitLimit):
		t.Fatal("the server's request context did not end")
	}
}

func TestLedgerStreamed(t *testing.T) {
	for _, transport := range []string{"unix", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			api := newAPI()
			firstArrived := make(chan struct{})
			var rows bytes.Buffer
			rows.WriteString(strings.Join(engine.LedgerCSVHeader, ",") + "\n")
			for i := range 20000 {
				fmt.Fprintf(&rows, "2024-05-01T12:00:00Z,earned,%d,0.000000%d,1,1,0,EQproxy,\n", i, i%10)
			}
			want := rows.String()
			gotSince := make(chan time.Time, 1)
			api.ledger = func(ctx context.Context, w io.Writer, s time.Time) error {
				gotSince <- s
				if _, err := io.WriteString(w, want[:100]); err != nil {
					return err
				}
				// The rest only once the client has the first part: the
				// answer is streamed, not collected first.
				select {
				case <-firstArrived:
				case <-ctx.Done():
					return ctx.Err()
				}
				_, err := io.WriteString(w, want[100:])
				return err
			}
			srv := NewServer(api, ServerOptions{Token: testToken})
			c := clientOver(t, transport, srv)
			out := &signalWriter{first: firstArrived}
			from := time.Date(2024, 4, 1, 0, 0, 0, 500, time.FixedZone("CEST", 2*3600))
			if err := c.ExportLedgerCSV(context.Background(), out, from); err != nil {
				t.Fatalf("ExportLedgerCSV: %v", err)
			}
			if out.buf.String() != want {
				t.Errorf("got %d bytes of CSV, want %d", out.buf.Len(), len(want))
			}
			if since := <-gotSince; !since.Equal(from) {
				t.Errorf("since = %v, want %v", since, from)
			}
		})
	}
}

type signalWriter struct {
	buf   bytes.Buffer
	first chan struct{}
	once  sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.first) })
	return w.buf.Write(p)
}

func TestLedgerFailure(t *testing.T) {
	api := newAPI()
	var partway atomic.Bool
	api.ledger = func(ctx context.Context, w io.Writer, _ time.Time) error {
		if partway.Load() {
			io.WriteString(w, strings.Repeat("2024-05-01T12:00:00Z,earned,1,0.000000001,1,1,0,EQ,\n", 1000))
			return errors.New("the database went away")
		}
		return fmt.Errorf("export ledger: %w", errors.New("the database is not open"))
	}
	_, c := httpServer(t, NewServer(api, ServerOptions{Token: testToken}))
	var out bytes.Buffer
	err := c.ExportLedgerCSV(context.Background(), &out, time.Time{})
	if err == nil || err.Error() != "export ledger: the database is not open" || out.Len() != 0 {
		t.Errorf("failure before any row: %v (%d bytes)", err, out.Len())
	}
	partway.Store(true)
	out.Reset()
	if err := c.ExportLedgerCSV(context.Background(), &out, time.Time{}); err == nil {
		t.Errorf("a download that broke off reported success (%d bytes)", out.Len())
	}
}

func TestEvents(t *testing.T) {
	api := newAPI()
	path := filepath.Join(t.TempDir(), "api.sock")
	startUnix(t, NewServer(api, ServerOptions{}), path)
	c := dialUnix(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.Subscribe(ctx)
	// The host's state first, one event per kind.
	kinds := map[engine.EventKind]bool{}
	for len(kinds) < 5 {
		ev := nextEvent(t, ch, "the connection events", func(ev engine.Event) bool { return true })
		if ev.Message != msgConnected || ev.State.DataDir != "/var/lib/cocoon-provider" {
			t.Fatalf("connection event %+v", ev)
		}
		kinds[ev.Kind] = true
	}
	for _, k := range []engine.EventKind{engine.EventError, engine.EventGPUs, engine.EventInstance, engine.EventEarnings, engine.EventPause} {
		if !kinds[k] {
			t.Errorf("no %s event on connection", k)
		}
	}
	upd := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	api.Publish(engine.EventEarnings, func(st *engine.State) {
		st.Earnings = &engine.Earnings{ClaimableNow: 42, All: map[string]int64{"earned": 42}}
		st.Dev = &engine.Instance{State: vm.StateRunning, Stats: &worker.Stats{Status: worker.Status{GitCommit: "abc"}}, Load: &engine.LoadStats{Sent: 3}}
		st.Updated = upd
	})
	ev := nextEvent(t, ch, "the earnings event", func(ev engine.Event) bool { return ev.Kind == engine.EventEarnings && ev.Message == "" })
	if ev.State.Earnings == nil || ev.State.Earnings.ClaimableNow != 42 || ev.State.Dev.Stats.Status.GitCommit != "abc" || ev.State.Dev.Load.Sent != 3 {
		t.Errorf("event state %+v", ev.State)
	}
	if st := c.State(); st.Earnings == nil || st.Earnings.ClaimableNow != 42 || !st.Updated.Equal(upd) {
		t.Errorf("State after the event: %+v", st)
	}
	// A late event older than what the client knows does not undo it.
	c.setState(engine.State{Updated: upd.Add(time.Minute), DataDir: "newer"}, false)
	api.Publish(engine.EventGPUs, func(st *engine.State) { st.DataDir = "older" })
	nextEvent(t, ch, "the gpus event", func(ev engine.Event) bool { return ev.Kind == engine.EventGPUs && ev.State.DataDir == "older" })
	if st := c.State(); st.DataDir != "newer" {
		t.Errorf("an older event replaced the state: %q", st.DataDir)
	}
	cancel()
	waitClosed(t, ch)
}

// TestEventsCarryAlerts: an alert the host raises reaches the client
// whole, with the host's state.
func TestEventsCarryAlerts(t *testing.T) {
	api := newAPI()
	path := filepath.Join(t.TempDir(), "api.sock")
	startUnix(t, NewServer(api, ServerOptions{}), path)
	c := dialUnix(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.Subscribe(ctx)
	nextEvent(t, ch, "the connection", func(ev engine.Event) bool { return ev.Message == msgConnected })
	for _, want := range []engine.Alert{
		{Kind: engine.AlertWorkerDown, Title: "Worker down", Body: "The dev-mode worker failed.", Instance: 0},
		{Kind: engine.AlertWorkerDown, Title: "Worker running again", Body: "It runs.", Instance: 0, Clear: true},
		{Kind: engine.AlertGPUHot, Title: "GPU too hot: 91 °C", Body: "GPU 0 (NVIDIA H100) is at 91 °C.", Instance: engine.NoInstance},
	} {
		api.PublishAlert(want)
		ev := nextEvent(t, ch, "the alert", func(ev engine.Event) bool { return ev.Kind == engine.EventAlert })
		if ev.Alert == nil || !reflect.DeepEqual(*ev.Alert, want) {
			t.Fatalf("alert %+v, want %+v", ev.Alert, want)
		}
		if ev.Message != want.Text() || ev.State.DataDir != "/var/lib/cocoon-provider" {
			t.Errorf("alert event message %q, state %q", ev.Message, ev.State.DataDir)
		}
	}
	// Other events carry none.
	api.Publish(engine.EventPause, func(st *engine.State) { st.Pause = &engine.Pause{} })
	if ev := nextEvent(t, ch, "the pause", func(ev engine.Event) bool { return ev.Kind == engine.EventPause }); ev.Alert != nil {
		t.Errorf("a pause event carries an alert: %+v", ev.Alert)
	}
	cancel()
	waitClosed(t, ch)
}

func TestEventsReconnect(t *testing.T) {
	api := newAPI()
	srv := NewServer(api, ServerOptions{})
	path := filepath.Join(t.TempDir(), "api.sock")
	first := startUnix(t, srv, path)
	c := dialUnix(t, path)
	c.backoffMax = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.Subscribe(ctx)
	nextEvent(t, ch, "the connection", func(ev engine.Event) bool { return ev.Message == msgConnected })
	waitFor(t, "a live stream", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.live == 1 })
	api.Publish(engine.EventPause, func(st *engine.State) { st.Pause = &engine.Pause{} })
	nextEvent(t, ch, "the pause", func(ev engine.Event) bool { return ev.Kind == engine.EventPause && ev.State.Pause != nil })

	first.stop()
	ev := nextEvent(t, ch, "the outage", func(ev engine.Event) bool { return ev.Kind == engine.EventError })
	if !strings.HasPrefix(ev.Message, "remote host unreachable: ") || ev.State.StoreError != ev.Message || ev.State.Pause == nil {
		t.Errorf("outage event %+v", ev)
	}
	if st := c.State(); !strings.HasPrefix(st.StoreError, "remote host unreachable: ") || st.Pause == nil || st.DataDir != "/var/lib/cocoon-provider" {
		t.Errorf("State while unreachable: %+v", st)
	}
	if _, err := c.GPUs(context.Background()); !errors.Is(err, ErrUnreachable) {
		t.Errorf("GPUs while unreachable: %v", err)
	}

	// The engine changes while the client is away; the reconnection
	// brings the new state first.
	api.Publish(engine.EventPause, func(st *engine.State) { st.Pause = nil })
	startUnix(t, srv, path)
	ev = nextEvent(t, ch, "the reconnection", func(ev engine.Event) bool { return ev.Message == msgReconnected && ev.Kind == engine.EventPause })
	if ev.State.Pause != nil || ev.State.StoreError != "" {
		t.Errorf("reconnection event %+v", ev)
	}
	waitFor(t, "a live stream", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.live == 1 })
	if st := c.State(); st.StoreError != "" || st.Pause != nil {
		t.Errorf("State after reconnecting: %+v", st)
	}
	api.Publish(engine.EventGPUs, func(st *engine.State) { st.StoreError = "disk full" })
	nextEvent(t, ch, "an event after reconnecting", func(ev engine.Event) bool { return ev.State.StoreError == "disk full" })
	cancel()
	waitClosed(t, ch)
}

func TestEventsSlowReader(t *testing.T) {
	api := newAPI()
	_, c := httpServer(t, NewServer(api, ServerOptions{Token: testToken}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.Subscribe(ctx)
	waitFor(t, "a live stream", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.live == 1 })
	// Nobody reads ch: the client drops what does not fit and keeps
	// reading the stream, so the engine never waits.
	published := make(chan struct{})
	go func() {
		for i := range 200 {
			api.Publish(engine.EventGPUs, func(st *engine.State) { st.StoreError = fmt.Sprint("n=", i) })
		}
		close(published)
	}()
	select {
	case <-published:
	case <-time.After(waitLimit):
		t.Fatal("publishing blocked on a slow reader")
	}
	waitFor(t, "the last event to reach the client", func() bool { return c.State().StoreError == "n=199" })
	for len(ch) > 0 {
		<-ch
	}
	api.Publish(engine.EventGPUs, func(st *engine.State) { st.StoreError = "fresh" })
	nextEvent(t, ch, "an event after draining", func(ev engine.Event) bool { return ev.State.StoreError == "fresh" })
	cancel()
	waitClosed(t, ch)
}

func TestEventsCloseOnClientClose(t *testing.T) {
	api := newAPI()
	path := filepath.Join(t.TempDir(), "api.sock")
	startUnix(t, NewServer(api, ServerOptions{}), path)
	c, err := Dial(context.Background(), "unix://"+path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ch := c.Subscribe(context.Background())
	nextEvent(t, ch, "the connection", func(ev engine.Event) bool { return true })
	c.Close()
	waitClosed(t, ch)
	if ch := c.Subscribe(context.Background()); ch != nil {
		waitClosed(t, ch)
	}
	if _, err := c.GPUs(context.Background()); err == nil {
		t.Error("GPUs after Close worked")
	}
}

func TestEventsKeepAlive(t *testing.T) {
	srv := NewServer(newAPI(), ServerOptions{Token: testToken})
	srv.keepAlive = 10 * time.Millisecond
	hs := httptest.NewServer(srv.Handler(true))
	defer hs.Close()
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if !resp.Uncompressed {
		t.Error("the stream was not gzipped for a client that accepts it")
	}
	r := newLineReader(resp.Body)
	if line := r.next(t); !strings.HasPrefix(line, "event: state") {
		t.Fatalf("first line %q", line)
	}
	for {
		if line := r.next(t); line == ": keep-alive" {
			break
		}
	}
}

type lineReader struct{ lines chan string }

func newLineReader(r io.Reader) *lineReader {
	lr := &lineReader{lines: make(chan string, 100)}
	go func() {
		b := make([]byte, 0, 4096)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			b = append(b, buf[:n]...)
			for {
				i := bytes.IndexByte(b, '\n')
				if i < 0 {
					break
				}
				lr.lines <- string(b[:i])
				b = b[i+1:]
			}
			if err != nil {
				close(lr.lines)
				return
			}
		}
	}()
	return lr
}

func (lr *lineReader) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-lr.lines:
		if !ok {
			t.Fatal("the stream ended")
		}
		return l
	case <-time.After(waitLimit):
		t.Fatal("no line")
	}
	return ""
}

func TestEventsSilentStream(t *testing.T) {
	// A server that sends the state and then nothing, not even
	// keep-alives: the client gives the stream up and reports it.
	srv := NewServer(newAPI(), ServerOptions{Token: testToken})
	srv.keepAlive = time.Hour
	_, c := httpServer(t, srv)
	c.idleTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.Subscribe(ctx)
	nextEvent(t, ch, "the connection", func(ev engine.Event) bool { return ev.Message == msgConnected })
	ev := nextEvent(t, ch, "the outage", func(ev engine.Event) bool { return ev.Kind == engine.EventError && ev.Message != msgConnected })
	if !strings.Contains(ev.Message, "silent") {
		t.Errorf("outage message %q", ev.Message)
	}
	// It reconnects to the same server.
	nextEvent(t, ch, "the reconnection", func(ev engine.Event) bool { return ev.Message == msgReconnected })
}

func TestStateUnreachable(t *testing.T) {
	api := newAPI()
	path := filepath.Join(t.TempDir(), "api.sock")
	u := startUnix(t, NewServer(api, ServerOptions{}), path)
	c := dialUnix(t, path)
	c.stateRetry = 0
	if err := c.SetPause(context.Background(), &engine.Pause{}); err != nil {
		t.Fatal(err)
	}
	u.stop()
	st := c.State()
	if !strings.HasPrefix(st.StoreError, "remote host unreachable: ") || st.Pause == nil || st.Mode != engine.ModeDev {
		t.Errorf("State = %+v", st)
	}

	// Before any state: the zero state, marked.
	u2 := startUnix(t, NewServer(api, ServerOptions{}), path)
	c2 := dialUnix(t, path)
	u2.stop()
	if st := c2.State(); !strings.HasPrefix(st.StoreError, "remote host unreachable: ") || st.Mode != "" {
		t.Errorf("State before any = %+v", st)
	}
}

func TestStateWaitsAtMostShortly(t *testing.T) {
	// A host that accepts the connection but never answers.
	hung := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/version" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"api":%q,"version":"x"}`, apiName)
			return
		}
		select {
		case <-hung:
		case <-r.Context().Done():
		}
	}))
	defer hs.Close()
	defer close(hung)
	c, err := Dial(context.Background(), hs.URL, testToken, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.stateTimeout = 50 * time.Millisecond
	st := c.State()
	if !strings.Contains(st.StoreError, "remote host unreachable: no answer within") {
		t.Errorf("State = %+v", st)
	}
	// Right after a failure State answers from memory.
	if st := c.State(); !strings.HasPrefix(st.StoreError, "remote host unreachable") {
		t.Errorf("second State = %+v", st)
	}
}

func TestMain(m *testing.M) {
	// The tests must not depend on a proxy set in the environment.
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		os.Unsetenv(k)
	}
	os.Exit(m.Run())
}

// TestEventsLeaveOutAnUnchangedReport: the doctor's report travels once per
// stream and again only when it changes; the client fills it back in.
func TestEventsLeaveOutAnUnchangedReport(t *testing.T) {
	api := newAPI()
	rep := &hostcheck.Report{Host: hostcheck.HostInfo{Hostname: "worker-1"}, Checks: []hostcheck.Check{{ID: "kvm", Title: "KVM"}}}
	api.Publish(engine.EventReport, func(st *engine.State) { st.Report = rep })
	srv := NewServer(api, ServerOptions{Token: testToken})
	hs, c := httpServer(t, srv)

	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := newLineReader(resp.Body)
	dataLine := func() string {
		for {
			if l := r.next(t); strings.HasPrefix(l, "data: ") {
				return l
			}
		}
	}
	if l := dataLine(); !strings.Contains(l, `"hostname":"worker-1"`) {
		t.Fatalf("the first state lacks the report: %.200s", l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.Subscribe(ctx)
	for i := 0; i < 5; i++ { // the connection events
		nextEvent(t, ch, "a connection event", func(engine.Event) bool { return true })
	}
	api.Publish(engine.EventInstance, func(st *engine.State) { st.DataDir = "unchanged report" })
	if l := dataLine(); strings.Contains(l, `"hostname"`) || !strings.Contains(l, `"report_same":true`) {
		t.Errorf("an unchanged report was sent again: %.300s", l)
	}
	ev := nextEvent(t, ch, "the instance event", func(ev engine.Event) bool { return ev.State.DataDir == "unchanged report" })
	if ev.State.Report == nil || ev.State.Report.Host.Hostname != "worker-1" {
		t.Errorf("the client did not fill the report back in: %+v", ev.State.Report)
	}
	api.Publish(engine.EventReport, func(st *engine.State) {
		st.Report = &hostcheck.Report{Host: hostcheck.HostInfo{Hostname: "worker-2"}}
	})
	if l := dataLine(); !strings.Contains(l, `"hostname":"worker-2"`) {
		t.Errorf("a new report was left out: %.300s", l)
	}
	ev = nextEvent(t, ch, "the report event", func(ev engine.Event) bool { return ev.Kind == engine.EventReport })
	if ev.State.Report == nil || ev.State.Report.Host.Hostname != "worker-2" {
		t.Errorf("new report on the client: %+v", ev.State.Report)
	}
}
