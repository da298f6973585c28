package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/diag"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
)

const (
	// stateTimeout bounds the fetch State does when it has nothing fresh.
	stateTimeout = 3 * time.Second
	// stateRetry is how long State answers from memory after a fetch
	// failed, so a caller on the UI thread does not wait again and again.
	stateRetry = 2 * time.Second
	// dialTimeout bounds Dial's version check when ctx has no deadline.
	dialTimeout = 15 * time.Second
	// maxAnswer is the largest JSON answer the client reads.
	maxAnswer = 64 << 20
	// tokenHint says where the token comes from.
	tokenHint = "copy it again from <data directory>/api-token on the worker host (by default ~/.local/share/cocoon-provider/api-token)"
)

// Client implements engine.API over the HTTP API of a worker host.
//
// State answers from memory while an event stream (Subscribe) is
// connected, and fetches the state otherwise. While the host cannot be
// reached it returns the last state it saw with StoreError saying so
// ("remote host unreachable: …"); methods then fail with errors wrapping
// ErrUnreachable.
type Client struct {
	target  string
	base    string
	token   string
	hc      *http.Client
	tr      *http.Transport
	version string

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // Subscribe loops

	// local: the target is a unix socket, the only transport wallet setup
	// (secrets) goes over.
	local bool

	mu        sync.Mutex
	closed    bool
	last      engine.State
	have      bool
	live      int       // connected event streams
	following int       // running Subscribe loops
	downErr   error     // why the host could not be reached last; nil once it answered
	failedAt  time.Time // when a State fetch failed last

	// Timings; tests shorten them.
	stateTimeout, stateRetry time.Duration
	idleTimeout              time.Duration // an event stream silent this long is dead
	backoffMin, backoffMax   time.Duration
}

var _ engine.API = (*Client)(nil)

// Dial connects to a worker host's API: "unix:///path/api.sock",
// "http://127.0.0.1:9311" (loopback only, e.g. through an SSH tunnel) or
// "https://host:9311". For https, fingerprint (the hex SHA-256 of the
// server's certificate, colons allowed) is required and pinned: no CA
// verifies the certificate. Dial checks that the server answers GET
// /v1/version with the token.
func Dial(ctx context.Context, target, token, fingerprint string) (*Client, error) {
	token = strings.TrimSpace(token)
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("worker host address %q: use unix:///path/api.sock, http://127.0.0.1:9311 or https://HOST:9311", target)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 4,
		ForceAttemptHTTP2:   true,
	}
	var base string
	switch u.Scheme {
	case "unix":
		path := u.Path
		if u.Host != "" || path == "" {
			return nil, fmt.Errorf("worker host address %q: write a socket as unix:///absolute/path/api.sock", target)
		}
		if fingerprint != "" {
			return nil, errors.New("a certificate fingerprint applies to https addresses only")
		}
		tr.Proxy = nil
		tr.DisableCompression = true // nothing to gain on this machine
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", path)
		}
		base = "http://cocoon-provider"
	case "http":
		if u.Host == "" {
			return nil, fmt.Errorf("worker host address %q has no host", target)
		}
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("worker host address %q: plain http is for loopback addresses only (e.g. an SSH tunnel); use https://%s with the certificate fingerprint", target, u.Host)
		}
		if fingerprint != "" {
			return nil, errors.New("a certificate fingerprint applies to https addresses only")
		}
		base = "http://" + u.Host
	case "https":
		if u.Host == "" {
			return nil, fmt.Errorf("worker host address %q has no host", target)
		}
		want, err := normaliseFingerprint(fingerprint)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = &tls.Config{
			MinVersion: tls.VersionTLS13,
			// The certificate is self-signed: it is checked against the
			// pinned fingerprint below instead of a CA.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return &FingerprintError{Want: want}
				}
				sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
				if got := hex.EncodeToString(sum[:]); got != want {
					return &FingerprintError{Want: want, Got: got}
				}
				return nil
			},
		}
		base = "https://" + u.Host
	default:
		return nil, fmt.Errorf("worker host address %q: unknown scheme %q; use unix://, http:// or https://", target, u.Scheme)
	}
	if u.Scheme != "unix" {
		if p := u.Path; p != "" && p != "/" {
			return nil, fmt.Errorf("worker host address %q: leave out the path %q", target, p)
		}
		if token == "" {
			return nil, errors.New("a token is required: " + tokenHint)
		}
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		target: target, base: base, token: token, tr: tr,
		// The API never redirects; following one could take the token elsewhere.
		hc:  &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		ctx: cctx, cancel: cancel, local: u.Scheme == "unix",
		stateTimeout: stateTimeout, stateRetry: stateRetry, idleTimeout: 3 * keepAliveInterval,
		backoffMin: 250 * time.Millisecond, backoffMax: 4 * time.Second,
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dialTimeout)
		defer cancel()
	}
	var v wireVersion
	if err := c.getJSON(ctx, "/v1/version", &v); err != nil {
		c.Close()
		return nil, c.dialError(err)
	}
	if v.API != apiName {
		c.Close()
		return nil, fmt.Errorf("%s is not a Cocoon Provider API (it answers as %q)", target, v.API)
	}
	c.version = v.Version
	return c, nil
}

// dialError explains why Dial failed.
func (c *Client) dialError(err error) error {
	var ae *Error
	var fe *FingerprintError
	var ne *notAPIError
	switch {
	case errors.As(err, &fe):
		return err
	case errors.As(err, &ae) && ae.Code == codeUnauthorized:
		return fmt.Errorf("%w: %s", ErrTokenRefused, tokenHint)
	case errors.As(err, &ae), errors.As(err, &ne):
		return fmt.Errorf("%s is not a Cocoon Provider API: %w", c.target, err)
	}
	var ue *unreachableError
	if errors.As(err, &ue) {
		return &explained{msg: fmt.Sprintf("cannot reach the worker host at %s: %v", c.target, ue.cause), err: err}
	}
	return fmt.Errorf("connect to the worker host at %s: %w", c.target, err)
}

// normaliseFingerprint accepts hex with or without colons (or spaces),
// in either case, with an optional "sha256:" prefix.
func normaliseFingerprint(fp string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(fp))
	s = strings.TrimPrefix(s, "sha256:")
	s = strings.NewReplacer(":", "", " ", "", "-", "").Replace(s)
	if s == "" {
		return "", errors.New("an https address needs the SHA-256 fingerprint of the worker host's API certificate; the worker host prints it")
	}
	if b, err := hex.DecodeString(s); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("certificate fingerprint %q is not a SHA-256 fingerprint (64 hex digits, colons allowed)", fp)
	}
	return s, nil
}

// FingerprintError says the server's certificate is not the pinned one.
type FingerprintError struct {
	Want, Got string
}

func (e *FingerprintError) Error() string {
	if e.Got == "" {
		return "the worker host sent no certificate; expected fingerprint " + e.Want
	}
	return fmt.Sprintf("the worker host's certificate has fingerprint %s, not the expected %s: if the host made a new certificate, get its new fingerprint; otherwise something is intercepting the connection", e.Got, e.Want)
}

// explained is err with a message of its own.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// notAPIError is an answer that is not this API's.
type notAPIError struct {
	status  int
	snippet string
}

func (e *notAPIError) Error() string {
	if e.snippet == "" {
		return fmt.Sprintf("unexpected answer (HTTP %d)", e.status)
	}
	return fmt.Sprintf("unexpected answer (HTTP %d): %q", e.status, e.snippet)
}

// unreachableError is a request that got no answer.
type unreachableError struct{ cause error }

func (e *unreachableError) Error() string   { return ErrUnreachable.Error() + ": " + e.cause.Error() }
func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.cause} }

// ServerVersion is the version the server reported at Dial.
func (c *Client) ServerVersion() string { return c.version }

// Close ends every Subscribe stream (their channels close) and releases
// the connections. Calls after Close fail.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.tr.CloseIdleConnections()
	return nil
}

var errClosed = errors.New("the connection to the worker host was closed")

// do sends a request; an answer other than 2xx is an error (*Error when
// it is the API's).
func (c *Client) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	if c.ctx.Err() != nil {
		return nil, errClosed
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, answerError(resp)
	}
	return resp, nil
}

// transportError classifies a request that got no answer.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("worker host: %w", ctx.Err())
	}
	if c.ctx.Err() != nil {
		return errClosed
	}
	var fe *FingerprintError
	if errors.As(err, &fe) {
		return fe
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &unreachableError{cause: err}
}

// answerError reads an error answer.
func answerError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb errorBody
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && json.Unmarshal(b, &eb) == nil && eb.Error != "" {
		e := eb.wireError.err().(*Error)
		e.Status = resp.StatusCode
		e.results = engineResults(eb.Results)
		return e
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return &notAPIError{status: resp.StatusCode, snippet: s}
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	resp, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	return c.decode(ctx, resp, out)
}

func (c *Client) postJSON(ctx context.Context, path string, in, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = b
	}
	resp, err := c.do(ctx, http.MethodPost, path, body)
	if err != nil {
		return err
	}
	return c.decode(ctx, resp, out)
}

func (c *Client) decode(ctx context.Context, resp *http.Response, out any) error {
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(out); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("worker host: %w", ctx.Err())
		}
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		if errors.As(err, &se) || errors.As(err, &te) {
			return &notAPIError{status: resp.StatusCode, snippet: "undecodable answer: " + err.Error()}
		}
		return &unreachableError{cause: err}
	}
	return nil
}

// State implements engine.API. While an event stream is connected it is
// the last state the stream delivered; otherwise it fetches the state,
// waiting at most a few seconds. When the host cannot be reached it is
// the last state seen (zero before any) with StoreError saying so.
func (c *Client) State() engine.State {
	c.mu.Lock()
	if c.have && c.live > 0 {
		st := c.last
		c.mu.Unlock()
		return st
	}
	if c.downErr != nil && (c.following > 0 || time.Since(c.failedAt) < c.stateRetry) {
		// A Subscribe loop is reconnecting, or a fetch just failed.
		st := c.unreachableLocked()
		c.mu.Unlock()
		return st
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, c.stateTimeout)
	defer cancel()
	var w wireState
	err := c.getJSON(ctx, "/v1/state", &w)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = &unreachableError{cause: fmt.Errorf("no answer within %s", c.stateTimeout)}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.downErr, c.failedAt = err, time.Now()
		return c.unreachableLocked()
	}
	st := w.engine()
	c.setState(st, true)
	return st
}

// unreachableLocked is the last state seen, marked unreachable.
func (c *Client) unreachableLocked() engine.State {
	st := c.last
	st.StoreError = unreachableText(c.downErr)
	return st
}

func unreachableText(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, ErrUnreachable) {
		return err.Error()
	}
	return ErrUnreachable.Error() + ": " + err.Error()
}

// setState remembers st; unless force, an older state (by Updated) does
// not replace a newer one, so a late event cannot undo an action's answer.
func (c *Client) setState(st engine.State, force bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.downErr = nil
	if !force && c.have && st.Updated.Before(c.last.Updated) {
		return
	}
	c.last, c.have = st, true
}

// Check implements engine.API.
func (c *Client) Check(ctx context.Context) (hostcheck.Report, error) {
	var a checkAnswer
	if err := c.postJSON(ctx, "/v1/check", nil, &a); err != nil {
		return hostcheck.Report{}, err
	}
	c.setState(a.State.engine(), false)
	return a.Report, nil
}

// GPUs implements engine.API.
func (c *Client) GPUs(ctx context.Context) (gpu.Inventory, error) {
	var w wireInventory
	if err := c.getJSON(ctx, "/v1/gpus", &w); err != nil {
		return gpu.Inventory{}, err
	}
	return w.engine(), nil
}

// StartDev implements engine.API.
func (c *Client) StartDev(ctx context.Context) error { return c.act(ctx, "/v1/dev/start", nil) }

// StopDev implements engine.API.
func (c *Client) StopDev(ctx context.Context) error { return c.act(ctx, "/v1/dev/stop", nil) }

// SetPause implements engine.API.
func (c *Client) SetPause(ctx context.Context, p *engine.Pause) error {
	body, err := json.Marshal(p) // nil is null: resume
	if err != nil {
		return err
	}
	return c.act(ctx, "/v1/pause", json.RawMessage(body))
}

// Settings implements engine.API.
func (c *Client) Settings(ctx context.Context) (engine.Settings, error) {
	var ws wireSettings
	if err := c.getJSON(ctx, "/v1/settings", &ws); err != nil {
		return engine.Settings{}, err
	}
	return ws.engine(), nil
}

// SetSettings implements engine.API.
func (c *Client) SetSettings(ctx context.Context, s engine.Settings) error {
	body, err := json.Marshal(toWireSettings(s))
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPut, "/v1/settings", body)
	if err != nil {
		return err
	}
	return c.decode(ctx, resp, nil)
}

// Wallet implements engine.API.
func (c *Client) Wallet(ctx context.Context) (engine.WalletInfo, error) {
	var w wireWalletInfo
	if err := c.getJSON(ctx, "/v1/wallet", &w); err != nil {
		return engine.WalletInfo{}, err
	}
	return w.engine(), nil
}

// WalletSetup implements engine.API. The server answers it on its unix
// socket only; over TCP it fails with ErrLocalOnly, and the secrets are
// not sent.
func (c *Client) WalletSetup(ctx context.Context, req engine.WalletSetupRequest) (engine.WalletSetupResult, error) {
	if !c.local {
		return engine.WalletSetupResult{}, &Error{Message: ErrLocalOnly.Error(), Code: "local_only", sentinel: ErrLocalOnly}
	}
	body, err := json.Marshal(toWireWalletSetup(req))
	if err != nil {
		return engine.WalletSetupResult{}, err
	}
	defer clear(body)
	resp, err := c.do(ctx, http.MethodPost, "/v1/wallet/setup", body)
	if err != nil {
		return engine.WalletSetupResult{}, err
	}
	var w wireWalletSetupResult
	if err := c.decode(ctx, resp, &w); err != nil {
		return engine.WalletSetupResult{}, err
	}
	return w.engine(), nil
}

// SetTelegramToken implements engine.API. The server takes the token on
// its unix socket only; over TCP it fails with ErrSecretLocalOnly, and the
// token is not sent.
func (c *Client) SetTelegramToken(ctx context.Context, token string) error {
	if !c.local {
		return &Error{Message: ErrSecretLocalOnly.Error(), Code: "secret_local_only", sentinel: ErrSecretLocalOnly}
	}
	body, err := json.Marshal(wireTelegramToken{Token: token})
	if err != nil {
		return err
	}
	defer clear(body)
	resp, err := c.do(ctx, http.MethodPut, "/v1/telegram/token", body)
	if err != nil {
		return err
	}
	return c.decode(ctx, resp, nil)
}

// TestTelegram implements engine.API.
func (c *Client) TestTelegram(ctx context.Context) error {
	return c.act(ctx, "/v1/telegram/test", nil)
}

func (c *Client) act(ctx context.Context, path string, in any) error {
	var a stateAnswer
	if err := c.postJSON(ctx, path, in, &a); err != nil {
		return err
	}
	c.setState(a.State.engine(), false)
	return nil
}

// Payout implements engine.API. A failed payout returns the results the
// server had with the error.
func (c *Client) Payout(ctx context.Context) ([]engine.TargetResult, error) {
	var a payoutAnswer
	if err := c.postJSON(ctx, "/v1/payout", nil, &a); err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return ae.results, err
		}
		return nil, err
	}
	c.setState(a.State.engine(), false)
	return engineResults(a.Results), nil
}

// EarningsSeries implements engine.API.
func (c *Client) EarningsSeries(ctx context.Context, since time.Time, bucket time.Duration) ([]engine.EarningsBucket, error) {
	q := url.Values{"since": {since.Format(time.RFC3339Nano)}, "bucket": {bucket.String()}}
	var ws []wireBucket
	if err := c.getJSON(ctx, "/v1/earnings/series?"+q.Encode(), &ws); err != nil {
		return nil, err
	}
	return engineBuckets(ws), nil
}

// GPUSeries implements engine.API.
func (c *Client) GPUSeries(ctx context.Context, q engine.GPUSeriesQuery) ([]engine.GPUPoint, error) {
	v := url.Values{"gpu": {q.GPUKey}, "since": {q.Since.Format(time.RFC3339Nano)}}
	if q.Resolution != 0 {
		v.Set("resolution", q.Resolution.String())
	}
	var w wireGPUSeries
	if err := c.getJSON(ctx, "/v1/gpus/series?"+v.Encode(), &w); err != nil {
		return nil, err
	}
	return w.engine()
}

// ActivitySeries implements engine.API.
func (c *Client) ActivitySeries(ctx context.Context, instance int, since time.Time, bucket time.Duration) ([]engine.ActivityPoint, error) {
	v := url.Values{"instance": {strconv.Itoa(instance)}, "since": {since.Format(time.RFC3339Nano)}}
	if bucket != 0 {
		v.Set("bucket", bucket.String())
	}
	var w wireActivitySeries
	if err := c.getJSON(ctx, "/v1/activity/series?"+v.Encode(), &w); err != nil {
		return nil, err
	}
	return w.engine()
}

// ExportLedgerCSV implements engine.API: the CSV is copied to w as it
// arrives. A download that breaks off is an error, never a short file
// reported as complete.
func (c *Client) ExportLedgerCSV(ctx context.Context, w io.Writer, since time.Time) error {
	q := url.Values{"since": {since.Format(time.RFC3339Nano)}}
	resp, err := c.do(ctx, http.MethodGet, "/v1/ledger.csv?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("ledger export: %w", ctx.Err())
		}
		return fmt.Errorf("ledger export broke off: %w", err)
	}
	return nil
}

// Logs implements engine.API.
func (c *Client) Logs(ctx context.Context, q engine.LogQuery) (engine.LogPage, error) {
	v := url.Values{}
	if q.Source != "" {
		v.Set("source", string(q.Source))
	}
	if q.Instance != 0 {
		v.Set("instance", strconv.Itoa(q.Instance))
	}
	if q.Contains != "" {
		v.Set("contains", q.Contains)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := "/v1/logs"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var w wireLogPage
	if err := c.getJSON(ctx, path, &w); err != nil {
		return engine.LogPage{}, err
	}
	return w.engine(), nil
}

// DiagBundle implements engine.API: the host writes the bundle (from its
// own data directory) and sends it whole; it is copied to w as it
// arrives. Nothing is written to w unless the host sent a bundle, and a
// download that breaks off is an error.
func (c *Client) DiagBundle(ctx context.Context, w io.Writer, includeAddresses bool) (diag.Manifest, error) {
	resp, err := c.do(ctx, http.MethodPost, "/v1/diag?include_addresses="+strconv.FormatBool(includeAddresses), nil)
	if err != nil {
		return diag.Manifest{}, err
	}
	defer resp.Body.Close()
	m, err := decodeManifest(resp.Header.Get(diagManifestHeader))
	if err != nil {
		return diag.Manifest{}, &notAPIError{status: resp.StatusCode, snippet: "diagnostic bundle: " + err.Error()}
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxBundle+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return diag.Manifest{}, fmt.Errorf("diagnostic bundle: %w", ctx.Err())
	case err != nil:
		return diag.Manifest{}, fmt.Errorf("the diagnostic bundle download broke off: %w", err)
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		return diag.Manifest{}, fmt.Errorf("the diagnostic bundle download broke off after %d of %d bytes", n, resp.ContentLength)
	case n > maxBundle:
		return diag.Manifest{}, errBundleTooLarge
	}
	return m, nil
}

// Show asks the app serving the API to show its window.
func (c *Client) Show(ctx context.Context) error {
	resp, err := c.do(ctx, http.MethodPost, "/v1/show", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
