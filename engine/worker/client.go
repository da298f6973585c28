package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// DialFunc opens a connection, like net.Dialer.DialContext. The clients
// in this package take one instead of a transport (TCP to the forwarded
// stats port, vsock, or an in-memory pipe in tests).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Worker HTTP endpoints (§6.2).
const (
	PathStats             = "/stats"
	PathJSONStats         = "/jsonstats"
	PathPerf              = "/perf"
	PathPayout            = "/request/payout"
	PathEnable            = "/request/enable"
	PathDisable           = "/request/disable"
	PathChangeCoefficient = "/request/change_coefficient"
)

// DefaultMaxResponseBytes caps a worker HTTP response body. A /jsonstats
// document is a few KiB per proxy.
const DefaultMaxResponseBytes = 8 << 20

// Errors of the worker's HTTP interface.
var (
	// ErrNotReady: the worker answered "400 not found" for an endpoint that
	// exists once it has initialised (§6.1). Retry after the worker has
	// synced with TON and read the root contract.
	ErrNotReady = errors.New("worker endpoint not registered yet (worker still initialising); retry later")
	// ErrResponseTooLarge: the body exceeded the client's cap.
	ErrResponseTooLarge = errors.New("worker response too large")

	// Payout replies (§6.2).
	ErrProxyNotFound   = errors.New("payout: proxy not found; use a proxy_sc_address from /jsonstats")
	ErrPayoutRunning   = errors.New("payout: a payout request for this proxy is already running; wait for it")
	ErrProxyNotInited  = errors.New("payout: the worker contract for this proxy is not deployed yet; retry later")
	ErrProxyClosed     = errors.New("payout: the relationship with this proxy is closed")
	ErrUnexpectedReply = errors.New("unexpected reply from the worker")
)

// Client talks to one worker's HTTP interface (§6). Its zero value is not
// usable; build it with NewClient. It is safe for concurrent use.
type Client struct {
	hc      *http.Client
	base    string // "http://" + addr
	maxBody int64
}

// ClientOption adjusts NewClient.
type ClientOption func(*Client)

// WithMaxResponseBytes caps response bodies (default DefaultMaxResponseBytes).
func WithMaxResponseBytes(n int64) ClientOption {
	return func(c *Client) {
		if n > 0 {
			c.maxBody = n
		}
	}
}

// NewClient returns a client for the worker reachable through dial at addr
// (host:port as dial understands it, e.g. "127.0.0.1:12000"). Proxies
// from the environment are not used. Deadlines come from the context of
// each call.
func NewClient(dial DialFunc, addr string, opts ...ClientOption) *Client {
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dial,
		DisableKeepAlives:      true, // the worker answers HTTP/1.0 and closes
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true,
	}
	c := &Client{
		hc: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // the worker never redirects; do not follow
			},
		},
		base:    "http://" + addr,
		maxBody: DefaultMaxResponseBytes,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// get fetches path?rawQuery and returns the body of a 200 response.
func (c *Client) get(ctx context.Context, path, rawQuery string) ([]byte, error) {
	u := c.base + path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", path, err)
	}
	// The worker splits the query on & and = without URL-decoding it
	// (§6.1): send it byte for byte.
	req.URL.RawQuery = rawQuery
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("worker %s: %w", path, ctxErr)
		}
		return nil, fmt.Errorf("worker %s: %w", path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("worker %s: read response: %w", path, err)
	}
	if int64(len(body)) > c.maxBody {
		return nil, fmt.Errorf("worker %s: %w (over %d bytes)", path, ErrResponseTooLarge, c.maxBody)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return body, nil
	case resp.StatusCode == http.StatusBadRequest && isNotFound(resp, body):
		return nil, fmt.Errorf("worker %s: %w", path, ErrNotReady)
	}
	return nil, fmt.Errorf("worker %s: HTTP %s: %s", path, resp.Status, quoteReply(body))
}

// isNotFound recognises the worker's answer for an unregistered path:
// status 400 with reason "not found" (in the status line or the body).
func isNotFound(resp *http.Response, body []byte) bool {
	return strings.Contains(strings.ToLower(resp.Status), "not found") ||
		bytes.Contains(bytes.ToLower(body), []byte("not found"))
}

// unwrapURLError drops net/http's *url.Error wrapper, whose message
// repeats the URL the caller's error already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// quoteReply shortens a reply for an error message and keeps it printable.
func quoteReply(body []byte) string {
	const max = 200
	s := strings.TrimSpace(string(body))
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

// Stats fetches and parses /jsonstats (§6.3).
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	body, err := c.get(ctx, PathJSONStats, "")
	if err != nil {
		return Stats{}, err
	}
	s, err := ParseStats(body)
	if err != nil {
		return Stats{}, fmt.Errorf("worker %s: %w", PathJSONStats, err)
	}
	return s, nil
}

// RawStats fetches the human-readable /stats page (HTML).
func (c *Client) RawStats(ctx context.Context) ([]byte, error) {
	return c.get(ctx, PathStats, "")
}

// Perf fetches /perf, the actor scheduler statistics (text). It answers
// from process start, before the other endpoints exist.
func (c *Client) Perf(ctx context.Context) ([]byte, error) {
	return c.get(ctx, PathPerf, "")
}

// Enable clears the worker's force-disabled flag (§6.2). The flag is not
// persisted: a worker restart enables it again.
func (c *Client) Enable(ctx context.Context) error {
	return c.expect(ctx, PathEnable, "", "state updated")
}

// Disable sets the worker's force-disabled flag so proxies stop routing
// requests to it (§6.2). Not persisted across worker restarts.
func (c *Client) Disable(ctx context.Context) error {
	return c.expect(ctx, PathDisable, "", "state updated")
}

func (c *Client) expect(ctx context.Context, path, query, want string) error {
	body, err := c.get(ctx, path, query)
	if err != nil {
		return err
	}
	if !bytes.Contains(body, []byte(want)) {
		return fmt.Errorf("worker %s: %w: %s", path, ErrUnexpectedReply, quoteReply(body))
	}
	return nil
}

// Payout asks the worker to send a payout for the relationship with the
// proxy contract proxySCAddress (ProxyInfo.ProxySCAddress) from its cocoon
// wallet (§6.2, §8.4). The worker's refusals are ErrProxyNotFound,
// ErrPayoutRunning, ErrProxyNotInited and ErrProxyClosed.
func (c *Client) Payout(ctx context.Context, proxySCAddress string) error {
	if err := checkQueryValue(proxySCAddress); err != nil {
		return fmt.Errorf("worker %s: proxy address: %w", PathPayout, err)
	}
	body, err := c.get(ctx, PathPayout, "proxy="+proxySCAddress)
	if err != nil {
		return err
	}
	for _, r := range []struct {
		text string
		err  error
	}{
		{"request sent", nil},
		{"proxy not found", ErrProxyNotFound},
		{"request is already running", ErrPayoutRunning},
		{"proxy is not inited", ErrProxyNotInited},
		{"proxy is closed", ErrProxyClosed},
	} {
		if bytes.Contains(body, []byte(r.text)) {
			if r.err != nil {
				return fmt.Errorf("worker %s: %w", PathPayout, r.err)
			}
			return nil
		}
	}
	return fmt.Errorf("worker %s: %w: %s", PathPayout, ErrUnexpectedReply, quoteReply(body))
}

// checkQueryValue accepts what can go into the worker's query string
// unencoded (it does not URL-decode, §6.1): TON addresses in
// user-friendly (base64 or base64url) or raw (wc:hex) form.
func checkQueryValue(v string) error {
	if v == "" {
		return errors.New("empty")
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			continue
		}
		switch c {
		case '-', '_', '+', '/', ':':
			continue
		}
		return fmt.Errorf("character %q at byte %d cannot be sent: the worker does not URL-decode; use the address as /jsonstats prints it", rune(c), i)
	}
	return nil
}

// ChangeCoefficient sets the worker's price coefficient k (1000 = 1.0×,
// the unit of WORKER_COEFFICIENT and LocalConfig.Coefficient) until the
// worker restarts (§6.2, §8.2). The proxy accepts 0 ≤ k < 10^9.
//
// The worker parses the value as a double and stores int(value·1000),
// truncating, so the decimal k/1000 could arrive as k−1 (1.001·1000 is
// 1000.999… in binary floating point). The value is therefore sent as
// (k + 0.5)/1000, which truncates to exactly k.
func (c *Client) ChangeCoefficient(ctx context.Context, k int64) error {
	if k < 0 || k >= MaxWorkerCoefficient {
		return fmt.Errorf("worker %s: coefficient %d out of range 0 to %d (1000 = 1.0×)", PathChangeCoefficient, k, MaxWorkerCoefficient-1)
	}
	body, err := c.get(ctx, PathChangeCoefficient, "coefficient="+coefficientParam(k))
	if err != nil {
		return err
	}
	switch {
	case bytes.Contains(body, []byte("coefficient set to")):
		return nil
	case bytes.Contains(body, []byte("failed to parse")):
		return fmt.Errorf("worker %s: the worker could not parse the coefficient: %s", PathChangeCoefficient, quoteReply(body))
	}
	return fmt.Errorf("worker %s: %w: %s", PathChangeCoefficient, ErrUnexpectedReply, quoteReply(body))
}

// coefficientParam writes (k + 0.5)/1000 exactly in decimal: k/1000 with
// three decimals followed by "5".
func coefficientParam(k int64) string {
	return strconv.FormatInt(k/1000, 10) + "." + fmt.Sprintf("%03d", k%1000) + "5"
}
