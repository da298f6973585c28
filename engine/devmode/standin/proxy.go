package standin

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// Proxy defaults and protocol timings.
const (
	DefaultCommitInterval           = 2 * time.Second
	DefaultBlockchainCommitInterval = 10 * time.Second
	DefaultWorkerTimeout            = 30 * time.Second

	handshakeTimeout = 10 * time.Second // TLS handshake plus the Hello frame
	writeTimeout     = 30 * time.Second // one frame to a worker
	sendQueue        = 1024             // frames queued for one worker
	shutdownTimeout  = 5 * time.Second  // for HTTP handlers after Run's ctx ended
)

// Money the stand-in proxy moves, in nanoTON (interface spec §8.5).
const (
	walletMinBalance = 2_100_000_000   // a worker does not start below 2.1 TON
	faucetAmount     = 10 * nanoPerTON // dev faucet top-up of a cocoon wallet
	deployAmount     = 300_000_000     // worker contract deployment
	payoutAttached   = 500_000_000     // attached to a worker-initiated payout
	payoutGasFee     = 6_000_000       // what the payout costs net, the excess returned
	proxyReserve     = 100 * nanoPerTON
)

// ProxyConfig configures a stand-in proxy.
type ProxyConfig struct {
	// WorkerListen is the RA-TLS port workers dial, e.g.
	// "127.0.0.1:11001" (":0" picks a free port).
	WorkerListen string
	// ClientListen is the OpenAI-compatible HTTP port, e.g.
	// "127.0.0.1:11002".
	ClientListen string
	// Root is the stand-in root contract: prices and multipliers.
	Root worker.RootContractConfig
	// Chain is where deployments and payouts are booked.
	Chain Chain
	// StatePath is the proxy DB: a JSON file (mode 0600, written
	// atomically) with every relationship's counters. "" keeps them in
	// memory only.
	StatePath string
	// CommitInterval moves committed_to_db up to max_known (default 2 s).
	CommitInterval time.Duration
	// BlockchainCommitInterval moves committed_to_blockchain up to
	// committed_to_db (default 10 s).
	BlockchainCommitInterval time.Duration
	// WorkerTimeout fails a request when its worker sends nothing for
	// this long (default 30 s).
	WorkerTimeout time.Duration
	// Certificate and Verifier are the proxy's RA-TLS identity and the
	// check on workers' certificates (mutual TLS 1.3, attest.ServerConfig).
	Certificate tls.Certificate
	Verifier    *attest.Verifier
	// Logger receives counts, sizes and timings, never job content; nil
	// discards.
	Logger *slog.Logger
	// Now is the clock for timestamps and durations; nil means time.Now.
	Now func() time.Time
}

// Proxy is the stand-in proxy: it accepts workers on one port and
// OpenAI-style chat completions on another, routes each request to a
// worker, and keeps every worker relationship's settlement counters.
type Proxy struct {
	cfg     ProxyConfig
	log     *slog.Logger
	now     func() time.Time
	mult    worker.Multipliers
	address string      // the proxy contract
	pubKey  worker.Hash // Welcome.ProxyPublicKey
	tlsCfg  *tls.Config

	workerLn, clientLn net.Listener
	clientURL          string

	started   atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}   // closed by Close
	runCtx    context.Context // Run's context, set before serving
	wg        sync.WaitGroup

	// mu guards the connected workers and their routing figures
	// (workerSession fields marked "p.mu") and the totals.
	mu       sync.Mutex
	sessions []*workerSession
	nextID   uint64 // request IDs
	nextConn uint64 // worker connection IDs
	totals   Totals

	// stMu guards the relationships (ledger.go); hsMu serializes the
	// handshakes' chain work (faucet, deployment).
	stMu        sync.Mutex
	rels        map[relKey]*relationship
	saveFailing bool // the last DB write failed
	hsMu        sync.Mutex
}

// NewProxy checks cfg, loads the proxy DB and opens both listeners, so
// WorkerAddr and ClientURL are known at once. Run serves them; Close
// releases them if Run is never called.
func NewProxy(cfg ProxyConfig) (*Proxy, error) {
	if cfg.Chain == nil {
		return nil, errors.New("stand-in proxy: no chain configured")
	}
	if len(cfg.Certificate.Certificate) == 0 {
		return nil, errors.New("stand-in proxy: no RA-TLS certificate (make one with attest.NewCertificate)")
	}
	if cfg.Root.WorkerFeePerToken < 0 || cfg.Root.PricePerToken < cfg.Root.WorkerFeePerToken {
		return nil, fmt.Errorf("stand-in proxy: root fees: worker_fee_per_token %d must be 0..price_per_token %d",
			cfg.Root.WorkerFeePerToken, cfg.Root.PricePerToken)
	}
	for name, d := range map[string]time.Duration{"commit interval": cfg.CommitInterval,
		"blockchain commit interval": cfg.BlockchainCommitInterval, "worker timeout": cfg.WorkerTimeout} {
		if d < 0 {
			return nil, fmt.Errorf("stand-in proxy: %s %s must not be negative", name, d)
		}
	}
	if cfg.CommitInterval == 0 {
		cfg.CommitInterval = DefaultCommitInterval
	}
	if cfg.BlockchainCommitInterval == 0 {
		cfg.BlockchainCommitInterval = DefaultBlockchainCommitInterval
	}
	if cfg.WorkerTimeout == 0 {
		cfg.WorkerTimeout = DefaultWorkerTimeout
	}
	p := &Proxy{
		cfg:     cfg,
		log:     cfg.Logger,
		now:     cfg.Now,
		mult:    cfg.Root.Multipliers(),
		address: DevAddress("cocoon-provider stand-in proxy contract"),
		tlsCfg:  attest.ServerConfig(cfg.Certificate, cfg.Verifier),
		stop:    make(chan struct{}),
		rels:    map[relKey]*relationship{},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if pub, ok := cfg.Certificate.PrivateKey.(ed25519.PrivateKey); ok {
		copy(p.pubKey[:], pub.Public().(ed25519.PublicKey))
	} else {
		p.pubKey = sha256.Sum256([]byte(p.address))
	}
	if err := p.loadState(); err != nil {
		return nil, err
	}
	var err error
	if p.workerLn, err = listen("worker", cfg.WorkerListen); err != nil {
		return nil, err
	}
	if p.clientLn, err = listen("client", cfg.ClientListen); err != nil {
		_ = p.workerLn.Close()
		return nil, err
	}
	p.clientURL = "http://" + loopbackFor(p.clientLn.Addr())
	return p, nil
}

// listen opens one of the proxy's ports with an error that names it.
func listen(what, addr string) (net.Listener, error) {
	if addr == "" {
		return nil, fmt.Errorf("stand-in proxy: no %s listen address (e.g. 127.0.0.1:0)", what)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_, port, _ := net.SplitHostPort(addr)
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("stand-in proxy: %s port %s (%s) is already in use: stop the program holding it or choose another port: %w",
				what, port, addr, err)
		}
		return nil, fmt.Errorf("stand-in proxy: listen on %s port %s (%s): %w", what, port, addr, err)
	}
	return ln, nil
}

// loopbackFor is host:port of a listener, with an unspecified host
// replaced by the loopback address.
func loopbackFor(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := ta.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(ta.Port))
}

// WorkerAddr is the address the worker port listens on.
func (p *Proxy) WorkerAddr() string { return p.workerLn.Addr().String() }

// ClientURL is the base URL of the OpenAI-compatible endpoint, without
// "/v1" (e.g. "http://127.0.0.1:11002").
func (p *Proxy) ClientURL() string { return p.clientURL }

// Address is the stand-in proxy contract's address.
func (p *Proxy) Address() string { return p.address }

// Close stops a running Run, or releases the listeners of a proxy that
// was never run. It does not wait; Run returns when everything ended.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		close(p.stop)
		if !p.started.Load() {
			_ = p.workerLn.Close()
			_ = p.clientLn.Close()
		}
	})
	return nil
}

// Run serves workers and clients until ctx ends or Close is called, then
// closes the listeners and every connection, waits for all of its
// goroutines and returns. A proxy runs once.
func (p *Proxy) Run(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("stand-in proxy: Run called twice")
	}
	select {
	case <-p.stop:
		_ = p.workerLn.Close()
		_ = p.clientLn.Close()
		return errors.New("stand-in proxy: closed before it ran")
	default:
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	p.runCtx = ctx
	srv := &http.Server{
		Handler:           p.clientHandler(),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	var loops, handlers sync.WaitGroup
	loops.Go(func() {
		select {
		case <-p.stop:
			cancel(errors.New("stand-in proxy closed"))
		case <-ctx.Done():
		}
	})
	h := srv.Handler
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		h.ServeHTTP(w, r)
	})
	var fatal error
	var fatalMu sync.Mutex
	fail := func(err error) {
		fatalMu.Lock()
		if fatal == nil {
			fatal = err
		}
		fatalMu.Unlock()
		cancel(err)
	}
	loops.Go(func() {
		if err := srv.Serve(p.clientLn); err != nil && !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
			fail(fmt.Errorf("stand-in proxy: client port: %w", err))
		}
	})
	loops.Go(func() {
		if err := p.acceptWorkers(ctx); err != nil {
			fail(err)
		}
	})
	loops.Go(func() { p.commitLoop(ctx) })
	p.log.Info("stand-in proxy running", "worker_addr", p.WorkerAddr(), "client_url", p.clientURL,
		"proxy_sc", p.address, "commit_interval", p.cfg.CommitInterval.String(),
		"blockchain_commit_interval", p.cfg.BlockchainCommitInterval.String())

	<-ctx.Done()
	_ = p.workerLn.Close()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	scancel()
	loops.Wait()
	handlers.Wait()
	p.wg.Wait() // worker connections and payouts
	p.log.Info("stand-in proxy stopped")
	return fatal
}

// stopping reports whether Run is shutting down.
func (p *Proxy) stopping() bool {
	return p.runCtx != nil && p.runCtx.Err() != nil
}

// acceptWorkers accepts worker connections until the listener closes.
func (p *Proxy) acceptWorkers(ctx context.Context) error {
	delay := 5 * time.Millisecond
	for {
		raw, err := p.workerLn.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: back off and retry.
			p.log.Warn("accepting a worker connection failed; retrying", "error", err, "delay", delay.String())
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		p.wg.Go(func() { p.serveWorker(ctx, raw) })
	}
}

// commitLoop moves the counters up one tier at a time: max_known →
// committed_to_db every CommitInterval, committed_to_db →
// committed_to_blockchain every BlockchainCommitInterval.
func (p *Proxy) commitLoop(ctx context.Context) {
	db := time.NewTicker(p.cfg.CommitInterval)
	defer db.Stop()
	bc := time.NewTicker(p.cfg.BlockchainCommitInterval)
	defer bc.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-db.C:
			p.commitDB()
		case <-bc.C:
			p.commitBlockchain()
			p.refreshWallets(ctx)
		}
	}
}

// Totals are the proxy's figures since it started, plus the sums of the
// relationships' counters.
type Totals struct {
	Requests       int64 `json:"requests"`        // valid client requests
	Succeeded      int64 `json:"succeeded"`       // answered in full
	Failed         int64 `json:"failed"`          // failed after routing
	Unrouted       int64 `json:"unrouted"`        // no worker available (HTTP 503)
	Mismatches     int64 `json:"mismatches"`      // Done with wrong adjusted tokens: nothing credited
	CreditedTokens int64 `json:"credited_tokens"` // adjusted tokens credited since start
	Running        int   `json:"running"`         // requests in flight now

	MaxKnown              int64 `json:"max_known"`
	CommittedToDB         int64 `json:"committed_to_db"`
	CommittedToBlockchain int64 `json:"committed_to_blockchain"`
	Paid                  int64 `json:"paid"`
}

// WorkerSnapshot is one connected worker.
type WorkerSnapshot struct {
	ID          uint64        `json:"id"` // connection number, from 1
	Owner       string        `json:"owner_address"`
	Wallet      string        `json:"wallet_address"`
	SCAddress   string        `json:"sc_address"`
	Model       string        `json:"model"`
	Enabled     bool          `json:"enabled"`
	Coefficient int64         `json:"coefficient"`
	MaxActive   int           `json:"max_active"`
	Running     int           `json:"running"`
	AvgTime     time.Duration `json:"avg_time"`
	Served      int64         `json:"served"`
	Failed      int64         `json:"failed"`
	ConnectedAt time.Time     `json:"connected_at"`
	// Attestation is what the worker's RA-TLS certificate proved.
	Attestation Attestation `json:"attestation"`
}

// Attestation is the verified RA-TLS identity of a worker connection.
type Attestation struct {
	ImageHash     [32]byte  `json:"image_hash"`
	Fake          bool      `json:"fake_tdx"`
	CertNotBefore time.Time `json:"cert_not_before"`
	CertNotAfter  time.Time `json:"cert_not_after"`
}

// RelationshipSnapshot is one worker relationship and its counters.
type RelationshipSnapshot struct {
	Owner     string  `json:"owner_address"`
	Wallet    string  `json:"wallet_address"`
	SCAddress string  `json:"sc_address"`
	Connected bool    `json:"connected"`
	Payment   Payment `json:"payment"`
}

// Snapshot is the proxy's state at one moment.
type Snapshot struct {
	Address       string                 `json:"address"` // the proxy contract
	Workers       []WorkerSnapshot       `json:"workers"`
	Relationships []RelationshipSnapshot `json:"relationships"`
	Totals        Totals                 `json:"totals"`
}

// Snapshot returns the connected workers, the relationships and the
// totals.
func (p *Proxy) Snapshot() Snapshot {
	s := Snapshot{Address: p.address}
	p.mu.Lock()
	s.Totals = p.totals
	for _, w := range p.sessions {
		s.Workers = append(s.Workers, WorkerSnapshot{ID: w.id, Owner: w.hello.OwnerAddress, Wallet: w.hello.WalletAddress,
			SCAddress: w.sc, Model: w.hello.Model, Enabled: w.enabled, Coefficient: w.coefficient, MaxActive: w.maxActive,
			Running: w.running, AvgTime: w.avg, Served: w.served, Failed: w.failed, ConnectedAt: w.connectedAt,
			Attestation: attestationOf(w.peer)})
		s.Totals.Running += w.running
	}
	p.mu.Unlock()
	p.stMu.Lock()
	for _, r := range p.sortedRelsLocked() {
		s.Relationships = append(s.Relationships, RelationshipSnapshot{Owner: r.key.Owner, Wallet: r.key.Wallet,
			SCAddress: r.sc, Connected: len(r.sessions) > 0, Payment: r.pay})
		s.Totals.MaxKnown += r.pay.MaxKnown
		s.Totals.CommittedToDB += r.pay.CommittedToDB
		s.Totals.CommittedToBlockchain += r.pay.CommittedToBlockchain
		s.Totals.Paid += r.pay.Paid
	}
	p.stMu.Unlock()
	return s
}

func attestationOf(p *attest.Peer) Attestation {
	if p == nil || p.Cert == nil {
		return Attestation{}
	}
	return Attestation{ImageHash: p.ImageHash, Fake: p.Fake, CertNotBefore: p.Cert.NotBefore, CertNotAfter: p.Cert.NotAfter}
}
