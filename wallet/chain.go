package wallet

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Chain is everything the app reads from or writes to TON. LiteChain talks
// to liteservers (mainnet, testnet); wallet/tvmchain runs the same contracts
// in the TVM emulator for dev mode and tests.
type Chain interface {
	// Account returns the current state of addr. An address that has never
	// received anything is StatusNonExist with a zero balance, not an error.
	Account(ctx context.Context, addr *address.Address) (AccountState, error)
	// Transactions returns up to n transactions of addr, newest first,
	// starting with the transaction (fromLT, fromHash) itself; fromLT 0 starts
	// with the account's last transaction. Page backwards by passing the last
	// element's PrevLT and PrevHash; a PrevLT of 0 means there is nothing older.
	Transactions(ctx context.Context, addr *address.Address, fromLT uint64, fromHash []byte, n int) ([]Tx, error)
	// RunGetMethod runs a get-method on the current state. Results come back
	// in order as tonutils-go stack values (*big.Int, *cell.Cell, *cell.Slice,
	// []any for tuples, nil). An account that is not active gives
	// ErrNotDeployed; any other exit code but 0 and 1 gives *GetMethodError.
	RunGetMethod(ctx context.Context, addr *address.Address, method string, args ...any) ([]any, error)
	// Send hands a signed external message to the network and returns the
	// hash of its body, which WaitTx looks for. A message the contract
	// refuses to accept gives *RejectedError (errors.Is ErrRejected).
	Send(ctx context.Context, ext *tlb.ExternalMessage) (msgHash []byte, err error)
	// WaitTx waits until addr has a transaction whose inbound message body
	// has msgHash and returns it. It gives up when ctx ends, with
	// ErrTxNotFound. A returned Tx can still have skipped its actions: check
	// the outgoing messages (ConfirmTransfer), not the seqno.
	WaitTx(ctx context.Context, addr *address.Address, msgHash []byte) (Tx, error)
}

// AccountStatus is the life-cycle state of an account.
type AccountStatus string

const (
	StatusNonExist AccountStatus = "nonexist" // never received anything
	StatusUninit   AccountStatus = "uninit"   // has a balance, no code yet
	StatusActive   AccountStatus = "active"   // deployed
	StatusFrozen   AccountStatus = "frozen"   // frozen for unpaid storage
)

// AccountState is an account as the app needs it.
type AccountState struct {
	Status     AccountStatus
	Balance    int64      // nanoTON
	Code       *cell.Cell // nil unless active
	Data       *cell.Cell // nil unless active
	LastTxLT   uint64     // 0 when the account has no transactions
	LastTxHash []byte
}

// Deployed reports whether the account runs code.
func (a AccountState) Deployed() bool { return a.Status == StatusActive }

// MsgKind tells internal messages (carry value) from external ones.
type MsgKind string

const (
	MsgInternal    MsgKind = "internal"
	MsgExternalIn  MsgKind = "external-in"
	MsgExternalOut MsgKind = "external-out"
)

// TxMsg is a message a transaction received or sent.
type TxMsg struct {
	Kind     MsgKind
	Source   *address.Address // nil for external-in messages
	Dest     *address.Address // nil for external-out messages without one
	Amount   int64            // nanoTON; 0 for external messages
	Bounce   bool             // the sender asked for a bounce on failure
	Bounced  bool             // this message is a bounce
	HasOp    bool             // the body has at least 32 bits
	Op       uint32           // the first 32 bits of the body
	Comment  string           // text of an op-0 body, "" otherwise
	BodyHash []byte           // hash of the body cell (what WaitTx matches)
}

// Tx is one transaction of one account.
type Tx struct {
	LT       uint64
	Hash     []byte
	PrevLT   uint64 // 0 for the account's first transaction
	PrevHash []byte
	Now      time.Time
	Fees     int64  // total fees, nanoTON
	In       *TxMsg // nil for tick-tock and other message-less transactions
	Out      []TxMsg

	// Outcome of an ordinary transaction. Success needs both phases: a
	// wallet whose transfer was skipped (mode 3 with too little balance) has
	// a successful compute phase but SkippedActions > 0 and no Out.
	ComputeSkipped   bool
	ExitCode         int32 // compute phase exit code
	ActionResultCode int32
	TotalActions     int
	SkippedActions   int
	Aborted          bool
	Success          bool
}

// Errors the Chain implementations return.
var (
	ErrNotDeployed = errors.New("the account is not deployed yet")
	ErrRejected    = errors.New("the contract did not accept the message")
	ErrTxNotFound  = errors.New("no transaction for this message was found")
	// ErrTransferSkipped means the wallet processed the message but sent
	// nothing to the destination (mode 3 transfers are skipped, not failed,
	// when the balance is too small): the seqno moved on, the money did not.
	ErrTransferSkipped = errors.New("the wallet accepted the message but did not send the transfer")
	// ErrHistoryUnavailable means the liteserver no longer keeps older
	// transactions; an archive liteserver is needed for them.
	ErrHistoryUnavailable = errors.New("older transactions are not available from this liteserver")
)

// GetMethodError is a get-method that ended with an exit code other than 0 or 1.
type GetMethodError struct {
	Method   string
	ExitCode int32
}

func (e *GetMethodError) Error() string {
	return fmt.Sprintf("get-method %s failed with exit code %d", e.Method, e.ExitCode)
}

// RejectedError is an external message the contract did not accept: no
// transaction, no fee, the seqno unchanged.
type RejectedError struct {
	ExitCode int32  // TVM exit code; 0 when the reason was not a contract exit
	Detail   string // the emulator's or liteserver's text, for logs
}

func (e *RejectedError) Error() string {
	if e.ExitCode == 0 {
		return fmt.Sprintf("%v: %s", ErrRejected, e.Detail)
	}
	if hint := ExitCodeHint(e.ExitCode); hint != "" {
		return fmt.Sprintf("%v (exit code %d: %s)", ErrRejected, e.ExitCode, hint)
	}
	return fmt.Sprintf("%v (exit code %d)", ErrRejected, e.ExitCode)
}

// Is makes errors.Is(err, ErrRejected) true.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// ExitCodeHint explains the exit codes wallets use to refuse an external
// message (standard wallets v4 and v5, and the cocoon wallet), or "".
func ExitCodeHint(code int32) string {
	switch code {
	case 33, 133, 1032:
		return "wrong seqno: this message was already sent, or another one got in first; build it again with the current seqno"
	case 34, 134:
		return "wrong subwallet id"
	case 1033:
		return "wrong subwallet id (the cocoon wallet uses 0)"
	case 35, 135, 1034:
		return "bad signature: the message was not signed with this wallet's key"
	case 36, 136, 1030:
		return "the message expired before it reached the chain; build it again"
	case 132:
		return "signing with the key is disabled for this wallet"
	case 1031:
		return "the owner has blocked the node key of this cocoon wallet"
	case 1035:
		return "the cocoon wallet keeps at least 2 TON; top it up first"
	}
	return ""
}

// ConfirmTransfer checks that tx sent amount nanoTON to dest. Use it after
// WaitTx: a wallet that runs out of balance still accepts the message and
// consumes the seqno, but sends nothing (ErrTransferSkipped). The amount
// must match exactly, which holds for transfers that pay fees separately
// (mode 1 or 3, what BuildTransfer makes).
func ConfirmTransfer(tx Tx, dest *address.Address, amount int64) (TxMsg, error) {
	for _, m := range tx.Out {
		if m.Kind != MsgInternal || m.Dest == nil || !m.Dest.Equals(dest) {
			continue
		}
		if m.Amount != amount {
			return m, fmt.Errorf("the transfer to %s carried %d nanoTON, not %d", dest.String(), m.Amount, amount)
		}
		return m, nil
	}
	if tx.SkippedActions > 0 || tx.ActionResultCode != 0 {
		return TxMsg{}, fmt.Errorf("%w to %s (%d of %d actions skipped, action result code %d; most likely the balance was too small)",
			ErrTransferSkipped, dest.String(), tx.SkippedActions, tx.TotalActions, tx.ActionResultCode)
	}
	if !tx.Success {
		return TxMsg{}, fmt.Errorf("%w to %s (the transaction failed with exit code %d)", ErrTransferSkipped, dest.String(), tx.ExitCode)
	}
	return TxMsg{}, fmt.Errorf("%w to %s", ErrTransferSkipped, dest.String())
}

// AccountStateFromTLB converts an account as tonutils-go reads it
// (ton.APIClient.GetAccount). acc.IsActive false means the account does not
// exist.
func AccountStateFromTLB(acc *tlb.Account) (AccountState, error) {
	if acc == nil || !acc.IsActive || acc.State == nil || !acc.State.IsValid {
		return AccountState{Status: StatusNonExist}, nil
	}
	bal, err := nano(acc.State.Balance)
	if err != nil {
		return AccountState{}, fmt.Errorf("account balance: %w", err)
	}
	st := AccountState{
		Balance:    bal,
		LastTxLT:   acc.LastTxLT,
		LastTxHash: acc.LastTxHash,
	}
	switch acc.State.Status {
	case tlb.AccountStatusActive:
		st.Status = StatusActive
		st.Code, st.Data = acc.Code, acc.Data
	case tlb.AccountStatusFrozen:
		st.Status = StatusFrozen
	case tlb.AccountStatusUninit:
		st.Status = StatusUninit
	default:
		st.Status = StatusNonExist
	}
	return st, nil
}

// AccountStateFromShardAccount converts a ShardAccount cell (the account
// cell plus the last transaction's hash and LT), the form emulators keep.
func AccountStateFromShardAccount(c *cell.Cell) (AccountState, error) {
	var sa tlb.ShardAccount
	if err := tlb.LoadFromCell(&sa, c.BeginParse()); err != nil {
		return AccountState{}, fmt.Errorf("parse shard account: %w", err)
	}
	var st tlb.AccountState
	if err := st.LoadFromCell(sa.Account.BeginParse()); err != nil {
		return AccountState{}, fmt.Errorf("parse account: %w", err)
	}
	acc := &tlb.Account{IsActive: st.IsValid, State: &st, LastTxLT: sa.LastTransLT, LastTxHash: sa.LastTransHash}
	if st.IsValid && st.Status == tlb.AccountStatusActive && st.StateInit != nil {
		acc.Code, acc.Data = st.StateInit.Code, st.StateInit.Data
	}
	return AccountStateFromTLB(acc)
}

// TxFromTLB converts a transaction as tonutils-go parses it (its Hash must
// be set, as ListTransactions does).
func TxFromTLB(t *tlb.Transaction) (Tx, error) {
	fees, err := nano(t.TotalFees.Coins)
	if err != nil {
		return Tx{}, fmt.Errorf("transaction fees: %w", err)
	}
	tx := Tx{
		LT:       t.LT,
		Hash:     t.Hash,
		PrevLT:   t.PrevTxLT,
		PrevHash: t.PrevTxHash,
		Now:      time.Unix(int64(t.Now), 0).UTC(),
		Fees:     fees,
	}
	if t.IO.In != nil {
		in, err := msgFromTLB(t.IO.In)
		if err != nil {
			return Tx{}, fmt.Errorf("inbound message: %w", err)
		}
		tx.In = &in
	}
	if t.IO.Out != nil {
		out, err := t.IO.Out.ToSlice()
		if err != nil {
			return Tx{}, fmt.Errorf("outgoing messages: %w", err)
		}
		for i := range out {
			m, err := msgFromTLB(&out[i])
			if err != nil {
				return Tx{}, fmt.Errorf("outgoing message %d: %w", i, err)
			}
			tx.Out = append(tx.Out, m)
		}
	}
	outcomeFromTLB(&tx, t.Description)
	return tx, nil
}

func outcomeFromTLB(tx *Tx, desc any) {
	var d *tlb.TransactionDescriptionOrdinary
	switch v := desc.(type) {
	case tlb.TransactionDescriptionOrdinary:
		d = &v
	case *tlb.TransactionDescriptionOrdinary:
		d = v
	default:
		// Tick-tock, storage, split and merge transactions move no user funds.
		tx.Success = true
		return
	}
	tx.Aborted = d.Aborted
	computeOK := false
	switch p := d.ComputePhase.Phase.(type) {
	case tlb.ComputePhaseVM:
		tx.ExitCode, computeOK = p.Details.ExitCode, p.Success
	case *tlb.ComputePhaseVM:
		tx.ExitCode, computeOK = p.Details.ExitCode, p.Success
	default:
		tx.ComputeSkipped = true
	}
	actionOK := true
	if a := d.ActionPhase; a != nil {
		tx.ActionResultCode = a.ResultCode
		tx.TotalActions = int(a.TotalActions)
		tx.SkippedActions = int(a.SkippedActions)
		actionOK = a.Success && a.SkippedActions == 0
	}
	// A skipped compute phase is normal for a plain deposit to an account
	// without code; the value is credited all the same.
	tx.Success = !d.Aborted && actionOK && (computeOK || tx.ComputeSkipped)
}

func msgFromTLB(m *tlb.Message) (TxMsg, error) {
	var out TxMsg
	switch v := m.Msg.(type) {
	case *tlb.InternalMessage:
		amt, err := nano(v.Amount)
		if err != nil {
			return TxMsg{}, fmt.Errorf("message value: %w", err)
		}
		out = TxMsg{Kind: MsgInternal, Source: std(v.SrcAddr), Dest: std(v.DstAddr), Amount: amt, Bounce: v.Bounce, Bounced: v.Bounced}
	case *tlb.ExternalMessage:
		out = TxMsg{Kind: MsgExternalIn, Dest: std(v.DstAddr)}
	case *tlb.ExternalMessageOut:
		out = TxMsg{Kind: MsgExternalOut, Source: std(v.SrcAddr), Dest: std(v.DstAddr)}
	default:
		return TxMsg{}, fmt.Errorf("unknown message type %T", m.Msg)
	}
	body := m.Msg.Payload()
	if body == nil {
		body = cell.BeginCell().EndCell()
	}
	out.BodyHash = body.Hash()
	s := body.BeginParse()
	if s.BitsLeft() >= 32 {
		op, _ := s.LoadUInt(32)
		out.HasOp, out.Op = true, uint32(op)
		if op == 0 {
			out.Comment, _ = s.LoadStringSnake()
		}
	}
	return out, nil
}

// std drops addr_none (and nil) so that callers only see real addresses.
func std(a *address.Address) *address.Address {
	if a == nil || a.IsAddrNone() {
		return nil
	}
	return a
}

var maxNano = big.NewInt(1<<63 - 1)

// nano converts coins to int64 nanoTON. All TON in existence fits; a larger
// value is corrupt data.
func nano(c tlb.Coins) (int64, error) {
	n := c.Nano()
	if n.Sign() < 0 || n.Cmp(maxNano) > 0 {
		return 0, fmt.Errorf("amount %s nanoTON is out of range", n)
	}
	return n.Int64(), nil
}
