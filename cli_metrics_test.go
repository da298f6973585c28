package main

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestMetricsFlagsCheck(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		public bool
		err    string // "" when accepted
	}{
		{"", false, ""},
		{"127.0.0.1:9310", false, ""},
		{"localhost:9310", false, ""},
		{"[::1]:9310", false, ""},
		{"127.0.0.2:9310", false, ""},
		{"0.0.0.0:9310", false, "add --metrics-public"},
		{"192.168.1.5:9310", false, "192.168.1.5, not loopback"},
		{"example.com:9310", false, "add --metrics-public"},
		{":9310", false, "every interface"},
		{"192.168.1.5:9310", true, ""},
		{":9310", true, ""},
		{"9310", false, "want HOST:PORT"},
		{"127.0.0.1:", false, "want HOST:PORT"},
	} {
		m := metricsFlags()
		m.addr, m.public = tc.addr, tc.public
		err := m.check()
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q public=%v: %v", tc.addr, tc.public, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q public=%v: error %v, want one with %q", tc.addr, tc.public, err, tc.err)
		}
	}
}

// TestSessionServesMetrics starts an engine session (no VM) with
// --metrics on a free loopback port, scrapes it, and checks that closing
// the session stops the server.
func TestSessionServesMetrics(t *testing.T) {
	c := common{dataDir: t.TempDir(), qemu: "/nonexistent/qemu", logLevel: "error"}
	sess, err := c.start(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.serveMetrics(listenFlags{name: "metrics", addr: "127.0.0.1:0"}); err != nil {
		t.Fatal(errors.Join(err, sess.close()))
	}
	resp, err := http.Get(sess.metricsURL)
	if err != nil {
		t.Fatal(errors.Join(err, sess.close()))
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := sess.close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if !strings.Contains(string(body), "\ncocoon_provider_paused 0\n") {
		t.Errorf("scrape:\n%s", body)
	}
	if _, err := http.Get(sess.metricsURL); err == nil {
		t.Error("the metrics server still answers after close")
	}
}
