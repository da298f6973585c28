package wallet

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton"
)

// ProofPolicy says how much of a liteserver's answer LiteChain verifies.
type ProofPolicy int

const (
	// ProofAuto is ProofSecure when the config names a trusted init block
	// (validator.init_block) and ProofFast otherwise.
	ProofAuto ProofPolicy = iota
	// ProofFast checks the Merkle proofs of accounts and get-method states
	// against the masterchain block the liteserver names, without checking
	// that block's signatures.
	ProofFast
	// ProofSecure also follows the chain of key blocks from the config's init
	// block, so a lying liteserver cannot invent a block.
	ProofSecure
	// ProofUnsafe checks nothing. Only for tests against a fake liteserver.
	ProofUnsafe
)

func (p ProofPolicy) String() string {
	switch p {
	case ProofAuto:
		return "auto"
	case ProofFast:
		return "fast"
	case ProofSecure:
		return "secure"
	case ProofUnsafe:
		return "unsafe"
	}
	return "ProofPolicy(" + strconv.Itoa(int(p)) + ")"
}

// LiteOptions tune LiteChain. The zero value is the production setting.
type LiteOptions struct {
	Proof ProofPolicy
	// Retries is how many more liteservers a request tries after a timeout
	// (default 3).
	Retries int
	// Timeout bounds each request to one liteserver (default 10 s).
	Timeout time.Duration
	// DialTimeout bounds connecting to the first liteserver (default 5 s).
	DialTimeout time.Duration
	// PollInterval is how often WaitTx looks for the transaction (default 3 s).
	PollInterval time.Duration
	// WaitLimit bounds WaitTx when its context has no deadline (default 3 min).
	WaitLimit time.Duration
}

func (o LiteOptions) withDefaults() LiteOptions {
	if o.Retries <= 0 {
		o.Retries = 3
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 3 * time.Second
	}
	if o.WaitLimit <= 0 {
		o.WaitLimit = 3 * time.Minute
	}
	return o
}

// LiteChain is Chain over TON liteservers, through tonutils-go. Requests
// are balanced across the liteservers of the config and move to another one
// when a server times out; a dropped connection is redialled in the
// background with capped, jittered backoff.
type LiteChain struct {
	pool       *liteclient.ConnectionPool
	api        ton.APIClientWrapped
	policy     ProofPolicy
	opts       LiteOptions
	stopped    chan struct{}
	stopOnce   sync.Once
	reconnects atomic.Int64
}

var _ Chain = (*LiteChain)(nil)

// LoadGlobalConfig reads and checks a TON global config file (the JSON
// that ton.org publishes as global.config.json).
func LoadGlobalConfig(path string) (*liteclient.GlobalConfig, error) {
	cfg, err := liteclient.GetConfigFromFile(path)
	if err != nil {
		var pe *fs.PathError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("TON network config %s not found: download the global config (https://ton.org/global.config.json, or the testnet one) and set its path: %w", path, err)
		case errors.As(err, &pe):
			return nil, fmt.Errorf("cannot read TON network config: %w", err)
		default:
			return nil, fmt.Errorf("TON network config %s is not a valid global config (JSON): %w", path, err)
		}
	}
	if len(cfg.Liteservers) == 0 {
		return nil, fmt.Errorf("TON network config %s lists no liteservers: use a global config with a \"liteservers\" section", path)
	}
	for i, ls := range cfg.Liteservers {
		if _, err := liteserverAddr(ls); err != nil {
			return nil, fmt.Errorf("TON network config %s, liteserver %d: %w", path, i, err)
		}
	}
	return cfg, nil
}

// liteserverAddr checks one liteserver entry and returns "ip:port".
func liteserverAddr(ls liteclient.LiteserverConfig) (string, error) {
	if ls.IP < -1<<31 || ls.IP > 1<<32-1 {
		return "", fmt.Errorf("ip %d is not an IPv4 address as a 32-bit integer", ls.IP)
	}
	if ls.Port <= 0 || ls.Port > 65535 {
		return "", fmt.Errorf("port %d is out of range", ls.Port)
	}
	key, err := base64.StdEncoding.DecodeString(ls.ID.Key)
	if err != nil || len(key) != 32 {
		return "", fmt.Errorf("id.key %q is not a base64 Ed25519 public key", ls.ID.Key)
	}
	ip := uint32(ls.IP) // the config stores it as a signed int32
	return fmt.Sprintf("%d.%d.%d.%d:%d", byte(ip>>24), byte(ip>>16), byte(ip>>8), byte(ip), ls.Port), nil
}

func hasInitBlock(cfg *liteclient.GlobalConfig) bool {
	b := cfg.Validator.InitBlock
	return len(b.RootHash) == 32 && len(b.FileHash) == 32 && b.Workchain == -1
}

// DialLiteChain reads the global config at configPath and connects to its
// liteservers. It returns once one liteserver answers; the others join the
// pool as they connect. Close it when done.
func DialLiteChain(ctx context.Context, configPath string, opts LiteOptions) (*LiteChain, error) {
	cfg, err := LoadGlobalConfig(configPath)
	if err != nil {
		return nil, err
	}
	return dialLiteChain(ctx, cfg, opts)
}

func dialLiteChain(ctx context.Context, cfg *liteclient.GlobalConfig, opts LiteOptions) (*LiteChain, error) {
	opts = opts.withDefaults()
	policy := opts.Proof
	if policy == ProofAuto {
		policy = ProofFast
		if hasInitBlock(cfg) {
			policy = ProofSecure
		}
	}
	if policy == ProofSecure && !hasInitBlock(cfg) {
		return nil, errors.New("secure proof checks need validator.init_block in the TON network config")
	}

	c := &LiteChain{pool: liteclient.NewConnectionPool(), policy: policy, opts: opts, stopped: make(chan struct{})}
	// The library's default reconnect loop retries forever, also after Stop.
	c.pool.SetOnDisconnect(c.redial)

	dctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	if err := c.pool.AddConnectionsFromConfig(dctx, cfg); err != nil {
		c.Close()
		return nil, fmt.Errorf("no liteserver of the TON network config answered (%d tried): %w; check the network connection, or run the liteserver health check", len(cfg.Liteservers), err)
	}

	var tp ton.ProofCheckPolicy
	switch policy {
	case ProofSecure:
		tp = ton.ProofCheckPolicySecure
	case ProofUnsafe:
		tp = ton.ProofCheckPolicyUnsafe
	default:
		tp = ton.ProofCheckPolicyFast
	}
	api := ton.NewAPIClient(c.pool, tp)
	if policy == ProofSecure {
		api.SetTrustedBlockFromConfig(cfg)
	}
	// Timeout inside retry: each attempt gets its own limit, and a timed-out
	// attempt moves on to the next liteserver.
	c.api = api.WithTimeout(opts.Timeout).WithRetry(opts.Retries)
	return c, nil
}

// redial brings a dropped liteserver back, with capped, jittered backoff,
// until it answers or the chain is closed.
func (c *LiteChain) redial(addr, key string) {
	backoff := time.Second
	for {
		wait := backoff/2 + rand.N(backoff)
		t := time.NewTimer(wait)
		select {
		case <-c.stopped:
			t.Stop()
			return
		case <-t.C:
		}
		c.reconnects.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.DialTimeout)
		err := c.pool.AddConnection(ctx, addr, key)
		cancel()
		if err == nil || errors.Is(err, liteclient.ErrStopped) {
			return
		}
		backoff = min(backoff*2, time.Minute)
	}
}

// Close disconnects from all liteservers.
func (c *LiteChain) Close() {
	c.stopOnce.Do(func() {
		close(c.stopped)
		c.pool.Stop()
	})
}

// Policy is the proof policy in effect (never ProofAuto).
func (c *LiteChain) Policy() ProofPolicy { return c.policy }

// Reconnects counts attempts to bring dropped liteservers back.
func (c *LiteChain) Reconnects() int64 { return c.reconnects.Load() }

// lsError adds what to do to errors that mean no liteserver answered.
func lsError(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, liteclient.ErrADNLReqTimeout) ||
		errors.Is(err, liteclient.ErrNoActiveConnections) {
		return fmt.Errorf("%s: no liteserver answered in time (check the network connection or the TON network config): %w", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Account implements Chain.
func (c *LiteChain) Account(ctx context.Context, addr *address.Address) (AccountState, error) {
	ctx = c.pool.StickyContext(ctx)
	block, err := c.api.CurrentMasterchainInfo(ctx)
	if err != nil {
		return AccountState{}, lsError("read masterchain block", err)
	}
	acc, err := c.api.WaitForBlock(block.SeqNo).GetAccount(ctx, block, addr)
	if err != nil {
		return AccountState{}, lsError("read account "+addr.String(), err)
	}
	return AccountStateFromTLB(acc)
}

// maxTxPerRequest is how many transactions liteservers return per request.
const maxTxPerRequest = 16

// Transactions implements Chain.
func (c *LiteChain) Transactions(ctx context.Context, addr *address.Address, fromLT uint64, fromHash []byte, n int) ([]Tx, error) {
	if n <= 0 {
		return nil, nil
	}
	if fromLT != 0 && len(fromHash) != 32 {
		return nil, fmt.Errorf("transactions of %s from lt %d: the transaction hash is needed too", addr.String(), fromLT)
	}
	ctx = c.pool.StickyContext(ctx)
	if fromLT == 0 {
		acc, err := c.Account(ctx, addr)
		if err != nil {
			return nil, err
		}
		fromLT, fromHash = acc.LastTxLT, acc.LastTxHash
	}
	var out []Tx
	for lt, hash := fromLT, fromHash; lt != 0 && len(out) < n; {
		list, err := c.api.ListTransactions(ctx, addr, uint32(min(n-len(out), maxTxPerRequest)), lt, hash)
		if errors.Is(err, ton.ErrNoTransactionsWereFound) {
			break
		}
		var lse ton.LSError
		if errors.As(err, &lse) && lse.Code == -400 { // "lt not in db": pruned
			if len(out) > 0 {
				break // the next page reports it
			}
			return nil, fmt.Errorf("transactions of %s before lt %d: %w (%v)", addr.String(), lt, ErrHistoryUnavailable, err)
		}
		if err != nil {
			return nil, lsError("list transactions of "+addr.String(), err)
		}
		if len(list) == 0 {
			break
		}
		for i := len(list) - 1; i >= 0; i-- { // oldest first → newest first
			tx, err := TxFromTLB(list[i])
			if err != nil {
				return nil, fmt.Errorf("transaction %d of %s: %w", list[i].LT, addr.String(), err)
			}
			out = append(out, tx)
		}
		lt, hash = list[0].PrevTxLT, list[0].PrevTxHash
	}
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// RunGetMethod implements Chain.
func (c *LiteChain) RunGetMethod(ctx context.Context, addr *address.Address, method string, args ...any) ([]any, error) {
	ctx = c.pool.StickyContext(ctx)
	block, err := c.api.CurrentMasterchainInfo(ctx)
	if err != nil {
		return nil, lsError("read masterchain block", err)
	}
	res, err := c.api.WaitForBlock(block.SeqNo).RunGetMethod(ctx, block, addr, method, args...)
	if err != nil {
		return nil, getMethodError(addr, method, err)
	}
	return res.AsTuple(), nil
}

func getMethodError(addr *address.Address, method string, err error) error {
	var ce ton.ContractExecError
	if errors.As(err, &ce) {
		if ce.Code == ton.ErrCodeContractNotInitialized {
			return fmt.Errorf("get-method %s on %s: %w", method, addr.String(), ErrNotDeployed)
		}
		return &GetMethodError{Method: method, ExitCode: ce.Code}
	}
	return lsError("get-method "+method+" on "+addr.String(), err)
}

// Send implements Chain.
func (c *LiteChain) Send(ctx context.Context, ext *tlb.ExternalMessage) ([]byte, error) {
	if ext == nil || ext.Body == nil || ext.DstAddr == nil {
		return nil, errors.New("send: the external message needs a destination and a body")
	}
	if err := c.api.SendExternalMessage(ctx, ext); err != nil {
		return nil, sendError(err)
	}
	return ext.Body.Hash(), nil
}

// Liteservers run an external message before relaying it, and report a
// refusal as "…exitcode=33, steps=…".
var exitCodeRe = regexp.MustCompile(`exit ?code[= ](-?\d+)`)

func sendError(err error) error {
	var lse ton.LSError
	if errors.As(err, &lse) {
		if m := exitCodeRe.FindStringSubmatch(lse.Text); m != nil {
			code, _ := strconv.ParseInt(m[1], 10, 32)
			return &RejectedError{ExitCode: int32(code), Detail: lse.Text}
		}
		return &RejectedError{Detail: lse.Error()}
	}
	return lsError("send message", err)
}

// WaitTx implements Chain by polling FindLastTransactionByInMsgHash.
func (c *LiteChain) WaitTx(ctx context.Context, addr *address.Address, msgHash []byte) (Tx, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.WaitLimit)
		defer cancel()
	}
	start := time.Now()
	var lastErr error
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return Tx{}, fmt.Errorf("%w on %s after %s (last error: %v): %w", ErrTxNotFound, addr.String(), time.Since(start).Round(time.Second), lastErr, ctx.Err())
			}
			return Tx{}, fmt.Errorf("%w on %s after %s: %w", ErrTxNotFound, addr.String(), time.Since(start).Round(time.Second), ctx.Err())
		case <-timer.C:
		}
		tx, err := c.api.FindLastTransactionByInMsgHash(ctx, addr, msgHash, 2*maxTxPerRequest)
		if err == nil {
			return TxFromTLB(tx)
		}
		if !errors.Is(err, ton.ErrTxWasNotFound) && ctx.Err() == nil {
			lastErr = err // a liteserver hiccup: keep polling, report it at the end
		}
		timer.Reset(c.opts.PollInterval)
	}
}
