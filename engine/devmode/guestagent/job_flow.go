package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// jobFlow is the worker side of the stand-in job flow: as the official
// worker connects to every proxy registered in the root contract, it
// keeps one connection loop per proxy address of the root file, serves
// the requests each proxy sends, and pays out (on /request/payout and
// automatically).
type jobFlow struct {
	state      *workerState
	log        *slog.Logger
	gen        generator
	certs      *certSource
	walletAddr string // the cocoon wallet address sent in Hello
	specDir    string // re-read for the root file
	now        func() time.Time

	backoffMin, backoffMax time.Duration // reconnect delays
	dialTimeout            time.Duration
	handshakeTimeout       time.Duration // TLS handshake plus Hello/Welcome
	writeTimeout           time.Duration // one frame
	rootRefresh            time.Duration // how often the root file is re-read (0: never)
	autoPayoutEvery        time.Duration // 0: no automatic payout
	autoPayoutTokens       int64
}

// Timing of the job flow. The backoff doubles from backoffMin to
// backoffMax; the root file is re-read as often as the official worker
// re-reads the root contract (every 30–60 s).
const (
	defaultBackoffMin       = 500 * time.Millisecond
	defaultBackoffMax       = 10 * time.Second
	defaultDialTimeout      = 5 * time.Second
	defaultHandshakeTimeout = 10 * time.Second
	defaultWriteTimeout     = 30 * time.Second
	defaultRootRefresh      = 30 * time.Second
	certMaxAge              = time.Hour // cocoon-cert-refresh renews hourly
)

// newJobFlow prepares the flow for the root file rf; start runs it.
func newJobFlow(state *workerState, rf standin.RootFile, gen generator, walletAddr, specDir string, log *slog.Logger) *jobFlow {
	return &jobFlow{
		state:            state,
		log:              log,
		gen:              gen,
		certs:            newCertSource(newFakeTDXCert, certMaxAge, time.Now),
		walletAddr:       walletAddr,
		specDir:          specDir,
		now:              time.Now,
		backoffMin:       defaultBackoffMin,
		backoffMax:       defaultBackoffMax,
		dialTimeout:      defaultDialTimeout,
		handshakeTimeout: defaultHandshakeTimeout,
		writeTimeout:     defaultWriteTimeout,
		rootRefresh:      defaultRootRefresh,
		autoPayoutEvery:  time.Duration(rf.AutoPayoutCheckSeconds) * time.Second,
		autoPayoutTokens: rf.AutoPayoutTokens,
	}
}

// start runs one connection loop per proxy address, the root refresh and
// the automatic payout, each until ctx ends; wg tracks them.
func (f *jobFlow) start(ctx context.Context, wg *sync.WaitGroup, addrs []string) {
	f.state.setConnections(addrs)
	for i, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.runLink(ctx, i, addr)
		}()
	}
	if f.rootRefresh > 0 && f.specDir != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.refreshRoot(ctx)
		}()
	}
	if f.autoPayoutEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.autoPayout(ctx)
		}()
	} else {
		f.log.Info("automatic payout off (auto_payout_check_seconds is 0)")
	}
}

// runLink keeps the connection to one proxy: connect, serve, and after
// any error reconnect with capped exponential backoff (jittered). It logs
// when the connection's state changes (connected, lost, a new reason for
// failing), not on every attempt.
func (f *jobFlow) runLink(ctx context.Context, i int, addr string) {
	delay := f.backoffMin
	failures := 0
	lastReason := ""
	for ctx.Err() == nil {
		ps, welcome, hello, err := f.connect(ctx, addr)
		if err == nil {
			f.log.Info("proxy connected", "proxy", addr, "proxy_sc", welcome.ProxySCAddress,
				"proxy_image_hash", ps.imageHash, "fake_tdx", ps.fakeTDX,
				"sc_inited", welcome.Payment.SCInited, "params_version", welcome.Payment.ParamsVersion, "after_failures", failures)
			f.state.sessionUp(i, ps, *welcome)
			f.catchUpParams(ps, hello)
			failures = 0
			since := time.Now()
			err = ps.serve()
			f.state.sessionDown(i, ps)
			if ctx.Err() != nil {
				return
			}
			f.log.Warn("proxy connection lost; reconnecting", "proxy", addr, "err", err)
			lastReason = ""
			// A proxy that drops every connection at once is retried
			// with growing delays too, not every backoffMin.
			if time.Since(since) >= f.backoffMax {
				delay = f.backoffMin
			}
		} else {
			if ctx.Err() != nil {
				return
			}
			failures++
			f.state.connectFailed(i, failures)
			if reason := err.Error(); reason != lastReason {
				f.log.Warn("cannot connect to proxy; retrying with backoff (logged again only if the reason changes)",
					"proxy", addr, "err", err, "attempt", failures, "max_delay", f.backoffMax.String())
				lastReason = reason
			}
		}
		wait := delay - rand.N(delay/5+1) // jitter: 80 % to 100 % of the delay
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		delay = min(2*delay, f.backoffMax)
	}
}

// catchUpParams tells a newly welcomed proxy about a params change that
// happened after its Hello was built (the change's own announcement did
// not reach it: it was not registered yet).
func (f *jobFlow) catchUpParams(ps *proxySession, hello standin.Hello) {
	f.state.paramsMu.Lock()
	defer f.state.paramsMu.Unlock()
	p := f.state.params()
	if p.Enabled == hello.Enabled && p.Coefficient == hello.Coefficient {
		return
	}
	if err := ps.send(&standin.Message{Type: standin.TypeParams, Params: &p}); err != nil {
		f.log.Warn("could not tell a proxy about new params; it gets them on reconnect", "proxy", ps.addr, "err", err)
	}
}

// connect dials the proxy, runs RA-TLS (a fake-TDX certificate; the
// proxy's hash must be in the root's proxy_hashes when that list is set),
// sends Hello and waits for Welcome. The session is not serving yet.
func (f *jobFlow) connect(ctx context.Context, addr string) (*proxySession, *standin.Welcome, standin.Hello, error) {
	var hello standin.Hello
	cert, err := f.certs.get()
	if err != nil {
		return nil, nil, hello, fmt.Errorf("make the RA-TLS certificate: %w", err)
	}
	root := f.state.rootConfig()
	v := &attest.Verifier{AllowFake: true}
	for _, h := range root.ProxyHashes {
		v.AllowedImageHashes = append(v.AllowedImageHashes, [32]byte(h))
	}
	d := net.Dialer{Timeout: f.dialTimeout, KeepAlive: 15 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, hello, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = raw.Close()
		}
	}()
	hctx, cancel := context.WithTimeout(ctx, f.handshakeTimeout)
	defer cancel()
	tc := tls.Client(raw, attest.ClientConfig(cert, v))
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, nil, hello, fmt.Errorf("RA-TLS handshake: %w", err)
	}
	peer, err := attest.PeerFromConn(tc.ConnectionState(), v)
	if err != nil {
		return nil, nil, hello, fmt.Errorf("RA-TLS: proxy not accepted: %w", err)
	}
	deadline, _ := hctx.Deadline()
	_ = tc.SetDeadline(deadline)
	conn := standin.NewConn(tc)
	hello = f.state.hello(f.walletAddr)
	if err := conn.Send(&standin.Message{Type: standin.TypeHello, Hello: &hello}); err != nil {
		return nil, nil, hello, fmt.Errorf("send hello: %w", err)
	}
	m, err := conn.Recv()
	if err != nil {
		return nil, nil, hello, fmt.Errorf("wait for welcome: %w", err)
	}
	if m.Type != standin.TypeWelcome || m.Welcome == nil {
		return nil, nil, hello, fmt.Errorf("protocol error: the proxy answered hello with %q, not %q", m.Type, standin.TypeWelcome)
	}
	if m.Welcome.ProxySCAddress == "" {
		return nil, nil, hello, errors.New("protocol error: welcome without a proxy_sc_address")
	}
	_ = tc.SetDeadline(time.Time{})
	sctx, scancel := context.WithCancelCause(ctx)
	ps := &proxySession{
		addr:         addr,
		proxySC:      m.Welcome.ProxySCAddress,
		imageHash:    worker.Hash(peer.ImageHash).String(),
		fakeTDX:      peer.Fake,
		raw:          tc,
		conn:         conn,
		state:        f.state,
		gen:          f.gen,
		log:          f.log,
		now:          f.now,
		writeTimeout: f.writeTimeout,
		ctx:          sctx,
		cancel:       scancel,
		running:      map[uint64]context.CancelCauseFunc{},
	}
	ok = true
	return ps, m.Welcome, hello, nil
}

// refreshRoot re-reads the root file, as the official worker re-reads
// the root contract: prices, hashes and params_version follow it, and
// ton_last_synced_at says when it was last read. Proxy addresses are
// taken at start only.
func (f *jobFlow) refreshRoot(ctx context.Context) {
	t := time.NewTicker(f.rootRefresh)
	defer t.Stop()
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rf, err := standin.ReadRoot(f.specDir)
		if err != nil {
			if err.Error() != lastErr {
				f.log.Warn("root file unreadable; keeping the last one", "err", err)
				lastErr = err.Error()
			}
			continue
		}
		if lastErr != "" {
			f.log.Info("root file readable again")
			lastErr = ""
		}
		f.state.setRoot(rf.Config, f.now())
	}
}

// autoPayout pays out, every check interval, each relationship whose
// claimable tokens reached the root file's threshold (the official
// worker's automatic payout, in miniature).
func (f *jobFlow) autoPayout(ctx context.Context) {
	t := time.NewTicker(f.autoPayoutEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, proxy := range f.state.autoPayoutCandidates(f.autoPayoutTokens) {
			if r := f.state.RequestPayout(proxy, "automatic"); r != payoutSent {
				f.log.Info("automatic payout not sent", "proxy_sc", proxy, "reply", r)
			}
		}
	}
}

// certSource hands out the worker's RA-TLS certificate, making a fresh
// one when the current one is older than maxAge (cocoon-cert-refresh
// renews hourly; certificates are valid for a day).
type certSource struct {
	mu     sync.Mutex
	mint   func() (tls.Certificate, error)
	maxAge time.Duration
	now    func() time.Time
	cert   tls.Certificate
	madeAt time.Time
	have   bool
}

func newCertSource(mint func() (tls.Certificate, error), maxAge time.Duration, now func() time.Time) *certSource {
	return &certSource{mint: mint, maxAge: maxAge, now: now}
}

func (c *certSource) get() (tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.have && now.Sub(c.madeAt) < c.maxAge {
		return c.cert, nil
	}
	cert, err := c.mint()
	if err != nil {
		return tls.Certificate{}, err
	}
	c.cert, c.madeAt, c.have = cert, now, true
	return cert, nil
}

// newFakeTDXCert makes a fake-TDX RA-TLS certificate: the stand-in has no
// TDX, so its quote is the fake one and its image hash fakeTDXImageHash.
func newFakeTDXCert() (tls.Certificate, error) {
	return attest.NewCertificate(attest.FakeTDX{}, attest.CertOptions{})
}
