//go:build cgo && tvmemu

package tvmchain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	gtlb "github.com/tonkeeper/tongo/tlb"
	"github.com/tonkeeper/tongo/ton"
	"github.com/tonkeeper/tongo/tvm"
	"github.com/tonkeeper/tongo/txemulator"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// FaucetAddress is the source of the coins Faucet hands out.
var FaucetAddress = address.MustParseRawAddr("-1:" + "5555555555555555555555555555555555555555555555555555555555555555")

// maxHops bounds the internal messages one Send may set off, so that two
// contracts bouncing messages at each other cannot hang the chain.
const maxHops = 1000

// EmuChain is an in-memory chain that runs every message through the TVM
// emulator. It is safe for concurrent use; transactions run one at a time.
type EmuChain struct {
	emu    *txemulator.Emulator
	tvmCfg *tvm.Config
	now    func() time.Time
	log    *slog.Logger

	mu       sync.Mutex
	lt       uint64
	accounts map[ton.AccountID]*account
	changed  chan struct{} // closed and replaced after every transaction
}

type account struct {
	state gtlb.ShardAccount
	txs   []wallet.Tx // oldest first
}

var _ wallet.Chain = (*EmuChain)(nil)

// Option configures New.
type Option func(*options)

type options struct {
	config string
	now    func() time.Time
	log    *slog.Logger
}

// WithConfig uses another blockchain config (base64 BOC of the config
// dictionary, e.g. fetched once from mainnet) instead of tongo's bundled
// txemulator.DefaultConfig.
func WithConfig(b64 string) Option { return func(o *options) { o.config = b64 } }

// WithClock sets the clock that stamps transactions (default time.Now).
// Wallets check valid_until against it.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger reports internal messages that could not be delivered
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// New makes an empty chain with one transaction emulator.
func New(opts ...Option) (*EmuChain, error) {
	o := options{config: txemulator.DefaultConfig, now: time.Now, log: slog.Default()}
	for _, fn := range opts {
		fn(&o)
	}
	cfg, err := parseConfig(o.config)
	if err != nil {
		return nil, err
	}
	emu, err := txemulator.NewEmulator(cfg, txemulator.LogTruncated)
	if err != nil {
		return nil, fmt.Errorf("start the transaction emulator: %w", err)
	}
	tvmCfg, err := tvm.CreateConfig(o.config)
	if err != nil {
		return nil, fmt.Errorf("load the config for get-methods: %w", err)
	}
	return &EmuChain{
		emu:      emu,
		tvmCfg:   tvmCfg,
		now:      o.now,
		log:      o.log,
		lt:       1_000_000,
		accounts: map[ton.AccountID]*account{},
		changed:  make(chan struct{}),
	}, nil
}

// accountLocked returns the account, creating an empty (nonexistent) one.
func (c *EmuChain) accountLocked(id ton.AccountID) *account {
	a := c.accounts[id]
	if a == nil {
		a = &account{state: gtlb.ShardAccount{Account: gtlb.Account{SumType: "AccountNone"}}}
		c.accounts[id] = a
	}
	return a
}

func (c *EmuChain) stateOf(addr *address.Address) (wallet.AccountState, ton.AccountID, error) {
	id, err := accountID(addr)
	if err != nil {
		return wallet.AccountState{}, id, err
	}
	c.mu.Lock()
	var sa gtlb.ShardAccount
	if a := c.accounts[id]; a != nil {
		sa = a.state
	} else {
		sa.Account.SumType = "AccountNone"
	}
	saCell, err := fromTongo(sa)
	c.mu.Unlock()
	if err != nil {
		return wallet.AccountState{}, id, fmt.Errorf("encode account %s: %w", addr.String(), err)
	}
	st, err := wallet.AccountStateFromShardAccount(saCell)
	return st, id, err
}

// Account implements wallet.Chain.
func (c *EmuChain) Account(_ context.Context, addr *address.Address) (wallet.AccountState, error) {
	st, _, err := c.stateOf(addr)
	return st, err
}

// Transactions implements wallet.Chain.
func (c *EmuChain) Transactions(_ context.Context, addr *address.Address, fromLT uint64, fromHash []byte, n int) ([]wallet.Tx, error) {
	id, err := accountID(addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.accounts[id]
	if a == nil || len(a.txs) == 0 || n <= 0 {
		return nil, nil
	}
	start := len(a.txs) - 1
	if fromLT != 0 {
		start = -1
		for i, tx := range a.txs {
			if tx.LT == fromLT && (fromHash == nil || bytes.Equal(tx.Hash, fromHash)) {
				start = i
				break
			}
		}
		if start < 0 {
			return nil, fmt.Errorf("%s has no transaction with lt %d", addr.String(), fromLT)
		}
	}
	out := make([]wallet.Tx, 0, min(n, start+1))
	for i := start; i >= 0 && len(out) < n; i-- {
		out = append(out, a.txs[i])
	}
	return out, nil
}

// RunGetMethod implements wallet.Chain with a fresh TVM emulator on the
// account's current code and data.
func (c *EmuChain) RunGetMethod(ctx context.Context, addr *address.Address, method string, args ...any) ([]any, error) {
	st, id, err := c.stateOf(addr)
	if err != nil {
		return nil, err
	}
	if !st.Deployed() || st.Code == nil || st.Data == nil {
		return nil, fmt.Errorf("get-method %s on %s: %w", method, addr.String(), wallet.ErrNotDeployed)
	}
	var in tlb.Stack
	for i := len(args) - 1; i >= 0; i-- { // as tonutils-go's RunGetMethod does
		in.Push(args[i])
	}
	inCell, err := in.ToCell()
	if err != nil {
		return nil, fmt.Errorf("get-method %s arguments: %w", method, err)
	}
	params, err := stackToTongo(inCell)
	if err != nil {
		return nil, fmt.Errorf("get-method %s arguments: %w", method, err)
	}
	code, err := toTongoCell(st.Code)
	if err != nil {
		return nil, err
	}
	data, err := toTongoCell(st.Data)
	if err != nil {
		return nil, err
	}
	vm, err := tvm.NewEmulator(code, data, nil, tvm.WithConfig(c.tvmCfg), tvm.WithBalance(st.Balance))
	if err != nil {
		return nil, fmt.Errorf("get-method %s: %w", method, err)
	}
	exit, res, err := vm.RunSmcMethod(ctx, id, method, params)
	if err != nil {
		return nil, fmt.Errorf("get-method %s on %s: %w", method, addr.String(), err)
	}
	if exit != 0 && exit != 1 {
		return nil, &wallet.GetMethodError{Method: method, ExitCode: int32(exit)}
	}
	resCell, err := stackFromTongo(res)
	if err != nil {
		return nil, fmt.Errorf("get-method %s result: %w", method, err)
	}
	var out tlb.Stack
	if err := out.LoadFromCell(resCell.BeginParse()); err != nil {
		return nil, fmt.Errorf("get-method %s result: %w", method, err)
	}
	vals := make([]any, 0, out.Depth())
	for out.Depth() > 0 {
		v, _ := out.Pop()
		vals = append(vals, v)
	}
	return vals, nil
}

// Send implements wallet.Chain. The message and every internal message it
// sets off run before Send returns; a message the contract does not accept
// gives *wallet.RejectedError and changes nothing.
func (c *EmuChain) Send(_ context.Context, ext *tlb.ExternalMessage) ([]byte, error) {
	if ext == nil || ext.Body == nil || ext.DstAddr == nil {
		return nil, errors.New("send: the external message needs a destination and a body")
	}
	msgCell, err := tlb.ToCell(ext)
	if err != nil {
		return nil, fmt.Errorf("send: encode message: %w", err)
	}
	if _, err := c.deliver(msgCell, ext.DstAddr); err != nil {
		return nil, err
	}
	return ext.Body.Hash(), nil
}

// Faucet credits amount nanoTON to addr with a plain internal message (no
// bounce), as a deposit from another wallet would: a new address becomes an
// uninitialised account that a wallet can then deploy itself to.
func (c *EmuChain) Faucet(_ context.Context, addr *address.Address, amount int64) (wallet.Tx, error) {
	if amount <= 0 {
		return wallet.Tx{}, fmt.Errorf("faucet: amount %d must be positive", amount)
	}
	c.mu.Lock()
	lt := c.lt
	c.mu.Unlock()
	msgCell, err := tlb.ToCell(&tlb.InternalMessage{
		IHRDisabled: true,
		SrcAddr:     FaucetAddress,
		DstAddr:     addr,
		Amount:      tlb.FromNanoTON(big.NewInt(amount)),
		CreatedLT:   lt,
		CreatedAt:   uint32(c.now().Unix()),
	})
	if err != nil {
		return wallet.Tx{}, fmt.Errorf("faucet: %w", err)
	}
	return c.deliver(msgCell, addr)
}

// PutAccount installs an active account with the given code, data and
// balance, as if it had always been there (no transaction). Use it for
// contracts whose state was captured elsewhere, such as a root contract.
func (c *EmuChain) PutAccount(addr *address.Address, code, data *cell.Cell, balance int64) error {
	id, err := accountID(addr)
	if err != nil {
		return err
	}
	if code == nil || data == nil || balance < 0 {
		return errors.New("put account: code and data are required, and the balance cannot be negative")
	}
	gcode, err := toTongoCell(code)
	if err != nil {
		return err
	}
	gdata, err := toTongoCell(data)
	if err != nil {
		return err
	}
	var state gtlb.AccountState
	state.SumType = "AccountActive"
	state.AccountActive.StateInit.Code.Exists = true
	state.AccountActive.StateInit.Code.Value.Value = *gcode
	state.AccountActive.StateInit.Data.Exists = true
	state.AccountActive.StateInit.Data.Value.Value = *gdata

	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.accountLocked(id)
	a.state = gtlb.ShardAccount{Account: gtlb.Account{SumType: "Account", Account: gtlb.ExistedAccount{
		Addr: id.ToMsgAddress(),
		StorageStat: gtlb.StorageInfo{
			LastPaid:     uint32(c.now().Unix()),
			StorageExtra: gtlb.StorageExtraInfo{SumType: "StorageExtraNone"},
		},
		Storage: gtlb.AccountStorage{
			LastTransLt: c.lt,
			Balance:     gtlb.CurrencyCollection{Grams: gtlb.Grams(balance)},
			State:       state,
		},
	}}}
	return nil
}

// WaitTx implements wallet.Chain. Transactions happen inside Send, so this
// returns at once for a sent message, and otherwise waits for one until ctx
// ends.
func (c *EmuChain) WaitTx(ctx context.Context, addr *address.Address, msgHash []byte) (wallet.Tx, error) {
	id, err := accountID(addr)
	if err != nil {
		return wallet.Tx{}, err
	}
	for {
		c.mu.Lock()
		changed := c.changed
		var found *wallet.Tx
		if a := c.accounts[id]; a != nil {
			for i := len(a.txs) - 1; i >= 0; i-- {
				if in := a.txs[i].In; in != nil && bytes.Equal(in.BodyHash, msgHash) {
					found = &a.txs[i]
					break
				}
			}
		}
		c.mu.Unlock()
		if found != nil {
			return *found, nil
		}
		select {
		case <-ctx.Done():
			return wallet.Tx{}, fmt.Errorf("%w on %s: %w", wallet.ErrTxNotFound, addr.String(), ctx.Err())
		case <-changed:
		}
	}
}

// deliver runs msg (a tonutils-go message cell) on dst, then every internal
// message that follows from it, and returns the first transaction.
func (c *EmuChain) deliver(msgCell *cell.Cell, dst *address.Address) (wallet.Tx, error) {
	id, err := accountID(dst)
	if err != nil {
		return wallet.Tx{}, err
	}
	var msg gtlb.Message
	if err := toTongo(msgCell, &msg); err != nil {
		return wallet.Tx{}, fmt.Errorf("decode message for the emulator: %w", err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	first, outs, err := c.emulateLocked(id, msg)
	if err != nil {
		return wallet.Tx{}, err
	}
	type hop struct {
		to  ton.AccountID
		msg gtlb.Message
	}
	var queue []hop
	push := func(msgs []gtlb.Message) {
		for _, m := range msgs {
			if m.Info.SumType != "IntMsgInfo" {
				continue // external-out: a log entry, nobody receives it
			}
			to, err := ton.AccountIDFromTlb(m.Info.IntMsgInfo.Dest)
			if err != nil || to == nil {
				c.log.Warn("emulated chain: internal message without a standard destination", "error", err)
				continue
			}
			queue = append(queue, hop{*to, m})
		}
	}
	push(outs)
	for hops := 0; len(queue) > 0; hops++ {
		if hops == maxHops {
			c.log.Warn("emulated chain: message chain cut off", "hops", maxHops, "dropped", len(queue))
			break
		}
		h := queue[0]
		queue = queue[1:]
		_, more, err := c.emulateLocked(h.to, h.msg)
		if err != nil {
			c.log.Warn("emulated chain: internal message not delivered", "to", h.to.ToRaw(), "error", err)
			continue
		}
		push(more)
	}
	return first, nil
}

// emulateLocked runs one message on one account and applies the result.
func (c *EmuChain) emulateLocked(id ton.AccountID, msg gtlb.Message) (wallet.Tx, []gtlb.Message, error) {
	a := c.accountLocked(id)
	if err := c.emu.SetUnixtime(uint32(c.now().Unix())); err != nil {
		return wallet.Tx{}, nil, err
	}
	if err := c.emu.SetLT(c.lt); err != nil {
		return wallet.Tx{}, nil, err
	}
	res, err := c.emu.Emulate(a.state, msg)
	if err != nil {
		return wallet.Tx{}, nil, fmt.Errorf("emulate a message to %s: %w", id.ToRaw(), err)
	}
	if !res.Success || res.Emulation == nil {
		rej := &wallet.RejectedError{}
		if res.Error != nil {
			rej.ExitCode, rej.Detail = int32(res.Error.ExitCode), res.Error.Text
		}
		return wallet.Tx{}, nil, rej
	}
	raw, err := txFromBase64(res.Emulation.RawTransaction)
	if err != nil {
		return wallet.Tx{}, nil, fmt.Errorf("decode emulated transaction: %w", err)
	}
	tx, err := wallet.TxFromTLB(raw)
	if err != nil {
		return wallet.Tx{}, nil, fmt.Errorf("decode emulated transaction: %w", err)
	}
	gtx := &res.Emulation.Transaction
	a.state = res.Emulation.ShardAccount
	a.txs = append(a.txs, tx)
	// Out messages carry lt+1…lt+n; the next transaction starts after them.
	c.lt = max(c.lt, gtx.Lt) + uint64(gtx.OutMsgCnt) + 2
	close(c.changed)
	c.changed = make(chan struct{})

	var outs []gtlb.Message
	for _, m := range gtx.Msgs.OutMsgs.Values() {
		outs = append(outs, m.Value)
	}
	return tx, outs, nil
}
