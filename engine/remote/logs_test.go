package remote

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/diag"
)

// diagAPI is the test engine with DiagBundle replaced.
type diagAPI struct {
	*testAPI
	diag func(ctx context.Context, w io.Writer, include bool) (diag.Manifest, error)
}

func (a *diagAPI) DiagBundle(ctx context.Context, w io.Writer, include bool) (diag.Manifest, error) {
	return a.diag(ctx, w, include)
}

func TestLogsAndDiagThroughTheClient(t *testing.T) {
	for _, transport := range []string{"unix", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			api := newAPI()
			api.SetLogs(engine.LogApp, []string{"level=INFO started", "level=ERROR disk full", "level=INFO ok", "level=error again"})
			api.SetLogs(engine.LogConsole, []string{"[    0.000000] Linux version 6.12", "login:"})
			srv := NewServer(api, ServerOptions{Token: testToken})
			c := clientOver(t, transport, srv)
			ctx := context.Background()

			p, err := c.Logs(ctx, engine.LogQuery{})
			if err != nil || len(p.Lines) != 4 || p.Truncated || p.Source != engine.LogApp {
				t.Fatalf("Logs() = %+v, %v", p, err)
			}
			p, err = c.Logs(ctx, engine.LogQuery{Source: engine.LogApp, Contains: "Error &?= x", Limit: 1})
			if err != nil || len(p.Lines) != 0 {
				t.Errorf("a search with URL characters: %+v, %v", p, err)
			}
			if q := api.LastLogQuery(); q.Contains != "Error &?= x" || q.Limit != 1 {
				t.Errorf("the engine was asked %+v", q)
			}
			p, err = c.Logs(ctx, engine.LogQuery{Contains: "error", Limit: 1})
			if err != nil || !slices.Equal(p.Lines, []string{"level=error again"}) || !p.Truncated {
				t.Errorf("Logs(error, 1) = %+v, %v", p, err)
			}
			p, err = c.Logs(ctx, engine.LogQuery{Source: engine.LogConsole, Instance: 2})
			if err != nil || len(p.Lines) != 2 || p.Source != engine.LogConsole {
				t.Errorf("console = %+v, %v", p, err)
			}
			if q := api.LastLogQuery(); q.Instance != 2 || q.Source != engine.LogConsole || q.Limit != engine.DefaultLogLimit {
				t.Errorf("the engine was asked %+v", q)
			}
			_, err = c.Logs(ctx, engine.LogQuery{Source: "journal"})
			var ae *Error
			if !errors.Is(err, engine.ErrBadLogQuery) || !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != "bad_log_query" {
				t.Errorf("bad source: %#v", err)
			}

			for _, include := range []bool{false, true} {
				var buf bytes.Buffer
				m, err := c.DiagBundle(ctx, &buf, include)
				if err != nil {
					t.Fatalf("DiagBundle(%v): %v", include, err)
				}
				zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
				if err != nil || len(zr.File) != 1 || zr.File[0].Name != "manifest.txt" {
					t.Fatalf("not the bundle: %v", err)
				}
				if m.AddressesKept != include || len(m.Files) != 1 || m.Files[0].Name != "manifest.txt" || m.Version != "test" {
					t.Errorf("manifest %+v", m)
				}
				if n, got := api.DiagCalls(); got != include {
					t.Errorf("bundle %d: the engine was asked include_addresses=%v, want %v", n, got, include)
				}
			}
		})
	}
}

func TestLogsAndDiagRoutes(t *testing.T) {
	api := newAPI()
	api.SetLogs(engine.LogApp, []string{"one", "two"})
	hs := httptest.NewServer(NewServer(api, ServerOptions{Token: testToken}).Handler(true))
	defer hs.Close()
	call := func(method, path, token string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, hs.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	// The token is required as for every route.
	for _, r := range []struct{ method, path string }{{"GET", "/v1/logs"}, {"POST", "/v1/diag"}} {
		for _, token := range []string{"", "wrong"} {
			if resp, body := call(r.method, r.path, token); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"code":"unauthorized"`) {
				t.Errorf("%s %s with token %q: %d %s", r.method, r.path, token, resp.StatusCode, body)
			}
		}
	}
	if n, _ := api.DiagCalls(); n != 0 {
		t.Errorf("a refused request wrote %d bundles", n)
	}

	cases := []struct {
		method, path string
		status       int
		code         string
	}{
		{"POST", "/v1/logs", 405, "method_not_allowed"},
		{"GET", "/v1/diag", 405, "method_not_allowed"},
		{"GET", "/v1/logs?instance=first", 400, "bad_request"},
		{"GET", "/v1/logs?limit=lots", 400, "bad_request"},
		{"GET", "/v1/logs?limit=-1", 400, "bad_log_query"},
		{"GET", "/v1/logs?source=journal", 400, "bad_log_query"},
		{"GET", "/v1/logs?source=console&instance=-2", 400, "bad_log_query"},
		{"POST", "/v1/diag?include_addresses=maybe", 400, "bad_request"},
	}
	for _, c := range cases {
		resp, body := call(c.method, c.path, testToken)
		if resp.StatusCode != c.status || !strings.Contains(body, `"code":"`+c.code+`"`) {
			t.Errorf("%s %s: %d %s; want %d %s", c.method, c.path, resp.StatusCode, body, c.status, c.code)
		}
	}

	resp, body := call("GET", "/v1/logs?source=app&limit=1", testToken)
	var page wireLogPage
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &page) != nil || !slices.Equal(page.Lines, []string{"two"}) || !page.Truncated {
		t.Errorf("GET /v1/logs: %d %s", resp.StatusCode, body)
	}
	resp, body = call("POST", "/v1/diag?include_addresses=true", testToken)
	m, err := decodeManifest(resp.Header.Get(diagManifestHeader))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" || err != nil || !m.AddressesKept ||
		resp.Header.Get("Content-Length") != fmt.Sprint(len(body)) || !strings.HasPrefix(body, "PK") {
		t.Errorf("POST /v1/diag: %d %v %+v, %v", resp.StatusCode, resp.Header, m, err)
	}
	// Without the parameter, addresses are hidden.
	resp, _ = call("POST", "/v1/diag", testToken)
	if m, err := decodeManifest(resp.Header.Get(diagManifestHeader)); err != nil || m.AddressesKept {
		t.Errorf("POST /v1/diag without include_addresses: %+v, %v", m, err)
	}
}

// TestDiagFailures: an engine failure is an error answer and nothing is
// written; a download cut short is an error.
func TestDiagFailures(t *testing.T) {
	api := &diagAPI{testAPI: newAPI()}
	api.diag = func(_ context.Context, w io.Writer, _ bool) (diag.Manifest, error) {
		io.WriteString(w, "PK half a zip")
		return diag.Manifest{}, errors.New("diagnostic bundle: no data directory")
	}
	srv := NewServer(api, ServerOptions{Token: testToken})
	srv.bundleMax = 4 << 10
	_, c := httpServer(t, srv)
	var out bytes.Buffer
	_, err := c.DiagBundle(context.Background(), &out, false)
	if err == nil || err.Error() != "diagnostic bundle: no data directory" || out.Len() != 0 {
		t.Errorf("failing engine: %v (%d bytes written)", err, out.Len())
	}

	// A bundle larger than the server holds is refused.
	api.diag = func(_ context.Context, w io.Writer, _ bool) (diag.Manifest, error) {
		chunk := make([]byte, 1<<10)
		for range 5 {
			if _, err := w.Write(chunk); err != nil {
				return diag.Manifest{}, fmt.Errorf("write diagnostic bundle: %w", err)
			}
		}
		return diag.Manifest{}, nil
	}
	if _, err := c.DiagBundle(context.Background(), &out, false); err == nil || !strings.Contains(err.Error(), "larger than") || out.Len() != 0 {
		t.Errorf("too large: %v (%d bytes written)", err, out.Len())
	}

	// A server that promises more than it sends, and one that sends no manifest.
	manifest, _ := encodeManifest(diag.Manifest{Version: "1"})
	for name, h := range map[string]http.HandlerFunc{
		"cut short": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(diagManifestHeader, manifest)
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(200)
			io.WriteString(w, "PK only this")
		},
		"no manifest": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/zip")
			io.WriteString(w, "PK")
		},
	} {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /v1/version", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"api":%q,"version":"x"}`, apiName)
		})
		mux.Handle("POST /v1/diag", h)
		hs := httptest.NewServer(mux)
		c, err := Dial(context.Background(), hs.URL, testToken, "")
		if err != nil {
			t.Fatal(err)
		}
		out.Reset()
		_, err = c.DiagBundle(context.Background(), &out, false)
		switch {
		case err == nil:
			t.Errorf("%s: no error", name)
		case name == "no manifest" && (out.Len() != 0 || !strings.Contains(err.Error(), "no manifest")):
			t.Errorf("%s: %v (%d bytes written)", name, err, out.Len())
		}
		c.Close()
		hs.Close()
	}
}

func TestManifestHeaderBounded(t *testing.T) {
	m := diag.Manifest{Version: "1", Files: []diag.File{{Name: "manifest.txt", Size: 10}}}
	for i := range 5000 {
		m.Notes = append(m.Notes, fmt.Sprintf("logs/other-%d.log: left out: mode -rw------- (files other than the app's log are included only when readable by everyone)", i))
	}
	v, err := encodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) > maxManifestHeader {
		t.Errorf("header of %d bytes", len(v))
	}
	got, err := decodeManifest(v)
	if err != nil {
		t.Fatal(err)
	}
	last := got.Notes[len(got.Notes)-1]
	if len(got.Notes) >= len(m.Notes) || !strings.HasPrefix(last, "… ") || !strings.HasSuffix(last, "more notes in manifest.txt") ||
		got.Notes[0] != m.Notes[0] || len(got.Files) != 1 {
		t.Errorf("trimmed manifest: %d notes, the last %q", len(got.Notes), last)
	}
	if len(m.Notes) != 5000 || strings.HasPrefix(m.Notes[len(m.Notes)-1], "…") {
		t.Error("encoding changed the caller's manifest")
	}
	for _, bad := range []string{"", "not base64!", "bm90IGpzb24="} {
		if _, err := decodeManifest(bad); err == nil {
			t.Errorf("decodeManifest(%q) succeeded", bad)
		}
	}
}
