package worker

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Health monitor protocol limits (§7).
const (
	// HealthPort is the guest's health monitor port (vsock).
	HealthPort = 9999
	// MaxHealthRequest is the largest request payload the monitor accepts.
	MaxHealthRequest = 16536
	// MaxHealthResponseServer is the largest response the monitor sends.
	MaxHealthResponseServer = 20 << 20
	// DefaultMaxHealthResponse is the client's cap, as the official
	// health-client's.
	DefaultMaxHealthResponse = 100 << 20
)

// ErrFrameTooLarge is returned for a frame whose length exceeds the cap.
var ErrFrameTooLarge = errors.New("health frame too large")

// WriteFrame writes one message: a 4-byte little-endian length, then the
// payload (§7).
func WriteFrame(w io.Writer, payload []byte) error {
	if uint64(len(payload)) > 0xFFFFFFFF {
		return fmt.Errorf("write health frame: %w (%d bytes)", ErrFrameTooLarge, len(payload))
	}
	buf := make([]byte, 4+len(payload))
	binary.LittleEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[4:], payload)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write health frame: %w", err)
	}
	return nil
}

// ReadFrame reads one message whose payload is at most max bytes. The
// buffer grows with the data received, so a large announced length
// allocates only as much as actually arrives. A clean end of stream before
// the length is io.EOF; inside a frame it is io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read health frame length: %w", err)
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if max < 0 || uint64(n) > uint64(max) {
		return nil, fmt.Errorf("read health frame: %w: %d bytes announced, limit %d", ErrFrameTooLarge, n, max)
	}
	var buf bytes.Buffer
	buf.Grow(int(min(n, 64<<10)))
	if _, err := io.CopyN(&buf, r, int64(n)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read health frame payload: %w", err)
	}
	return buf.Bytes(), nil
}

// HealthError is the monitor's error reply {"error":"<message>"} (§7),
// for example for an unknown command.
type HealthError struct{ Message string }

func (e *HealthError) Error() string { return "health monitor: " + e.Message }

// parseHealthError recognises an error reply. The monitor may not escape
// the message, so a reply that is not valid JSON but has the shape
// {"error":"…"} is read by position.
func parseHealthError(payload []byte) (*HealthError, bool) {
	t := bytes.TrimSpace(payload)
	const prefix, suffix = `{"error":"`, `"}`
	if !bytes.HasPrefix(t, []byte(`{"error"`)) || !bytes.HasSuffix(t, []byte("}")) {
		return nil, false
	}
	var v struct {
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(t, &v); err == nil && v.Error != nil {
		return &HealthError{Message: *v.Error}, true
	}
	if bytes.HasPrefix(t, []byte(prefix)) && bytes.HasSuffix(t, []byte(suffix)) && len(t) >= len(prefix)+len(suffix) {
		return &HealthError{Message: string(t[len(prefix) : len(t)-len(suffix)])}, true
	}
	return nil, false
}

// healthRequest joins words with single spaces after checking them.
func healthRequest(words []string) ([]byte, error) {
	if len(words) == 0 {
		return nil, errors.New("no command")
	}
	for i, w := range words {
		if w == "" {
			return nil, fmt.Errorf("word %d is empty", i+1)
		}
		for j := 0; j < len(w); j++ {
			if c := w[j]; c <= ' ' || c > '~' {
				return nil, fmt.Errorf("word %d: character %q at byte %d; commands are printable ASCII words without spaces", i+1, rune(c), j)
			}
		}
	}
	req := strings.Join(words, " ")
	if len(req) > MaxHealthRequest {
		return nil, fmt.Errorf("request is %d bytes; the monitor accepts at most %d", len(req), MaxHealthRequest)
	}
	return []byte(req), nil
}

// HealthClient talks to a guest's health monitor (§7) through an injected
// dialer: vsock in production (DialVsock with VsockAddr(cid, HealthPort)),
// TCP to a forwarded port in dev mode.
type HealthClient struct {
	dial    DialFunc
	network string
	addr    string
	maxResp int
}

// HealthOption adjusts NewHealthClient.
type HealthOption func(*HealthClient)

// WithMaxHealthResponse caps response payloads (default
// DefaultMaxHealthResponse).
func WithMaxHealthResponse(n int) HealthOption {
	return func(c *HealthClient) {
		if n > 0 {
			c.maxResp = n
		}
	}
}

// NewHealthClient returns a client that reaches the monitor with
// dial(ctx, network, addr): for example DialVsock, "vsock" and
// VsockAddr(cid, HealthPort) in production, or a net.Dialer's
// DialContext, "tcp" and a forwarded port in dev mode.
func NewHealthClient(dial DialFunc, network, addr string, opts ...HealthOption) *HealthClient {
	c := &HealthClient{dial: dial, network: network, addr: addr, maxResp: DefaultMaxHealthResponse}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Command opens a connection, runs one command and closes it. An error
// reply is a *HealthError.
func (c *HealthClient) Command(ctx context.Context, words ...string) (string, error) {
	s, err := c.Open(ctx)
	if err != nil {
		return "", err
	}
	out, err := s.Command(ctx, words...)
	if cerr := s.Close(); err == nil && cerr != nil {
		return out, fmt.Errorf("health %s: close: %w", c.addr, cerr)
	}
	return out, err
}

// Status runs "status" and parses it.
func (c *HealthClient) Status(ctx context.Context) (HealthStatus, error) {
	out, err := c.Command(ctx, "status")
	if err != nil {
		return HealthStatus{}, err
	}
	st, err := ParseHealthStatus(out)
	if err != nil {
		return HealthStatus{}, fmt.Errorf("health status: %w", err)
	}
	return st, nil
}

// Open connects for several commands on one connection.
func (c *HealthClient) Open(ctx context.Context) (*HealthSession, error) {
	conn, err := c.dial(ctx, c.network, c.addr)
	if err != nil {
		return nil, fmt.Errorf("health %s: connect: %w", c.addr, err)
	}
	return &HealthSession{conn: conn, addr: c.addr, maxResp: c.maxResp}, nil
}

// HealthSession is one connection to the monitor; commands on it run one
// at a time, in order.
type HealthSession struct {
	mu      sync.Mutex
	conn    net.Conn
	addr    string
	maxResp int
	broken  error // set after a failed exchange: the stream is out of step
}

// Command sends one request and reads its reply. The context's deadline
// and cancellation apply to this exchange. After a transport error the
// session is unusable; open a new one.
func (s *HealthSession) Command(ctx context.Context, words ...string) (string, error) {
	name := "health"
	if len(words) > 0 {
		name = "health " + words[0]
	}
	req, err := healthRequest(words)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return "", fmt.Errorf("%s: session unusable after an earlier error: %w", name, s.broken)
	}
	resp, err := s.exchange(ctx, req)
	if err != nil {
		s.broken = err
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if he, ok := parseHealthError(resp); ok {
		return "", he
	}
	return string(resp), nil
}

func (s *HealthSession) exchange(ctx context.Context, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline()
	if err := s.conn.SetDeadline(dl); err != nil {
		return nil, err
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = s.conn.SetDeadline(time.Unix(1, 0)) // unblock the read/write in progress
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired // let it finish before the next exchange sets a deadline
		}
	}()
	if err := WriteFrame(s.conn, req); err != nil {
		return nil, err
	}
	resp, err := ReadFrame(s.conn, s.maxResp)
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("monitor closed the connection: %w", io.ErrUnexpectedEOF)
	}
	return resp, err
}

// Close closes the connection.
func (s *HealthSession) Close() error { return s.conn.Close() }

// ServeHealth answers health requests on l with the monitor's framing (§7)
// until l is closed, then closes the open connections, waits for their
// handlers to return, and returns nil (or the Accept error that stopped
// it). handler gets the request's words; an error becomes the reply
// {"error":"<message>"}. Several requests may come on one connection.
// It is the server side for a stand-in guest agent and uses nothing
// host-specific.
func ServeHealth(l net.Listener, handler func(cmd []string) (string, error)) error {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("serve health: accept: %w", err)
		}
		mu.Lock()
		conns[conn] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				mu.Lock()
				delete(conns, conn)
				mu.Unlock()
				_ = conn.Close()
			}()
			serveHealthConn(conn, handler)
		}()
	}
}

// serveHealthConn answers requests until the peer closes or breaks the
// framing.
func serveHealthConn(conn net.Conn, handler func(cmd []string) (string, error)) {
	for {
		req, err := ReadFrame(conn, MaxHealthRequest)
		if err != nil {
			return // EOF, oversize or broken stream: nothing sensible to answer
		}
		var words []string
		if len(req) > 0 {
			words = strings.Split(string(req), " ")
		}
		out, herr := handler(words)
		var resp []byte
		if herr != nil {
			resp = healthErrorPayload(herr.Error())
		} else {
			resp = []byte(out)
		}
		if len(resp) > MaxHealthResponseServer {
			resp = healthErrorPayload(fmt.Sprintf("response too large (%d bytes)", len(resp)))
		}
		if err := WriteFrame(conn, resp); err != nil {
			return
		}
	}
}

func healthErrorPayload(msg string) []byte {
	b, err := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	if err != nil { // cannot happen for a string
		return []byte(`{"error":"internal error"}`)
	}
	return b
}
