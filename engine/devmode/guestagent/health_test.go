package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"testing/fstest"
)

// fakeProc is a small /proc for the health and sys commands.
var fakeProc = fstest.MapFS{
	"uptime":      {Data: []byte("3723.45 3700.00\n")},
	"loadavg":     {Data: []byte("0.25 0.10 0.05 1/80 123\n")},
	"meminfo":     {Data: []byte("MemTotal:         500000 kB\nMemFree:          400000 kB\nMemAvailable:     450000 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n")},
	"cpuinfo":     {Data: []byte("processor\t: 0\nmodel name\t: QEMU TCG CPU\n\nprocessor\t: 1\n")},
	"net/dev":     {Data: []byte("Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n  eth0:    2048      10    0    0    0     0          0         0     4096      20    0    0    0     0       0          0\n")},
	"self/status": {Data: []byte("Name:\tinit\nVmRSS:\t    7372 kB\nThreads:\t5\n")},
}

func testHealth(t *testing.T) (*healthCommands, *serviceTable, *logSink) {
	t.Helper()
	svcs := newServiceTable()
	for _, s := range svcs.Snapshot() {
		svcs.Set(s.Name, stateActive, "")
	}
	sink := newLogSink("", 100)
	for _, l := range []string{"one", "two", "three"} {
		_, _ = sink.Write([]byte(l + "\n"))
	}
	return &healthCommands{services: svcs, proc: procFS{fakeProc}, logs: sink}, svcs, sink
}

func TestHealthDispatch(t *testing.T) {
	h, _, _ := testHealth(t)
	unknown := `{"error":"Unknown command. Available: status, logs, sys, svc, tdx, eventlog, gpu, all"}`
	tests := []struct {
		req      string
		contains []string
		exact    string
	}{
		{req: "status", contains: []string{
			"Build: ", "stand-in (synthetic, earns nothing)\n",
			"Status: OK - All critical services active\n",
			"TDX Image Hash: XFXI9NtAELqSA9g1NtBgmFavjIR6wDnjfn3ej71XS2E=\n",
			"System: Load 0.25 | Mem 10.0%\n",
			"Services:\n", "  [+] cocoon-worker-runner: active (0 restarts, Mem: 7.2M)\n",
			"  [+] cocoon-health: active", "  [+] cocoon-ready.target: active",
		}},
		{req: "bogus", exact: unknown},
		{req: "", exact: unknown},
		{req: "sys", contains: []string{"Uptime: 0d 01:02:03", "Load: 0.25 0.10 0.05", "Cores: 2", "(10.0%)", "Swap: none", "eth0: rx 2.0K (10 packets), tx 4.0K (20 packets)"}},
		{req: "gpu", contains: []string{"Error: no GPU"}},
		{req: "tdx", contains: []string{"stand-in (synthetic, earns nothing)", "without TDX", "TDX Image Hash: XFXI9NtAELqSA9g1NtBgmFavjIR6wDnjfn3ej71XS2E="}},
		{req: "eventlog", contains: []string{"without TDX"}},
		{req: "all", contains: []string{"Uptime:", "without TDX", "Status: OK"}},
		{req: "logs", exact: "one\ntwo\nthree\n"},
		{req: "logs cocoon-worker-runner 2", exact: "two\nthree\n"},
		{req: "logs cocoon-worker-runner.service 1", exact: "three\n"},
		{req: "logs docker", exact: "-- No entries --\n"},
		{req: "logs cocoon-worker-runner 0", contains: []string{`{"error":"lines must be`}},
		{req: "logs nginx", contains: []string{`{"error":"Service not allowed: nginx.`}},
		{req: "status cocoon-worker-runner", contains: []string{"cocoon-worker-runner.service", "Active: active"}},
		{req: "status cocoon-sglang", contains: []string{"not part of the", "inactive (dead)"}},
		{req: "svc cocoon-ready.target", contains: []string{"State: active", "Recent log:", "  three"}},
		{req: "svc", contains: []string{`{"error":"Usage: svc`}},
	}
	for _, tt := range tests {
		t.Run(tt.req, func(t *testing.T) {
			got := h.Dispatch(tt.req)
			if tt.exact != "" && got != tt.exact {
				t.Errorf("got %q, want %q", got, tt.exact)
			}
			for _, c := range tt.contains {
				if !strings.Contains(got, c) {
					t.Errorf("output lacks %q:\n%s", c, got)
				}
			}
			if strings.HasPrefix(got, "{") && !json.Valid([]byte(got)) {
				t.Errorf("error payload is not JSON: %s", got)
			}
		})
	}
}

func TestHealthStatusFailing(t *testing.T) {
	h, svcs, _ := testHealth(t)
	svcs.Set("cocoon-worker-runner", stateFailed, "spec preparation failed")
	svcs.Set("spec", stateFailed, "no share")
	got := h.Dispatch("status")
	for _, want := range []string{
		"Status: ERROR - 1 service(s) failing\n  - cocoon-worker-runner.service is failed\n",
		"  [-] cocoon-worker-runner: failed", "  [~] spec: failed",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q:\n%s", want, got)
		}
	}
}

func frame(s string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(s)))
	return append(b, s...)
}

func TestFraming(t *testing.T) {
	var buf bytes.Buffer
	if err := writeFrame(&buf, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), frame("hello")) {
		t.Errorf("frame = %x", buf.Bytes())
	}
	got, err := readFrame(&buf, 100)
	if err != nil || string(got) != "hello" {
		t.Errorf("readFrame = %q, %v", got, err)
	}
	big := binary.LittleEndian.AppendUint32(nil, maxHealthRequest+1)
	if _, err := readFrame(bytes.NewReader(big), maxHealthRequest); !errors.Is(err, errFrameTooLarge) {
		t.Errorf("oversized frame: err = %v", err)
	}
	if _, err := readFrame(bytes.NewReader(frame("abc")[:5]), 100); err == nil {
		t.Error("truncated payload accepted")
	}
}

func TestServeHealthConn(t *testing.T) {
	h, _, _ := testHealth(t)
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() { serveHealthConn(server, h.Dispatch, slog.New(slog.DiscardHandler)); close(done) }()
	defer func() { client.Close(); <-done }()
	// Several requests on one connection, as health-client may send.
	for _, req := range []string{"status", "bogus", "logs cocoon-health 1"} {
		go func() { _, _ = client.Write(frame(req)) }()
		resp, err := readFrame(client, maxHealthResponse)
		if err != nil {
			t.Fatalf("%s: %v", req, err)
		}
		if want := h.Dispatch(req); string(resp) != want {
			t.Errorf("%s: got %q, want %q", req, resp, want)
		}
	}
	// An oversized request gets an error and the connection closes.
	go func() { _, _ = client.Write(binary.LittleEndian.AppendUint32(nil, 1<<20)) }()
	resp, err := readFrame(client, maxHealthResponse)
	if err != nil || !strings.Contains(string(resp), "too large") {
		t.Errorf("oversized: %q, %v", resp, err)
	}
	if _, err := readFrame(client, 10); !errors.Is(err, io.EOF) {
		t.Errorf("connection still open after oversized request: %v", err)
	}
}

func TestLogSink(t *testing.T) {
	var console bytes.Buffer
	s := newLogSink("p: ", 3, &console)
	_, _ = s.Write([]byte("a\nb"))
	_, _ = s.Write([]byte("\nc\nd\n"))
	if got := strings.Join(s.Tail(10), ","); got != "b,c,d" {
		t.Errorf("Tail = %s, want the last 3 lines", got)
	}
	if console.String() != "p: a\np: b\np: c\np: d\n" {
		t.Errorf("console = %q", console.String())
	}
	var late bytes.Buffer
	s.AddOutput(&late, true)
	_, _ = s.Write([]byte("e\n"))
	if late.String() != "p: b\np: c\np: d\np: e\n" {
		t.Errorf("late console = %q", late.String())
	}
}

func TestProcFS(t *testing.T) {
	p := procFS{fakeProc}
	if rss, err := p.SelfRSS(); err != nil || rss != 7372*1024 {
		t.Errorf("SelfRSS = %d, %v", rss, err)
	}
	if _, err := (procFS{fstest.MapFS{}}).Uptime(); err == nil {
		t.Error("Uptime without a file succeeded")
	}
	for n, want := range map[uint64]string{512: "512B", 2048: "2.0K", 7372 * 1024: "7.2M", 3 << 30: "3.0G"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %s, want %s", n, got, want)
		}
	}
}
