package standin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// maxCoefficient bounds a worker coefficient: the proxy rejects k < 0 or
// k ≥ 10^9 (§8.2).
const maxCoefficient = 1_000_000_000

// maxAbandoned bounds the IDs of abandoned requests a session remembers
// so that their late Done is still credited.
const maxAbandoned = 4096

// errWorkerLost fails the requests of a worker connection that ended.
var errWorkerLost = errors.New("the worker's connection was lost")

// errReplaced ends the connection of a worker that connected again.
var errReplaced = errors.New("the same worker connected again")

// workerSession is one connected, welcomed worker.
type workerSession struct {
	p           *Proxy
	id          uint64
	raw         net.Conn
	conn        *Conn
	hello       Hello
	key         relKey
	sc          string
	log         *slog.Logger
	connectedAt time.Time
	peer        *attest.Peer // what the RA-TLS handshake proved
	out         chan *Message
	ctx         context.Context // ends with the connection
	cancel      context.CancelCauseFunc

	// Routing figures, guarded by Proxy.mu.
	routable    bool
	enabled     bool
	coefficient int64
	maxActive   int
	running     int
	avg         time.Duration
	served      int64
	failed      int64

	// Guarded by mu (never held together with Proxy.mu).
	mu         sync.Mutex
	closed     bool
	pending    map[uint64]*call
	abandoned  map[uint64]int64 // request ID → coefficient, for late Dones
	abandonedQ []uint64
	lastWallet WalletInfo
	walletSent bool
}

// enqueue queues m for the writer. A worker that lets the queue fill up
// is not reading; its connection is closed. It reports whether m was
// queued.
func (s *workerSession) enqueue(m *Message) bool {
	if s.ctx.Err() != nil {
		return false
	}
	select {
	case s.out <- m:
		return true
	default:
		s.cancel(errors.New("the worker is not reading: its send queue is full"))
		return false
	}
}

// writeLoop sends the queued frames until the connection ends.
func (s *workerSession) writeLoop() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case m := <-s.out:
			_ = s.raw.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := s.conn.Send(m); err != nil {
				s.cancel(fmt.Errorf("send %s: %w", m.Type, err))
				return
			}
		}
	}
}

// serveWorker runs one worker connection: RA-TLS handshake, Hello,
// Welcome, then frames until it ends.
func (p *Proxy) serveWorker(ctx context.Context, raw net.Conn) {
	defer raw.Close()
	remote := raw.RemoteAddr().String()
	tc := tls.Server(raw, p.tlsCfg)
	hctx, hcancel := context.WithTimeout(ctx, handshakeTimeout)
	defer hcancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		p.log.Warn("worker RA-TLS handshake failed", "remote", remote, "error", err)
		return
	}
	peer, err := attest.PeerFromConn(tc.ConnectionState(), p.cfg.Verifier)
	if err != nil {
		p.log.Warn("worker not accepted", "remote", remote, "error", err)
		return
	}
	conn := NewConn(tc)
	_ = tc.SetReadDeadline(time.Now().Add(handshakeTimeout))
	m, err := conn.Recv()
	if err != nil {
		p.log.Warn("no hello from the worker", "remote", remote, "error", err)
		return
	}
	_ = tc.SetReadDeadline(time.Time{})
	if err := checkHello(m); err != nil {
		p.log.Warn("bad hello from a worker; closing", "remote", remote, "error", err)
		return
	}
	h := *m.Hello
	if h.MaxActive < 1 {
		h.MaxActive = 1
	}

	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(sctx, func() { _ = tc.Close() })
	defer stop()
	p.mu.Lock()
	p.nextConn++
	id := p.nextConn
	p.mu.Unlock()
	s := &workerSession{p: p, id: id, raw: tc, conn: conn, hello: h,
		key: relKey{h.OwnerAddress, h.WalletAddress, h.ParamsVersion}, connectedAt: p.now(), peer: peer,
		out: make(chan *Message, sendQueue), ctx: sctx, cancel: cancel,
		enabled: h.Enabled, coefficient: h.Coefficient, maxActive: h.MaxActive,
		pending: map[uint64]*call{}, abandoned: map[uint64]int64{}}
	s.log = p.log.With("worker", id)
	var writer sync.WaitGroup
	writer.Go(s.writeLoop)

	r := p.openRelationship(sctx, h)
	s.sc = r.sc
	for _, old := range p.register(s, r) {
		old.log.Info("closing a worker connection: the same worker connected again", "new_worker", id)
		p.mu.Lock()
		old.routable = false
		p.mu.Unlock()
		old.cancel(errReplaced)
	}
	p.sendWallet(sctx, s)
	p.mu.Lock()
	s.routable = true
	p.sessions = append(p.sessions, s)
	p.mu.Unlock()
	s.log.Info("worker connected", "remote", remote, "owner", h.OwnerAddress, "wallet", h.WalletAddress,
		"sc_address", r.sc, "model", h.Model, "enabled", h.Enabled, "coefficient", h.Coefficient,
		"max_active", h.MaxActive, "params_version", h.ParamsVersion, "fake_tdx", peer.Fake)

	err = s.readLoop()
	cancel(err)
	s.close()
	writer.Wait()
	cause := context.Cause(sctx)
	if ctx.Err() == nil {
		s.log.Info("worker disconnected", "reason", cause)
	}
}

// checkHello validates the first frame.
func checkHello(m *Message) error {
	if m.Type != TypeHello || m.Hello == nil {
		return fmt.Errorf("first frame is %q, want %q", m.Type, TypeHello)
	}
	h := m.Hello
	var errs []error
	if err := checkAddress(h.OwnerAddress); err != nil {
		errs = append(errs, fmt.Errorf("owner_address: %w", err))
	}
	if err := checkAddress(h.WalletAddress); err != nil {
		errs = append(errs, fmt.Errorf("wallet_address: %w", err))
	}
	if h.Coefficient < 0 || h.Coefficient >= maxCoefficient {
		errs = append(errs, fmt.Errorf("coefficient %d: must be 0..%d", h.Coefficient, maxCoefficient-1))
	}
	if h.MaxActive < 0 {
		errs = append(errs, fmt.Errorf("max_active %d: must not be negative", h.MaxActive))
	}
	return errors.Join(errs...)
}

// readLoop handles the worker's frames until the connection fails.
func (s *workerSession) readLoop() error {
	for {
		m, err := s.conn.Recv()
		if err != nil {
			if cause := context.Cause(s.ctx); cause != nil {
				return cause
			}
			return fmt.Errorf("receive: %w", err)
		}
		missing := false
		switch m.Type {
		case TypeChunk:
			if missing = m.Chunk == nil; !missing {
				s.onChunk(m.ID, *m.Chunk)
			}
		case TypeDone:
			if missing = m.Done == nil; !missing {
				s.p.onDone(s, m.ID, m.Done)
			}
		case TypeParams:
			if missing = m.Params == nil; !missing {
				s.p.setParams(s, *m.Params)
			}
		case TypePayout:
			if missing = m.Payout == nil; !missing {
				s.p.payout(s, m.Payout.Tokens)
			}
		case TypeHello:
			return errors.New("protocol error: a second hello")
		default:
			s.log.Debug("ignoring an unknown frame from the worker", "type", m.Type)
		}
		if missing {
			return fmt.Errorf("protocol error: %s frame without its payload", m.Type)
		}
	}
}

// onChunk passes a chunk to its request, if that is still waiting.
func (s *workerSession) onChunk(id uint64, ch Chunk) {
	s.mu.Lock()
	c := s.pending[id]
	s.mu.Unlock()
	if c != nil {
		c.push(ch)
	}
}

// close fails the session's pending requests and takes it out of routing
// and its relationship.
func (s *workerSession) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	pending := s.pending
	s.pending, s.abandoned, s.abandonedQ = nil, nil, nil
	s.mu.Unlock()
	p := s.p
	now := p.now()
	for _, c := range pending {
		p.finishRouting(s, now.Sub(c.start), false)
		c.finish(nil, worker.Adjusted{}, errWorkerLost)
	}
	p.mu.Lock()
	p.sessions = slices.DeleteFunc(p.sessions, func(o *workerSession) bool { return o == s })
	s.routable = false
	p.mu.Unlock()
	p.unregister(s)
	if len(pending) > 0 {
		s.log.Warn("worker connection lost with requests in flight; they failed", "requests", len(pending))
	}
}

// setParams applies a worker's Params: a disabled worker gets no new
// request from now on.
func (p *Proxy) setParams(s *workerSession, pr Params) {
	p.mu.Lock()
	s.enabled = pr.Enabled
	bad := pr.Coefficient < 0 || pr.Coefficient >= maxCoefficient
	if !bad {
		s.coefficient = pr.Coefficient
	}
	p.mu.Unlock()
	if bad {
		s.log.Warn("worker coefficient rejected (must be 0..999999999); keeping the old one", "coefficient", pr.Coefficient)
	}
	s.log.Info("worker params", "enabled", pr.Enabled, "coefficient", pr.Coefficient)
}

// finishRouting records the end of a request on s for routing and stats.
func (p *Proxy) finishRouting(s *workerSession, d time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.running--
	if ok {
		s.served++
		if s.avg == 0 {
			s.avg = d
		} else {
			s.avg += (d - s.avg) / 5
		}
	} else {
		s.failed++
	}
}

// onDone ends a request: the Done's tokens are checked and credited
// (also for a request the client abandoned, whose Done arrives late), and
// the waiting client, if any, gets the result. A Done for an ID never
// sent on this connection, or a second one, is ignored.
func (p *Proxy) onDone(s *workerSession, id uint64, d *Done) {
	s.mu.Lock()
	c := s.pending[id]
	k, late := s.abandoned[id]
	if c != nil {
		delete(s.pending, id)
		k = c.k
	} else if late {
		delete(s.abandoned, id)
	}
	s.mu.Unlock()
	if c == nil && !late {
		s.log.Debug("done for an unknown or finished request ignored", "id", id)
		return
	}
	adj, ok := p.account(s, id, d, k)
	if c == nil {
		if adj.Total > 0 {
			s.log.Debug("late done credited", "id", id, "tokens", adj.Total)
		}
		return
	}
	var err error
	if !ok {
		err = errors.New("the worker's token accounting did not check out; the request was not charged")
	}
	p.finishRouting(s, p.now().Sub(c.start), ok && d.Error == "")
	c.finish(d, adj, err)
}

// account checks a Done's adjusted tokens against the proxy's own §8.1
// computation at coefficient k, and credits them when they match. It
// returns the proxy's computation and whether it matched.
func (p *Proxy) account(s *workerSession, id uint64, d *Done, k int64) (worker.Adjusted, bool) {
	if err := d.Usage.Validate(); err != nil {
		p.countMismatch()
		s.log.Warn("done with impossible usage; nothing credited, counted failed", "id", id, "error", err)
		return worker.Adjusted{}, false
	}
	want := worker.AdjustTokens(d.Usage, k, p.mult)
	if want.Total != d.Adjusted.Total {
		p.countMismatch()
		s.log.Warn("adjusted tokens do not match the proxy's computation; nothing credited, counted failed",
			"id", id, "coefficient", k, "reported_total", d.Adjusted.Total, "expected_total", want.Total,
			"prompt_tokens", d.Usage.PromptTokens, "cached_tokens", d.Usage.CachedTokens,
			"completion_tokens", d.Usage.CompletionTokens, "reasoning_tokens", d.Usage.ReasoningTokens)
		return worker.Adjusted{}, false
	}
	if want.Total > 0 {
		p.credit(s.key, want.Total)
		p.mu.Lock()
		p.totals.CreditedTokens += want.Total
		p.mu.Unlock()
	}
	return want, true
}

func (p *Proxy) countMismatch() {
	p.mu.Lock()
	p.totals.Mismatches++
	p.mu.Unlock()
}

// abandon gives up on a request whose client went away or whose worker
// timed out: the worker is told to cancel it, it counts as failed, and a
// late Done is still credited. It reports false when the request had
// already ended (its result is then waiting in c).
func (s *workerSession) abandon(c *call) bool {
	s.mu.Lock()
	if s.pending[c.id] != c {
		s.mu.Unlock()
		return false
	}
	delete(s.pending, c.id)
	s.abandoned[c.id] = c.k
	s.abandonedQ = append(s.abandonedQ, c.id)
	if len(s.abandonedQ) > maxAbandoned {
		delete(s.abandoned, s.abandonedQ[0])
		s.abandonedQ = s.abandonedQ[1:]
	}
	s.mu.Unlock()
	s.enqueue(&Message{Type: TypeCancel, ID: c.id})
	s.p.finishRouting(s, s.p.now().Sub(c.start), false)
	return true
}
