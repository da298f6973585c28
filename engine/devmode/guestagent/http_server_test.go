package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func testAPI(t *testing.T) *workerHTTP {
	t.Helper()
	now := time.Unix(1764000000, 0)
	return &workerHTTP{state: testState(t), now: func() time.Time { return now }, started: now.Add(-time.Minute)}
}

func TestSplitTarget(t *testing.T) {
	tests := []struct {
		in   string
		path string
		args map[string]string
	}{
		{"/jsonstats", "/jsonstats", map[string]string{}},
		{"/request/payout?proxy=UQ%2Fx", "/request/payout", map[string]string{"proxy": "UQ%2Fx"}},
		{"/r?a=1&b&c=x=y&a=2", "/r", map[string]string{"a": "1", "b": "", "c": "x=y"}},
	}
	for _, tt := range tests {
		path, args := splitTarget(tt.in)
		if path != tt.path || len(args) != len(tt.args) {
			t.Errorf("%s: %s %v", tt.in, path, args)
		}
		for k, v := range tt.args {
			if args[k] != v {
				t.Errorf("%s: %s = %q, want %q", tt.in, k, args[k], v)
			}
		}
	}
}

func TestWorkerEndpoints(t *testing.T) {
	api := testAPI(t)
	get := func(target string) httpResponse {
		path, args := splitTarget(target)
		return api.Handle(path, args)
	}
	if r := get("/nope"); r.Status != 400 || r.Reason != "not found" {
		t.Errorf("unknown path: %d %s", r.Status, r.Reason)
	}
	if r := get("/jsonstats"); r.Status != 200 || r.ContentType != "application/json" {
		t.Errorf("/jsonstats: %d %s", r.Status, r.ContentType)
	}
	if r := get("/stats"); !strings.Contains(string(r.Body), "yes <a href=\"/request/disable\">") || !strings.Contains(string(r.Body), "stand-in (synthetic, earns nothing)") {
		t.Errorf("/stats before disable:\n%s", r.Body)
	}
	if r := get("/request/disable"); !strings.Contains(string(r.Body), "state updated") {
		t.Errorf("/request/disable: %s", r.Body)
	}
	if r := get("/stats"); !strings.Contains(string(r.Body), "no <a href=\"/request/enable\">") {
		t.Errorf("/stats after disable does not show it:\n%s", r.Body)
	}
	// As the official worker, /jsonstats keeps "enabled": true.
	if r := get("/jsonstats"); !strings.Contains(string(r.Body), "\"enabled\": true") {
		t.Error("/jsonstats enabled is not always true")
	}
	get("/request/enable")
	if r := get("/stats"); !strings.Contains(string(r.Body), "yes <a href") {
		t.Error("/request/enable did not re-enable")
	}
	if r := get("/request/payout?proxy=UQnone"); !strings.Contains(string(r.Body), "proxy not found<br/>") {
		t.Errorf("/request/payout: %s", r.Body)
	}
	if r := get("/request/change_coefficient"); !strings.Contains(string(r.Body), "<form") {
		t.Errorf("change_coefficient form: %s", r.Body)
	}
	if r := get("/request/change_coefficient?coefficient=1.25"); !strings.Contains(string(r.Body), "coefficient set to 1.250000") {
		t.Errorf("change_coefficient: %s", r.Body)
	}
	if r := get("/jsonstats"); !strings.Contains(string(r.Body), "\"coefficient\": 1250,") {
		t.Error("/jsonstats does not show the new coefficient")
	}
	for _, bad := range []string{"abc", "NaN", "1e300"} {
		if r := get("/request/change_coefficient?coefficient=" + bad); !strings.Contains(string(r.Body), "failed to parse '"+bad+"' as double") {
			t.Errorf("coefficient %s: %s", bad, r.Body)
		}
	}
	if r := get("/perf"); r.Status != 200 || !strings.Contains(string(r.Body), "stand-in") {
		t.Errorf("/perf: %s", r.Body)
	}
}

func TestServeHTTPWire(t *testing.T) {
	api := testAPI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveHTTP(ctx, ln, api.Handle, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// The raw bytes: HTTP/1.0, the official headers.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
	raw, _ := io.ReadAll(c)
	c.Close()
	for _, want := range []string{"HTTP/1.0 400 not found\r\n", "Access-Control-Allow-Origin: *\r\n",
		"Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n", "Access-Control-Allow-Headers: Content-Type, Authorization\r\n",
		"Content-Length: 10\r\n\r\nnot found\n"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("response lacks %q:\n%s", want, raw)
		}
	}

	// And through Go's client, as the host side will read it.
	resp, err := http.Get("http://" + ln.Addr().String() + "/jsonstats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(bufio.NewReader(resp.Body))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(string(body), "\n{") {
		t.Errorf("GET /jsonstats: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body[:min(len(body), 20)])
	}
}
