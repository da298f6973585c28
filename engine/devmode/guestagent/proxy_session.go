package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/synth"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// generator produces an answer, piece by piece; *synth.Engine is the one
// the agent uses. It returns the usage processed so far also when it
// fails or ctx ends.
type generator interface {
	Generate(ctx context.Context, req synth.Request, emit func(synth.Piece) error) (worker.Usage, error)
}

var _ generator = (*synth.Engine)(nil)

// errCancelledByProxy is the cause of a request context the proxy
// cancelled (TypeCancel).
var errCancelledByProxy = errors.New("cancelled by the proxy")

// Done.Error texts besides the admission refusals (worker_state.go).
const (
	doneCancelled   = "cancelled"
	doneDuplicateID = "duplicate request id"
	doneInvalid     = "invalid request"
	doneFailed      = "generation failed"
	doneConnLost    = "connection closed"
)

// proxySession is one welcomed connection to a proxy: it reads frames,
// runs each request in its own goroutine and writes chunks, dones and
// control messages. It never logs or keeps job content.
type proxySession struct {
	addr    string // proxy address as dialled
	proxySC string // proxy_sc_address from the Welcome
	// imageHash and fakeTDX are what RA-TLS attested about the proxy.
	imageHash string
	fakeTDX   bool
	raw       net.Conn
	conn      *standin.Conn
	state     *workerState
	gen       generator
	log       *slog.Logger
	now       func() time.Time

	writeTimeout time.Duration

	ctx    context.Context // ends when the session ends
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	running map[uint64]context.CancelCauseFunc
	wg      sync.WaitGroup
}

// send writes one frame, bounded by the write timeout. A failed write
// ends the session (the TLS stream is unusable after it).
func (ps *proxySession) send(m *standin.Message) error {
	if ps.ctx.Err() != nil {
		return fmt.Errorf("proxy session closed: %w", context.Cause(ps.ctx))
	}
	_ = ps.raw.SetWriteDeadline(time.Now().Add(ps.writeTimeout))
	if err := ps.conn.Send(m); err != nil {
		err = fmt.Errorf("send %s: %w", m.Type, err)
		ps.cancel(err)
		return err
	}
	return nil
}

// serve reads frames until the connection fails or ctx ends, then stops
// the session's requests and waits for them. It returns why it ended.
func (ps *proxySession) serve() error {
	stop := context.AfterFunc(ps.ctx, func() { _ = ps.raw.Close() })
	defer stop()
	ps.cancel(ps.readLoop())
	_ = ps.raw.Close()
	ps.wg.Wait()
	// The first cause wins: when a failed write or the agent's shutdown
	// closed the connection under the reader, that is the reason, not
	// the reader's "use of closed network connection".
	return context.Cause(ps.ctx)
}

func (ps *proxySession) readLoop() error {
	for {
		m, err := ps.conn.Recv()
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		switch m.Type {
		case standin.TypeRequest:
			if m.Request == nil {
				return fmt.Errorf("protocol error: %s frame without its payload", m.Type)
			}
			ps.startRequest(m.ID, m.Request)
			m.Request = nil
		case standin.TypeCancel:
			ps.mu.Lock()
			cancel := ps.running[m.ID]
			ps.mu.Unlock()
			if cancel != nil {
				cancel(errCancelledByProxy)
			}
		case standin.TypePayment:
			if m.Payment == nil {
				return fmt.Errorf("protocol error: %s frame without its payload", m.Type)
			}
			ps.state.payment(ps.proxySC, *m.Payment)
		case standin.TypePayoutResult:
			if m.PayoutResult == nil {
				return fmt.Errorf("protocol error: %s frame without its payload", m.Type)
			}
			ps.payoutResult(*m.PayoutResult)
		case standin.TypeWallet:
			if m.Wallet == nil {
				return fmt.Errorf("protocol error: %s frame without its payload", m.Type)
			}
			ps.state.setWallet(*m.Wallet)
		default:
			// A newer proxy may send more; the type name is not content.
			ps.log.Debug("ignoring an unknown frame from the proxy", "proxy", ps.addr, "type", m.Type)
		}
	}
}

func (ps *proxySession) payoutResult(r standin.PayoutResult) {
	if r.Error != "" {
		ps.log.Warn("payout failed", "proxy_sc", ps.proxySC, "tokens", r.Tokens, "err", r.Error)
	} else {
		ps.log.Info("payout done", "proxy_sc", ps.proxySC, "tokens", r.Tokens, "nanoton", r.NanoTON, "tx_hash", r.TxHash)
	}
	ps.state.payoutFinished(ps.proxySC, r)
}

// startRequest admits request id and runs it in its own goroutine, or
// answers the refusal at once.
func (ps *proxySession) startRequest(id uint64, r *standin.Request) {
	start := ps.now()
	req := synth.Request{Prompt: r.Prompt, MaxTokens: r.MaxTokens, ReasoningTokens: r.ReasoningTokens, Seed: r.Seed}
	k := r.Coefficient
	refusal := ps.state.admit(start, len(r.Prompt))
	if refusal == "" {
		ps.mu.Lock()
		if _, dup := ps.running[id]; dup {
			refusal = doneDuplicateID
		}
		ps.mu.Unlock()
		if refusal != "" {
			// The slot admit took is given back by finish below.
			ps.refuse(id, start, refusal, true)
			return
		}
	} else {
		ps.refuse(id, start, refusal, false)
		return
	}
	ctx, cancel := context.WithCancelCause(ps.ctx)
	ps.mu.Lock()
	ps.running[id] = cancel
	ps.mu.Unlock()
	ps.wg.Add(1)
	go func() {
		defer ps.wg.Done()
		defer cancel(nil)
		ps.runRequest(ctx, id, req, k, start)
	}()
}

// refuse answers a request that is not run.
func (ps *proxySession) refuse(id uint64, start time.Time, why string, admitted bool) {
	err := ps.send(&standin.Message{Type: standin.TypeDone, ID: id, Done: &standin.Done{Error: why}})
	ps.log.Debug("request refused", "proxy", ps.addr, "id", id, "why", why, "delivered", err == nil)
	ps.state.finish(ps.now(), requestOutcome{admitted: admitted, duration: ps.now().Sub(start)})
}

// runRequest generates the answer, streams it as chunks and ends with a
// Done carrying the usage and its adjusted tokens at the request's
// coefficient k (the proxy's stored value, §8.2).
func (ps *proxySession) runRequest(ctx context.Context, id uint64, req synth.Request, k int64, start time.Time) {
	var sent int
	var usage worker.Usage
	invalid := req.Validate()
	err := invalid
	if invalid == nil {
		usage, err = ps.gen.Generate(ctx, req, func(p synth.Piece) error {
			if err := ps.send(&standin.Message{Type: standin.TypeChunk, ID: id, Chunk: &standin.Chunk{Text: p.Text, Reasoning: p.Reasoning}}); err != nil {
				return err
			}
			sent += len(p.Text)
			return nil
		})
	}
	req.Prompt = ""

	ps.mu.Lock()
	delete(ps.running, id)
	ps.mu.Unlock()

	done := &standin.Done{Usage: usage, Adjusted: worker.AdjustTokens(usage, k, ps.state.multipliers())}
	outcome := "ok" // for the log: a class, never an error text
	switch {
	case err == nil:
	case invalid != nil:
		// The validation text goes to the proxy only.
		done.Error, outcome = doneInvalid+": "+invalid.Error(), doneInvalid
	case errors.Is(context.Cause(ctx), errCancelledByProxy):
		done.Error, outcome = doneCancelled, doneCancelled
	case ps.ctx.Err() != nil:
		done.Error, outcome = doneConnLost, doneConnLost
	default:
		// The generator's error text is neither sent nor logged, only
		// the fact: it is not expected to carry content, but need not be
		// trusted not to.
		done.Error, outcome = doneFailed, doneFailed
	}
	sendErr := ps.send(&standin.Message{Type: standin.TypeDone, ID: id, Done: done})
	end := ps.now()
	o := requestOutcome{admitted: true, ok: err == nil && sendErr == nil, bytesSent: sent, duration: end.Sub(start)}
	if sendErr == nil {
		o.adjusted = done.Adjusted
	}
	ps.state.finish(end, o)
	ps.log.Debug("request finished", "proxy", ps.addr, "id", id, "outcome", outcome, "delivered", sendErr == nil,
		"answer_bytes", sent, "total_adjusted_tokens", done.Adjusted.Total, "took", end.Sub(start).Round(time.Millisecond).String())
}
