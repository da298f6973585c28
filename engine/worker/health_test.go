package worker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

func frame(payload string) []byte {
	b := make([]byte, 4, 4+len(payload))
	binary.LittleEndian.PutUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

func TestFrameRoundTrip(t *testing.T) {
	for _, p := range []string{"", "status", strings.Repeat("x", MaxHealthRequest), "héllo\x00\n"} {
		var buf bytes.Buffer
		if err := WriteFrame(&buf, []byte(p)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), frame(p)) {
			t.Errorf("WriteFrame(%.20q) = % x…, want little-endian length + payload", p, buf.Bytes()[:4])
		}
		got, err := ReadFrame(&buf, MaxHealthRequest)
		if err != nil || string(got) != p {
			t.Errorf("ReadFrame = %.20q, %v", got, err)
		}
		if _, err := ReadFrame(&buf, MaxHealthRequest); err != io.EOF {
			t.Errorf("ReadFrame at end = %v, want io.EOF", err)
		}
	}
}

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"empty stream", nil, 10, io.EOF},
		{"short length", []byte{1, 0}, 10, io.ErrUnexpectedEOF},
		{"short payload", frame("hello")[:6], 10, io.ErrUnexpectedEOF},
		{"too large", frame("hello"), 4, ErrFrameTooLarge},
		{"huge announced", []byte{0xff, 0xff, 0xff, 0xff}, DefaultMaxHealthResponse, ErrFrameTooLarge},
		{"negative max", frame(""), -1, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tt.in), tt.max)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// A big announced length with little data allocates only what arrives.
	in := append([]byte{0, 0, 0, 4}, "abc"...) // 64 MiB announced
	if _, err := ReadFrame(bytes.NewReader(in), DefaultMaxHealthResponse); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated large frame: %v", err)
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(frame("status"), 16536)
	f.Add(frame(""), 0)
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 1, 2}, 1<<20)
	f.Add(append(frame("a"), frame("bc")...), 2)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max > 1<<20 {
			max = 1 << 20 // keep allocations small; the cap logic is the same
		}
		r := bytes.NewReader(data)
		for {
			before := len(data) - r.Len()
			p, err := ReadFrame(r, max)
			if err != nil {
				if errors.Is(err, io.EOF) && before != len(data) {
					t.Fatalf("io.EOF in the middle of the input")
				}
				return
			}
			if len(p) > max {
				t.Fatalf("payload %d bytes over max %d", len(p), max)
			}
			var buf bytes.Buffer
			if err := WriteFrame(&buf, p); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), data[before:len(data)-r.Len()]) {
				t.Fatalf("re-encoding differs from the input frame")
			}
		}
	})
}

func TestParseHealthError(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{`{"error":"Unknown command. Available: status, logs, sys, svc, tdx, eventlog, gpu, all"}`, "Unknown command. Available: status, logs, sys, svc, tdx, eventlog, gpu, all", true},
		{`{"error":"unit "foo" not allowed"}`, `unit "foo" not allowed`, true}, // not escaped by the monitor
		{"{\"error\": \"with space\"}\n", "with space", true},
		{`{"error":"esc\"aped"}`, `esc"aped`, true},
		{"Status: OK", "", false},
		{`{"errors":"x"}`, "", false},
		{`{"error":"x"`, "", false},
	}
	for _, tt := range tests {
		he, ok := parseHealthError([]byte(tt.in))
		if ok != tt.ok || (ok && he.Message != tt.want) {
			t.Errorf("parseHealthError(%q) = %v, %v", tt.in, he, ok)
		}
	}
}

// startHealthServer runs ServeHealth on a loopback TCP listener and
// returns a client for it; the server stops at the end of the test.
func startHealthServer(t *testing.T, handler func([]string) (string, error), opts ...HealthOption) *HealthClient {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ServeHealth(l, handler) }()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("ServeHealth returned %v", err)
		}
	})
	var d net.Dialer
	return NewHealthClient(d.DialContext, "tcp", l.Addr().String(), opts...)
}

func echoHandler(cmd []string) (string, error) {
	switch {
	case len(cmd) == 0:
		return "", errors.New("empty request")
	case cmd[0] == "status":
		return sampleStatusOK, nil
	case cmd[0] == "echo":
		return strings.Join(cmd[1:], "|"), nil
	case cmd[0] == "big":
		return strings.Repeat("x", 5000), nil
	}
	return "", errors.New("Unknown command. Available: status, logs, sys, svc, tdx, eventlog, gpu, all")
}

func TestHealthClientServer(t *testing.T) {
	c := startHealthServer(t, echoHandler)
	ctx := context.Background()
	out, err := c.Command(ctx, "echo", "a", "b")
	if err != nil || out != "a|b" {
		t.Errorf("Command = %q, %v", out, err)
	}
	_, err = c.Command(ctx, "nope")
	var he *HealthError
	if !errors.As(err, &he) || !strings.HasPrefix(he.Message, "Unknown command. Available:") {
		t.Errorf("unknown command: %v", err)
	}
	st, err := c.Status(ctx)
	if err != nil || !st.OK {
		t.Errorf("Status = %+v, %v", st, err)
	}

	// Several requests on one connection, in order.
	s, err := c.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, words := range [][]string{{"echo", "1"}, {"nope"}, {"echo", "2", "3"}, {"big"}} {
		out, err := s.Command(ctx, words...)
		switch i {
		case 1:
			if !errors.As(err, &he) {
				t.Errorf("request %d: %v", i, err)
			}
		case 3:
			if err != nil || len(out) != 5000 {
				t.Errorf("request %d: %d bytes, %v", i, len(out), err)
			}
		default:
			if want := strings.Join(words[1:], "|"); err != nil || out != want {
				t.Errorf("request %d = %q, %v; want %q", i, out, err, want)
			}
		}
	}
}

func TestHealthClientLimits(t *testing.T) {
	c := startHealthServer(t, echoHandler, WithMaxHealthResponse(100))
	if _, err := c.Command(context.Background(), "big"); !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "health big") {
		t.Errorf("oversize response: %v", err)
	}
	for _, words := range [][]string{nil, {""}, {"a b"}, {"status", "x\ny"}, {"é"}, {strings.Repeat("x", MaxHealthRequest+1)}} {
		if _, err := c.Command(context.Background(), words...); err == nil {
			t.Errorf("Command(%q) accepted", words)
		}
	}
	if _, err := c.Command(context.Background(), strings.Repeat("x", MaxHealthRequest)); err == nil {
		t.Error("unknown 16536-byte command answered without an error")
	} else if !errors.As(err, new(*HealthError)) {
		t.Errorf("a maximal request is valid and reaches the server: %v", err)
	}
}

func TestHealthServerOversizeRequest(t *testing.T) {
	// The server drops a connection whose request is over the limit.
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		serveHealthConn(server, echoHandler)
		server.Close()
	}()
	hdr := make([]byte, 4)
	binary.LittleEndian.PutUint32(hdr, MaxHealthRequest+1)
	if _, err := client.Write(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFrame(client, 100); !errors.Is(err, io.EOF) {
		t.Errorf("after an oversize request: %v, want the connection closed", err)
	}
	<-done
	client.Close()
}

func TestHealthSessionCancel(t *testing.T) {
	// A monitor that reads the request and never answers: cancelling the
	// context ends the call and the session refuses further use.
	client, server := net.Pipe()
	defer server.Close()
	got := make(chan []byte, 1)
	go func() {
		p, _ := ReadFrame(server, MaxHealthRequest)
		got <- p
		_, _ = io.Copy(io.Discard, server) // keep reading, never answer
	}()
	c := NewHealthClient(func(context.Context, string, string) (net.Conn, error) { return client, nil }, "vsock", VsockAddr(6, HealthPort))
	s, err := c.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := s.Command(ctx, "logs", "cocoon-worker-runner", "100"); errc <- err }()
	if p := <-got; string(p) != "logs cocoon-worker-runner 100" {
		t.Errorf("request payload %q", p)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "health logs") {
		t.Errorf("cancelled command: %v", err)
	}
	if _, err := s.Command(context.Background(), "status"); err == nil || !strings.Contains(err.Error(), "unusable") {
		t.Errorf("session after a failure: %v", err)
	}
}

func TestHealthDialError(t *testing.T) {
	c := NewHealthClient(func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no such device")
	}, "vsock", VsockAddr(16, HealthPort))
	if _, err := c.Command(context.Background(), "status"); err == nil || !strings.Contains(err.Error(), "health 16:9999: connect: no such device") {
		t.Errorf("dial error: %v", err)
	}
}

func TestServeHealthClosesConnections(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- ServeHealth(l, func(cmd []string) (string, error) {
			mu.Lock()
			calls++
			mu.Unlock()
			return "ok", nil
		})
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := WriteFrame(conn, []byte("status")); err != nil {
		t.Fatal(err)
	}
	if p, err := ReadFrame(conn, 100); err != nil || string(p) != "ok" {
		t.Fatalf("reply %q, %v", p, err)
	}
	l.Close()
	if err := <-done; err != nil {
		t.Errorf("ServeHealth = %v, want nil after Close", err)
	}
	// ServeHealth closed the open connection before returning.
	if _, err := ReadFrame(conn, 100); !errors.Is(err, io.EOF) {
		t.Errorf("connection still open after ServeHealth returned: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("handler called %d times", calls)
	}
}

const sampleStatusOK = `Build: 9e70999c (2025-11-20 14:03:12 +0000) worker: fix stats
Status: OK - All critical services active
TDX Image Hash: 9Qa0CSi1t6dnx2+wCPhr67Jzf2pvD7I8b12izsJVQE4=
System: Load 0.42 | Mem 37.5%
Services:
  [+] cocoon-ready.target: active (0 restarts, Mem: -)
  [+] cocoon-health.service: active (0 restarts, Mem: 3.1M)
  [+] cocoon-router.service: active (0 restarts, Mem: 12.3M)
  [+] cocoon-worker-runner.service: active (1 restarts, Mem: 80.2M)
  [+] cocoon-sglang.service: active (0 restarts, Mem: 1.2G)
  [~] ssh.service: inactive (0 restarts, Mem: 0B)
`

const sampleStatusError = `Build: 9e70999c (2025-11-20 14:03:12 +0000) worker: fix stats
Status: ERROR - 2 service(s) failing
  - cocoon-vllm.service is inactive
  - cocoon-sglang.service is activating
TDX Image Hash: 9Qa0CSi1t6dnx2+wCPhr67Jzf2pvD7I8b12izsJVQE4=
System: Load 3.10 | Mem 91.0%
Services:
  [+] cocoon-ready.target: active (0 restarts, Mem: -)
  [+] cocoon-router.service: active (0 restarts, Mem: 12.3M)
  [+] cocoon-worker-runner.service: active (0 restarts, Mem: 80.2M)
  [-] cocoon-sglang.service: activating (2 restarts, Mem: 900M)
  [-] cocoon-vllm.service: inactive (0 restarts, Mem: 0B)
  [~] docker.service: active
`

func TestParseHealthStatus(t *testing.T) {
	st, err := ParseHealthStatus(sampleStatusOK)
	if err != nil {
		t.Fatal(err)
	}
	if !st.OK || st.StatusLine != "OK - All critical services active" || st.Load != 0.42 || st.MemPercent != 37.5 ||
		!strings.HasPrefix(st.Build, "Build: 9e70999c") || len(st.Services) != 6 || len(st.Failing) != 0 {
		t.Errorf("OK status parsed as %+v", st)
	}
	if s, ok := st.Service("cocoon-worker-runner"); !ok || s.Restarts != 1 || s.Mem != "80.2M" || s.ActiveState != "active" || s.Mark != ServiceActive {
		t.Errorf("Service(cocoon-worker-runner) = %+v, %v", s, ok)
	}
	if s, ok := st.Service("ssh"); !ok || s.Mark != ServiceNonCriticalOff {
		t.Errorf("Service(ssh) = %+v, %v", s, ok)
	}
	if ready, down := st.WorkerReady(); !ready || down != nil {
		t.Errorf("WorkerReady = %v, %v", ready, down)
	}
	h, err := st.ImageHash()
	if err != nil || h.String() != "F506B40928B5B7A767C76FB008F86BEBB2737F6A6F0FB23C6F5DA2CEC255404E" {
		t.Errorf("ImageHash = %s, %v", h, err)
	}
	// The image hash from health matches the example root contract's list.
	if !exampleStats(t).ImageListed(h) {
		t.Error("image hash not found among the example's worker_hashes")
	}

	st, err = ParseHealthStatus(sampleStatusError)
	if err != nil {
		t.Fatal(err)
	}
	wantFailing := []FailingService{{"cocoon-vllm.service", "inactive"}, {"cocoon-sglang.service", "activating"}}
	if st.OK || len(st.Failing) != 2 || st.Failing[0] != wantFailing[0] || st.Failing[1] != wantFailing[1] {
		t.Errorf("ERROR status parsed as %+v", st)
	}
	if ready, down := st.WorkerReady(); ready || len(down) != 1 || down[0] != "cocoon-sglang.service" {
		t.Errorf("WorkerReady = %v, %v; want only sglang down (vllm is never started)", ready, down)
	}
	if s, _ := st.Service("docker"); s.Restarts != -1 || s.Mem != "" || s.ActiveState != "active" {
		t.Errorf("line without details: %+v", s)
	}
	if s, _ := st.Service("cocoon-sglang"); s.Restarts != 2 || s.Mark != ServiceCriticalDown {
		t.Errorf("sglang: %+v", s)
	}

	// A status without the services the worker needs is not ready.
	st, _ = ParseHealthStatus("Status: OK\n")
	if ready, down := st.WorkerReady(); ready || len(down) != 4 {
		t.Errorf("empty services: %v %v", ready, down)
	}
	if _, err := st.ImageHash(); err == nil {
		t.Error("ImageHash without a hash line succeeded")
	}
	if _, err := ParseHealthStatus("nothing here"); err == nil {
		t.Error("text without Status: accepted")
	}
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := (HealthStatus{ImageHashB64: bad}).ImageHash(); err == nil {
			t.Errorf("ImageHash(%q) succeeded", bad)
		}
	}
}

func TestVsockAddr(t *testing.T) {
	if got := VsockAddr(16, HealthPort); got != "16:9999" {
		t.Errorf("VsockAddr = %q", got)
	}
	for _, bad := range []string{"", "16", "x:1", "1:y", "1:99999999999"} {
		if _, err := DialVsock(context.Background(), "vsock", bad); err == nil || !strings.Contains(err.Error(), "want cid:port") {
			t.Errorf("DialVsock(%q) = %v", bad, err)
		}
	}
}
