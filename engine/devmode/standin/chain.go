package standin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strings"
	"sync"
	"time"
)

// Tx is one transaction of the stand-in chain. Amounts are nanoTON. A
// mint (dev faucet) has an empty From. Hash is 64 uppercase hex digits.
type Tx struct {
	LT     uint64    `json:"lt"` // logical time: unique, increasing
	Hash   string    `json:"hash"`
	Time   time.Time `json:"time"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to"`
	Amount int64     `json:"amount"` // credited to To
	Fee    int64     `json:"fee"`    // paid by From on top of Amount, burned
	Memo   string    `json:"memo,omitempty"`
}

// Chain is the ledger dev mode settles on. The in-memory MemChain is the
// stand-in; a local TVM-emulated chain will implement it later.
// Implementations are safe for concurrent use.
type Chain interface {
	// Balance is addr's balance in nanoTON (0 for an unknown address).
	Balance(ctx context.Context, addr string) (int64, error)
	// Transfer moves amount from from to to, and from pays fee on top.
	// It fails, moving nothing, when from holds less than amount+fee
	// (ErrInsufficientFunds).
	Transfer(ctx context.Context, from, to string, amount, fee int64, memo string) (Tx, error)
	// Mint creates amount on to: the dev faucet. Its memo says so.
	Mint(ctx context.Context, to string, amount int64, memo string) (Tx, error)
	// Transactions lists addr's transactions, incoming and outgoing, with
	// LT > afterLT, in LT order.
	Transactions(ctx context.Context, addr string, afterLT uint64) ([]Tx, error)
}

// ErrInsufficientFunds is returned (wrapped) by Transfer when the sender
// cannot pay amount plus fee.
var ErrInsufficientFunds = errors.New("insufficient funds")

// memChainVersion is the version of the persisted chain file.
const memChainVersion = 1

// memChainState is the chain as persisted.
type memChainState struct {
	Version  int              `json:"version"`
	Note     string           `json:"note"`
	LastLT   uint64           `json:"last_lt"`
	Balances map[string]int64 `json:"balances"`
	Txs      []Tx             `json:"transactions"`
}

const memChainNote = "cocoon-provider dev mode: a SYNTHETIC stand-in chain; nothing here is real TON"

// MemChain is an in-memory Chain, optionally persisted to a JSON file
// after every change (OpenMemChain).
type MemChain struct {
	now  func() time.Time
	path string // "" = memory only

	mu sync.Mutex
	st memChainState
}

var _ Chain = (*MemChain)(nil)

// NewMemChain returns an empty chain kept in memory only.
func NewMemChain() *MemChain {
	return &MemChain{now: time.Now, st: memChainState{Version: memChainVersion, Note: memChainNote, Balances: map[string]int64{}}}
}

// OpenMemChain opens the chain persisted at path, or an empty one when
// the file does not exist yet. Every change is then written to path
// atomically (temporary file, fsync, rename) with mode 0600. A file that
// is not a valid chain is an error naming it; it is left as it is.
func OpenMemChain(path string) (*MemChain, error) {
	c := NewMemChain()
	c.path = path
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open the stand-in chain: %w", err)
	}
	st, err := decodeChain(b)
	if err != nil {
		return nil, fmt.Errorf("the stand-in chain file %s is corrupt (%v); it was left untouched: move it away to start a new, empty chain (its balances are synthetic)", path, err)
	}
	c.st = st
	return c, nil
}

// decodeChain parses and checks a persisted chain.
func decodeChain(b []byte) (memChainState, error) {
	var st memChainState
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return st, err
	}
	if dec.More() {
		return st, errors.New("trailing data after the JSON document")
	}
	if st.Version != memChainVersion {
		return st, fmt.Errorf("version %d, want %d", st.Version, memChainVersion)
	}
	if st.Balances == nil {
		st.Balances = map[string]int64{}
	}
	for a, v := range st.Balances {
		if v < 0 {
			return st, fmt.Errorf("negative balance %d of %s", v, a)
		}
	}
	var last uint64
	for _, tx := range st.Txs {
		if tx.LT <= last || tx.LT > st.LastLT {
			return st, fmt.Errorf("transaction lt %d out of order (last_lt %d)", tx.LT, st.LastLT)
		}
		if tx.Amount < 0 || tx.Fee < 0 {
			return st, fmt.Errorf("transaction lt %d: negative amount or fee", tx.LT)
		}
		last = tx.LT
	}
	return st, nil
}

// Balance implements Chain.
func (c *MemChain) Balance(ctx context.Context, addr string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Balances[addr], nil
}

// Transfer implements Chain.
func (c *MemChain) Transfer(ctx context.Context, from, to string, amount, fee int64, memo string) (Tx, error) {
	if err := ctx.Err(); err != nil {
		return Tx{}, err
	}
	switch {
	case from == "" || to == "":
		return Tx{}, errors.New("stand-in chain: transfer needs both a sender and a receiver address")
	case amount < 0 || fee < 0:
		return Tx{}, fmt.Errorf("stand-in chain: transfer of %d with fee %d: amounts must not be negative", amount, fee)
	case amount > math.MaxInt64-fee:
		return Tx{}, errors.New("stand-in chain: transfer amount too large")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if have := c.st.Balances[from]; have < amount+fee {
		return Tx{}, fmt.Errorf("stand-in chain: %s holds %s TON, needs %s (amount %s + fee %s): %w",
			from, formatTON(have), formatTON(amount+fee), formatTON(amount), formatTON(fee), ErrInsufficientFunds)
	}
	if c.st.Balances[to] > math.MaxInt64-amount {
		return Tx{}, errors.New("stand-in chain: receiver balance would overflow")
	}
	return c.applyLocked(Tx{From: from, To: to, Amount: amount, Fee: fee, Memo: memo})
}

// Mint implements Chain.
func (c *MemChain) Mint(ctx context.Context, to string, amount int64, memo string) (Tx, error) {
	if err := ctx.Err(); err != nil {
		return Tx{}, err
	}
	if to == "" || amount < 0 {
		return Tx{}, fmt.Errorf("stand-in chain: mint %d to %q: needs an address and a non-negative amount", amount, to)
	}
	if !strings.Contains(memo, "faucet") {
		memo = strings.TrimSpace("dev faucet (synthetic) " + memo)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.Balances[to] > math.MaxInt64-amount {
		return Tx{}, errors.New("stand-in chain: balance would overflow")
	}
	return c.applyLocked(Tx{To: to, Amount: amount, Memo: memo})
}

// applyLocked books tx (already checked) and persists the chain; when the
// write fails, the change is undone and the error returned.
func (c *MemChain) applyLocked(tx Tx) (Tx, error) {
	tx.LT = c.st.LastLT + 1
	tx.Time = c.now().UTC()
	tx.Hash = txHash(tx)
	oldFrom, oldTo := c.st.Balances[tx.From], c.st.Balances[tx.To]
	if tx.From != "" {
		c.st.Balances[tx.From] -= tx.Amount + tx.Fee
	}
	c.st.Balances[tx.To] += tx.Amount
	c.st.Txs = append(c.st.Txs, tx)
	c.st.LastLT = tx.LT
	if err := c.saveLocked(); err != nil {
		if tx.From != "" {
			c.st.Balances[tx.From] = oldFrom
		}
		c.st.Balances[tx.To] = oldTo
		c.st.Txs = c.st.Txs[:len(c.st.Txs)-1]
		c.st.LastLT--
		return Tx{}, fmt.Errorf("stand-in chain: %w", err)
	}
	return tx, nil
}

func (c *MemChain) saveLocked() error {
	if c.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(&c.st, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(c.path, append(b, '\n'))
}

// Transactions implements Chain.
func (c *MemChain) Transactions(ctx context.Context, addr string, afterLT uint64) ([]Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Tx
	for _, tx := range c.st.Txs {
		if tx.LT > afterLT && (tx.From == addr || tx.To == addr) {
			out = append(out, tx)
		}
	}
	return out, nil
}

// txHash derives a transaction hash from its fields.
func txHash(tx Tx) string {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], tx.LT)
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(tx.Time.UnixNano()))
	h.Write(b[:])
	for _, s := range []string{tx.From, tx.To, tx.Memo} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	binary.BigEndian.PutUint64(b[:], uint64(tx.Amount))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(tx.Fee))
	h.Write(b[:])
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// formatTON prints nanoTON as TON with up to 9 decimals.
func formatTON(n int64) string {
	sign := ""
	u := uint64(n)
	if n < 0 {
		sign, u = "-", uint64(-n)
	}
	s := fmt.Sprintf("%s%d.%09d", sign, u/nanoPerTON, u%nanoPerTON)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
