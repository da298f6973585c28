package standin

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// The wire protocol between a stand-in worker (in the dev-mode VM) and the
// stand-in proxy (on the host). The worker dials the proxy's worker port,
// as an official worker dials the proxies listed in the root contract; the
// connection is mutually authenticated TLS 1.3 with RA-TLS certificates
// (package attest). On it both sides exchange frames: a 4-byte big-endian
// length, then one JSON-encoded Message of at most MaxFrame bytes. Several
// requests are in flight at once, told apart by Message.ID.
//
// The protocol is this project's own miniature of the official one: the
// official worker and proxy speak TL over the same kind of channel, which a
// host app never sees.

// MaxFrame bounds one frame; a larger length is a protocol error.
const MaxFrame = 1 << 20

// Message types. "w→p" is worker to proxy, "p→w" proxy to worker.
const (
	// w→p, first frame: who the worker is and what it offers (Hello).
	TypeHello = "hello"
	// p→w, answer to hello: the relationship and its counters (Welcome).
	TypeWelcome = "welcome"
	// p→w: run one inference request (Request).
	TypeRequest = "request"
	// w→p: one streamed piece of an answer (Chunk).
	TypeChunk = "chunk"
	// w→p: a request finished, with its usage (Done). Also sent, with
	// Error set, for a request that failed or was cancelled.
	TypeDone = "done"
	// p→w: stop working on request ID (the client went away).
	TypeCancel = "cancel"
	// w→p: the worker's enabled state or coefficient changed (Params).
	TypeParams = "params"
	// p→w: the relationship's settlement counters changed (Payment).
	TypePayment = "payment"
	// w→p: pay out the claimable tokens of this relationship (Payout).
	TypePayout = "payout"
	// p→w: the payout's outcome (PayoutResult).
	TypePayoutResult = "payout_result"
	// p→w: the worker's cocoon wallet as the chain shows it (WalletInfo).
	TypeWallet = "wallet"
)

// Message is one frame. Exactly the field matching Type is set (ID goes
// with request, chunk, done and cancel).
type Message struct {
	Type         string        `json:"type"`
	ID           uint64        `json:"id,omitempty"`
	Hello        *Hello        `json:"hello,omitempty"`
	Welcome      *Welcome      `json:"welcome,omitempty"`
	Request      *Request      `json:"request,omitempty"`
	Chunk        *Chunk        `json:"chunk,omitempty"`
	Done         *Done         `json:"done,omitempty"`
	Params       *Params       `json:"params,omitempty"`
	Payment      *Payment      `json:"payment,omitempty"`
	Payout       *Payout       `json:"payout,omitempty"`
	PayoutResult *PayoutResult `json:"payout_result,omitempty"`
	Wallet       *WalletInfo   `json:"wallet,omitempty"`
}

// Hello introduces a worker.
type Hello struct {
	OwnerAddress  string `json:"owner_address"`
	WalletAddress string `json:"wallet_address"` // the worker's cocoon wallet
	Model         string `json:"model"`
	Coefficient   int64  `json:"coefficient"` // 1000 = 1.0
	Enabled       bool   `json:"enabled"`
	MaxActive     int    `json:"max_active"`
	ParamsVersion uint32 `json:"params_version"`
}

// Welcome opens (or resumes) the relationship between the worker's owner
// and the proxy: the worker contract and the counters the proxy holds.
type Welcome struct {
	ProxySCAddress string      `json:"proxy_sc_address"`
	ProxyPublicKey worker.Hash `json:"proxy_public_key"`
	SCAddress      string      `json:"sc_address"` // the worker contract for this proxy
	Payment        Payment     `json:"payment"`
}

// Request is one chat completion for the worker. Prompt is job content:
// neither side may log or store it.
type Request struct {
	Prompt          string `json:"prompt"`
	MaxTokens       int    `json:"max_tokens"`
	ReasoningTokens int    `json:"reasoning_tokens"`
	Seed            uint64 `json:"seed"`
	// Coefficient is the proxy's stored value of the worker's k (§8.2).
	Coefficient int64 `json:"coefficient"`
}

// Chunk is a streamed piece of an answer (job content: never logged).
type Chunk struct {
	Text      string `json:"text"`
	Reasoning bool   `json:"reasoning,omitempty"`
}

// Done ends a request. Usage is what was processed, also for a failed or
// cancelled request; Adjusted is the worker's §8.1 accounting of it, the
// amount the proxy credits.
type Done struct {
	Usage    worker.Usage    `json:"usage"`
	Adjusted worker.Adjusted `json:"adjusted"`
	Error    string          `json:"error,omitempty"`
}

// Params announces a change of the worker's enabled state or coefficient.
type Params struct {
	Enabled     bool  `json:"enabled"`
	Coefficient int64 `json:"coefficient"`
}

// Payment is a relationship's settlement counters in tokens (§8.3):
// MaxKnown ≥ CommittedToDB ≥ CommittedToBlockchain ≥ Paid.
type Payment struct {
	SCInited              bool   `json:"sc_inited"`
	MaxKnown              int64  `json:"max_known"`
	CommittedToDB         int64  `json:"committed_to_db"`
	CommittedToBlockchain int64  `json:"committed_to_blockchain"`
	Paid                  int64  `json:"paid"`          // on chain in the worker contract
	ExpectedPaid          int64  `json:"expected_paid"` // max(paid, in-flight payout)
	Running               bool   `json:"running"`       // a payout is in flight
	ParamsVersion         uint32 `json:"params_version"`
}

// Payout asks the proxy side to deliver the signed payment for Tokens
// (the committed-to-blockchain count the worker saw) to the worker
// contract, paid from the worker's cocoon wallet.
type Payout struct {
	Tokens int64 `json:"tokens"`
}

// PayoutResult answers a Payout.
type PayoutResult struct {
	Tokens  int64  `json:"tokens"`
	NanoTON int64  `json:"nanoton"`
	TxHash  string `json:"tx_hash,omitempty"`
	Error   string `json:"error,omitempty"`
}

// WalletInfo is the worker's cocoon wallet on the chain.
type WalletInfo struct {
	Address string `json:"address"`
	Balance int64  `json:"balance"` // nanoTON
	Seqno   uint32 `json:"seqno"`
}

// ErrFrameTooLarge is returned for a frame over MaxFrame.
var ErrFrameTooLarge = errors.New("standin: frame larger than 1 MiB")

// Conn frames Messages over a stream. Send is safe for concurrent use;
// Recv must be called from one goroutine.
type Conn struct {
	rw  io.ReadWriter
	wmu sync.Mutex
	hdr [4]byte
}

// NewConn wraps rw (a TLS connection).
func NewConn(rw io.ReadWriter) *Conn { return &Conn{rw: rw} }

// Send writes one message.
func (c *Conn) Send(m *Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("standin: encode %s: %w", m.Type, err)
	}
	if len(b) > MaxFrame {
		return fmt.Errorf("standin: %s message: %w", m.Type, ErrFrameTooLarge)
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err = c.rw.Write(buf)
	return err
}

// Recv reads one message. A frame that is too large or not a valid
// message is an error; the connection should then be closed.
func (c *Conn) Recv() (*Message, error) {
	if _, err := io.ReadFull(c.rw, c.hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(c.hdr[:])
	if n > MaxFrame {
		return nil, ErrFrameTooLarge
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.rw, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("standin: bad frame: %w", err)
	}
	if m.Type == "" {
		return nil, errors.New("standin: frame without a type")
	}
	return &m, nil
}
