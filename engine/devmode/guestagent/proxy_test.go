package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/synth"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/internal/syncbuf"
)

// waitTimeout bounds every wait in these tests; nothing sleeps to wait.
const waitTimeout = 10 * time.Second

// testProxy is a small stand-in proxy for the worker-side tests: it speaks
// wire.go over RA-TLS (a fake-TDX certificate; the worker must present a
// fake-TDX one too), answers each Hello with its Welcome and records every
// frame the worker sends.
type testProxy struct {
	t        *testing.T
	ln       net.Listener
	verifier *attest.Verifier
	welcome  standin.Welcome
	peers    chan *proxyPeer

	mu     sync.Mutex
	open   []*proxyPeer
	closed bool
	wg     sync.WaitGroup
}

// proxyPeer is one worker connection as the test proxy sees it.
type proxyPeer struct {
	t      *testing.T
	tc     *tls.Conn
	conn   *standin.Conn
	hello  standin.Hello
	worker *attest.Peer

	mu      sync.Mutex
	msgs    []*standin.Message
	taken   []bool
	changed chan struct{} // closed and replaced on every new frame
	ended   chan struct{} // closed when the connection's reader stops
}

func newTestProxy(t *testing.T, addr string, welcome standin.Welcome) *testProxy {
	t.Helper()
	var ln net.Listener
	var err error
	// A restarted proxy reuses its address; the old socket may linger a
	// moment.
	for deadline := time.Now().Add(waitTimeout); ; {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	cert, err := attest.NewCertificate(attest.FakeTDX{}, attest.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := &testProxy{
		t:  t,
		ln: ln,
		// As a production proxy checks the worker's image hash against the
		// root's worker_hashes.
		verifier: &attest.Verifier{AllowFake: true, AllowedImageHashes: [][32]byte{attest.FakeTDXImageHash}},
		welcome:  welcome,
		peers:    make(chan *proxyPeer, 16),
	}
	cfg := attest.ServerConfig(cert, p.verifier)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(tls.Server(c, cfg))
			}()
		}
	}()
	t.Cleanup(p.Close)
	return p
}

func (p *testProxy) Addr() string { return p.ln.Addr().String() }

func (p *testProxy) serve(tc *tls.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = tc.Close()
		return
	}
	wp, err := attest.PeerFromConn(tc.ConnectionState(), p.verifier)
	if err != nil {
		p.t.Errorf("test proxy: worker not accepted: %v", err)
		_ = tc.Close()
		return
	}
	conn := standin.NewConn(tc)
	m, err := conn.Recv()
	if err != nil || m.Type != standin.TypeHello || m.Hello == nil {
		p.t.Errorf("test proxy: first frame %+v, %v; want hello", m, err)
		_ = tc.Close()
		return
	}
	pp := &proxyPeer{t: p.t, tc: tc, conn: conn, hello: *m.Hello, worker: wp,
		changed: make(chan struct{}), ended: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = tc.Close()
		return
	}
	p.open = append(p.open, pp)
	p.mu.Unlock()
	w := p.welcome
	if err := conn.Send(&standin.Message{Type: standin.TypeWelcome, Welcome: &w}); err != nil {
		_ = tc.Close()
		return
	}
	p.peers <- pp
	defer close(pp.ended)
	for {
		m, err := conn.Recv()
		if err != nil {
			return
		}
		pp.mu.Lock()
		pp.msgs = append(pp.msgs, m)
		pp.taken = append(pp.taken, false)
		close(pp.changed)
		pp.changed = make(chan struct{})
		pp.mu.Unlock()
	}
}

// Close stops the proxy: no new connections, every open one closed.
func (p *testProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	open := p.open
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, pp := range open {
		_ = pp.tc.Close()
	}
	p.wg.Wait()
}

// accept waits for the next worker that said hello.
func (p *testProxy) accept() *proxyPeer {
	p.t.Helper()
	select {
	case pp := <-p.peers:
		return pp
	case <-time.After(waitTimeout):
		p.t.Fatal("no worker connected to the test proxy")
		return nil
	}
}

func (pp *proxyPeer) send(m *standin.Message) {
	pp.t.Helper()
	if err := pp.conn.Send(m); err != nil {
		pp.t.Fatalf("test proxy send %s: %v", m.Type, err)
	}
}

// waitFor returns the first frame not taken yet that matches ok, waiting
// for it.
func (pp *proxyPeer) waitFor(what string, ok func(*standin.Message) bool) *standin.Message {
	pp.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		pp.mu.Lock()
		for i, m := range pp.msgs {
			if !pp.taken[i] && ok(m) {
				pp.taken[i] = true
				pp.mu.Unlock()
				return m
			}
		}
		changed := pp.changed
		pp.mu.Unlock()
		select {
		case <-changed:
		case <-pp.ended:
			// One more scan: the frame may have come just before the end.
			pp.mu.Lock()
			for i, m := range pp.msgs {
				if !pp.taken[i] && ok(m) {
					pp.taken[i] = true
					pp.mu.Unlock()
					return m
				}
			}
			pp.mu.Unlock()
			pp.t.Fatalf("connection ended before %s", what)
		case <-deadline:
			pp.t.Fatalf("no %s from the worker within %v", what, waitTimeout)
		}
	}
}

func isType(typ string, id uint64) func(*standin.Message) bool {
	return func(m *standin.Message) bool { return m.Type == typ && m.ID == id }
}

// request sends request id and collects its answer: the chunk texts in
// order and the Done.
func (pp *proxyPeer) request(id uint64, r standin.Request) (string, int, *standin.Done) {
	pp.t.Helper()
	pp.send(&standin.Message{Type: standin.TypeRequest, ID: id, Request: &r})
	done := pp.waitFor("done", isType(standin.TypeDone, id))
	if done.Done == nil {
		pp.t.Fatal("done frame without its payload")
	}
	text, n := pp.chunks(id)
	return text, n, done.Done
}

// chunks takes every chunk of request id received so far (all of them
// once its Done is in: one connection keeps the order).
func (pp *proxyPeer) chunks(id uint64) (string, int) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	var b strings.Builder
	n := 0
	for i, m := range pp.msgs {
		if !pp.taken[i] && m.Type == standin.TypeChunk && m.ID == id {
			pp.taken[i] = true
			b.WriteString(m.Chunk.Text)
			n++
		}
	}
	return b.String(), n
}

// syncbuf.Buffer is a console the test can read while the agent writes.

// flowHarness is the worker side, in-process: state, HTTP API and job
// flow, logging at debug level into a sink whose console the test reads.
type flowHarness struct {
	t       *testing.T
	state   *workerState
	api     *workerHTTP
	sink    *logSink
	console *syncbuf.Buffer
	flow    *jobFlow
}

func testRootFile(addrs ...string) standin.RootFile {
	return standin.RootFile{
		Config: worker.RootContractConfig{
			ParamsVersion:                   4,
			PricePerToken:                   2,
			WorkerFeePerToken:               1,
			PromptTokensPriceMultiplier:     10000,
			CachedTokensPriceMultiplier:     1000,
			CompletionTokensPriceMultiplier: 40000,
			ReasoningTokensPriceMultiplier:  40000,
			ProxyHashes:                     []worker.Hash{worker.Hash(attest.FakeTDXImageHash)},
		},
		ProxyAddrs: addrs,
	}
}

func testWelcome() standin.Welcome {
	return standin.Welcome{
		ProxySCAddress: "EQproxySC",
		ProxyPublicKey: worker.Hash{0x3f, 31: 0x10},
		SCAddress:      "EQworkerSC",
		Payment:        standin.Payment{MaxKnown: 7, CommittedToDB: 5, CommittedToBlockchain: 3, Paid: 1, ExpectedPaid: 1, ParamsVersion: 4},
	}
}

func startFlow(t *testing.T, rf standin.RootFile, gen generator, tweak func(*flowHarness)) *flowHarness {
	t.Helper()
	console := &syncbuf.Buffer{}
	sink := newLogSink(logPrefix, 100000, console)
	log := slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelDebug}))
	state := testState(t)
	state.log = log
	state.setRoot(rf.Config, time.Now())
	state.setUplink(true)
	if gen == nil {
		gen = synth.NewEngine()
	}
	h := &flowHarness{
		t:       t,
		state:   state,
		api:     &workerHTTP{state: state, now: time.Now, started: time.Now()},
		sink:    sink,
		console: console,
		flow:    newJobFlow(state, rf, gen, devWalletAddress(state.cfg.OwnerAddress, state.cfg.WalletKey), "", log),
	}
	h.flow.backoffMax = time.Second
	if tweak != nil {
		tweak(h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	h.flow.start(ctx, &wg, rf.ProxyAddrs)
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return h
}

func (h *flowHarness) get(target string) string {
	path, args := splitTarget(target)
	r := h.api.Handle(path, args)
	if r.Status != 200 {
		h.t.Fatalf("%s: %d %s", target, r.Status, r.Reason)
	}
	return string(r.Body)
}

// reply is the one-line answer inside a shortAnswer page.
func (h *flowHarness) reply(target string) string {
	body := h.get(target)
	_, rest, _ := strings.Cut(body, "<html><body>\n")
	line, _, _ := strings.Cut(rest, "<br/>")
	return line
}

func (h *flowHarness) jsonStats() worker.Stats {
	h.t.Helper()
	st, err := worker.ParseStats([]byte(h.get("/jsonstats")))
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// eventually waits until cond holds.
func (h *flowHarness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("not within %v: %s\nlog:\n%s", waitTimeout, what, h.console.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logCount counts log lines containing s.
func (h *flowHarness) logCount(s string) int {
	n := 0
	for _, l := range h.sink.Tail(100000) {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// gatedGen wraps a generator: after each request's first piece it
// reports on started and holds the rest until release is closed or the
// request's context ends.
type gatedGen struct {
	inner   generator
	started chan uint64 // the request's seed, once per request
	release chan struct{}
}

func newGatedGen() *gatedGen {
	return &gatedGen{inner: synth.NewEngine(), started: make(chan uint64, 64), release: make(chan struct{})}
}

func (g *gatedGen) Generate(ctx context.Context, r synth.Request, emit func(synth.Piece) error) (worker.Usage, error) {
	first := true
	return g.inner.Generate(ctx, r, func(p synth.Piece) error {
		if err := emit(p); err != nil {
			return err
		}
		if first {
			first = false
			g.started <- r.Seed
		}
		select {
		case <-g.release:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
}

func (g *gatedGen) waitStarted(t *testing.T) uint64 {
	t.Helper()
	select {
	case s := <-g.started:
		return s
	case <-time.After(waitTimeout):
		t.Fatal("request did not start generating")
		return 0
	}
}

// reference runs the same request on a fresh engine: the text and usage
// the worker must produce (the prefix cache changes only cached counts).
func reference(t *testing.T, r standin.Request) (string, worker.Usage) {
	t.Helper()
	var b strings.Builder
	u, err := synth.NewEngine().Generate(context.Background(),
		synth.Request{Prompt: r.Prompt, MaxTokens: r.MaxTokens, ReasoningTokens: r.ReasoningTokens, Seed: r.Seed},
		func(p synth.Piece) error { b.WriteString(p.Text); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return b.String(), u
}
