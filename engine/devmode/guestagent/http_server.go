package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/textproto"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// httpResponse is one answer of the worker's HTTP server.
type httpResponse struct {
	Status      int
	Reason      string
	ContentType string
	Body        []byte
}

const (
	contentHTML = "text/html"
	contentJSON = "application/json"
	contentText = "text/plain; charset=utf-8"
)

func okResponse(contentType string, body []byte) httpResponse {
	return httpResponse{Status: 200, Reason: "ok", ContentType: contentType, Body: body}
}

// workerHTTP is the stand-in worker-runner's HTTP API (interface spec
// §6.2) over workerState.
type workerHTTP struct {
	state   *workerState
	now     func() time.Time
	started time.Time
}

// Handle routes one request. As the official server it ignores the method
// and answers unknown paths with "400 not found".
func (h *workerHTTP) Handle(path string, args map[string]string) httpResponse {
	now := h.now()
	switch path {
	case "/stats":
		return okResponse(contentHTML, renderStatsPage(h.state.Snapshot(now), now))
	case "/jsonstats":
		return okResponse(contentJSON, h.state.Snapshot(now).Stats.MarshalOfficial())
	case "/perf":
		return okResponse(contentText, h.perf(now))
	case "/request/enable":
		h.state.SetForceDisabled(false)
		return okResponse(contentHTML, shortAnswer("state updated"))
	case "/request/disable":
		h.state.SetForceDisabled(true)
		return okResponse(contentHTML, shortAnswer("state updated"))
	case "/request/payout":
		return okResponse(contentHTML, shortAnswer(h.state.RequestPayout(args["proxy"], "/request/payout")))
	case "/request/change_coefficient":
		raw, ok := args["coefficient"]
		if !ok {
			return okResponse(contentHTML, coefficientForm())
		}
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v*1000) >= math.MaxInt32 {
			// raw is the caller's own input, echoed as the official worker does.
			return okResponse(contentHTML, shortAnswer(fmt.Sprintf("failed to parse '%s' as double", raw)))
		}
		k := int32(v * 1000)
		h.state.SetCoefficient(k)
		return okResponse(contentHTML, shortAnswer("coefficient set to "+strconv.FormatFloat(float64(k)*0.001, 'f', 6, 64)))
	}
	return httpResponse{Status: 400, Reason: "not found", ContentType: contentHTML, Body: []byte("not found\n")}
}

// perf stands in for the actor scheduler statistics of /perf.
func (h *workerHTTP) perf(now time.Time) []byte {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return []byte(fmt.Sprintf("%s\nuptime %.1fs\ngoroutines %d\nheap_alloc_bytes %d\n",
		standinLabel, now.Sub(h.started).Seconds(), runtime.NumGoroutine(), m.HeapAlloc))
}

// splitTarget splits a request target into path and arguments the way the
// worker does (http_parse_url): on '?', '&' and the first '=', with no URL
// decoding. The first value of a repeated key wins.
func splitTarget(target string) (string, map[string]string) {
	args := map[string]string{}
	path, query, ok := strings.Cut(target, "?")
	if !ok {
		return path, args
	}
	for _, part := range strings.Split(query, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if _, dup := args[k]; !dup {
			args[k] = v
		}
	}
	return path, args
}

const (
	maxRequestHead = 16 << 10
	maxRequestBody = 1 << 20
	httpIOTimeout  = 30 * time.Second
)

// serveHTTP answers HTTP/1.0-style requests on ln until ctx ends: one
// request per connection, then close. It returns after every connection
// handler has finished.
func serveHTTP(ctx context.Context, ln net.Listener, handle func(path string, args map[string]string) httpResponse, log *slog.Logger) error {
	return serveConns(ctx, ln, log, func(c net.Conn) { serveHTTPConn(c, handle, log) })
}

func serveHTTPConn(c net.Conn, handle func(string, map[string]string) httpResponse, log *slog.Logger) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(httpIOTimeout))
	br := bufio.NewReader(io.LimitReader(c, maxRequestHead+maxRequestBody))
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return
	}
	parts := strings.Fields(line)
	if len(parts) < 2 {
		writeHTTP(c, httpResponse{Status: 400, Reason: "bad request", ContentType: contentHTML, Body: []byte("bad request\n")})
		return
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		writeHTTP(c, httpResponse{Status: 400, Reason: "bad request", ContentType: contentHTML, Body: []byte("bad request\n")})
		return
	}
	if n, err := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64); err == nil && n > 0 {
		_, _ = io.CopyN(io.Discard, br, min(n, maxRequestBody))
	}
	path, args := splitTarget(parts[1])
	resp := handle(path, args)
	log.Debug("http", "method", parts[0], "path", path, "status", resp.Status)
	writeHTTP(c, resp)
}

func writeHTTP(w io.Writer, r httpResponse) {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.0 %d %s\r\n", r.Status, r.Reason)
	b.WriteString("Access-Control-Allow-Origin: *\r\n")
	b.WriteString("Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n")
	b.WriteString("Access-Control-Allow-Headers: Content-Type, Authorization\r\n")
	fmt.Fprintf(&b, "Content-Type: %s\r\nContent-Length: %d\r\n\r\n", r.ContentType, len(r.Body))
	_, _ = io.WriteString(w, b.String())
	_, _ = w.Write(r.Body)
}

// serveConns accepts on ln until ctx ends, running handle for each
// connection in its own goroutine, and waits for them before returning.
func serveConns(ctx context.Context, ln net.Listener, log *slog.Logger, handle func(net.Conn)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var tempDelay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				log.Warn("accept failed; retrying", "addr", ln.Addr().String(), "err", err, "retry_in", tempDelay)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(tempDelay):
				}
				continue
			}
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		tempDelay = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					log.Error("connection handler panicked", "addr", ln.Addr().String(), "panic", fmt.Sprint(p))
				}
			}()
			handle(c)
		}()
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}
