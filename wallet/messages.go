package wallet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/tonkeeper/tongo/boc"
	tongotlb "github.com/tonkeeper/tongo/tlb"
	tongowallet "github.com/tonkeeper/tongo/wallet"
	"github.com/xssnick/tonutils-go/tlb"
	tonwallet "github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Send modes of an internal message (the mode byte next to it in a wallet
// external, or inside owner_wallet_send_message).
const (
	ModePayGasSeparately uint8 = 1   // fees on top of the amount
	ModeIgnoreErrors     uint8 = 2   // skip the message instead of failing the action phase
	ModeCarryAllBalance  uint8 = 128 // send the whole remaining balance
	// DefaultSendMode is what wallet apps (and tonutils-go's BuildTransfer) use.
	//
	// Mode-3 pitfall: with IgnoreErrors, a transfer the balance cannot
	// cover is silently skipped, yet the wallet accepts the external,
	// bumps its seqno and charges fees. Confirm a transfer by finding the
	// transaction (SignedExternal.InMsgHash) and checking its outgoing
	// messages, never by the seqno alone.
	DefaultSendMode = ModePayGasSeparately | ModeIgnoreErrors
)

// Cocoon opcodes a provider deals with (Cocoon's Opcodes.hpp).
const (
	OpExcesses               uint32 = 0x2565934c // returned gas; the cocoon wallet keeps it
	OpPayout                 uint32 = 0xc59a7cd3 // earnings payment
	OpDoNotProcess           uint32 = 0x9a1247c0
	OpOwnerWalletSendMessage uint32 = 0x9c69f376 // owner → cocoon wallet: send this message
	OpWorkerPayoutSigned     uint32 = 0xa040ad28
	OpWorkerPayoutSignedLast uint32 = 0xf5f26a36
)

// Cocoon wallet owner commands: op 0 and exactly one byte of text.
const (
	CommandWithdraw byte = 'w' // send everything but 0.01 TON to the owner
	CommandBlock    byte = 'b' // block the node key (externals fail with 1031)
	CommandUnblock  byte = 'u' // unblock it
)

// CommandAttachNano is what the app attaches to an owner command (0.05
// TON): it pays the cocoon wallet's gas; a withdrawal returns the rest with
// the balance, and a failed command bounces back.
const CommandAttachNano int64 = 50_000_000

// CocoonWalletMinBalanceNano is the balance below which the cocoon wallet
// refuses the node's externals (exit 1035); the node waits for 2.1 TON.
const (
	CocoonWalletMinBalanceNano   int64 = 2 * NanoPerTON
	CocoonWalletNodeWaitsForNano int64 = 2_100_000_000
)

// Transfer is one internal message sent by a wallet.
type Transfer struct {
	To     Address
	Amount int64 // nanoTON, ≥ 0
	// Bounce asks the destination to return the value if it fails. Off
	// for transfers to wallets that may not be deployed yet (the cocoon
	// wallet before the node deploys it), on for contract commands.
	Bounce bool
	Mode   uint8
	// Comment is a text comment (op 0 + text). Body, if set, is a
	// custom body instead; at most one of the two.
	Comment string
	Body    *cell.Cell
}

// NewTransfer returns a plain transfer with DefaultSendMode and the
// bounce flag of to's form as typed (UQ… non-bounceable, EQ… bounceable).
func NewTransfer(to Address, amountNano int64, comment string) Transfer {
	return Transfer{To: to, Amount: amountNano, Bounce: to.Bounceable(), Mode: DefaultSendMode, Comment: comment}
}

func (t Transfer) validate() error {
	switch {
	case t.To.IsZero():
		return errors.New("transfer: no destination address")
	case t.Amount < 0:
		return errors.New("transfer: negative amount")
	case t.Comment != "" && t.Body != nil:
		return errors.New("transfer: both a comment and a body")
	}
	return nil
}

// BodyCell returns the message body: the custom body, the comment cell,
// or nil for an empty body.
func (t Transfer) BodyCell() (*cell.Cell, error) {
	if t.Body != nil {
		return t.Body, nil
	}
	if t.Comment == "" {
		return nil, nil
	}
	c, err := tonwallet.CreateCommentCell(t.Comment)
	if err != nil {
		return nil, fmt.Errorf("comment: %w", err)
	}
	return c, nil
}

// InternalMessage returns the tonutils-go internal message (source left
// empty: the sending contract fills it in).
func (t Transfer) InternalMessage() (*tlb.InternalMessage, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	body, err := t.BodyCell()
	if err != nil {
		return nil, err
	}
	return &tlb.InternalMessage{
		IHRDisabled: true,
		Bounce:      t.Bounce,
		DstAddr:     t.To.Tonutils(),
		Amount:      tlb.FromNanoTONU(uint64(t.Amount)),
		Body:        body,
	}, nil
}

// commandBody is op 0 followed by one byte of text.
func commandBody(c byte) *cell.Cell {
	return cell.BeginCell().MustStoreUInt(0, 32).MustStoreUInt(uint64(c), 8).EndCell()
}

// WithdrawBody is the "w" command: the cocoon wallet keeps 0.01 TON and
// sends the rest to its owner.
func WithdrawBody() *cell.Cell { return commandBody(CommandWithdraw) }

// BlockBody is the "b" command: the cocoon wallet refuses the node key's
// externals until unblocked.
func BlockBody() *cell.Cell { return commandBody(CommandBlock) }

// UnblockBody is the "u" command.
func UnblockBody() *cell.Cell { return commandBody(CommandUnblock) }

// OwnerSendMessageBody is owner_wallet_send_message: op 0x9c69f376 ‖
// query_id u64 ‖ mode u8 ‖ ^message; the cocoon wallet sends msg as is
// with mode. The cocoon wallet does not apply its 2 TON floor to these.
func OwnerSendMessageBody(queryID uint64, mode uint8, msg *tlb.InternalMessage) (*cell.Cell, error) {
	if msg == nil {
		return nil, errors.New("owner send message: no message")
	}
	mc, err := tlb.ToCell(msg)
	if err != nil {
		return nil, fmt.Errorf("owner send message: %w", err)
	}
	return cell.BeginCell().
		MustStoreUInt(uint64(OpOwnerWalletSendMessage), 32).
		MustStoreUInt(queryID, 64).
		MustStoreUInt(uint64(mode), 8).
		MustStoreRef(mc).
		EndCell(), nil
}

// commandTransfer is an owner command to the cocoon wallet: bounceable (a
// failed command returns the value), 0.05 TON attached. A one-letter
// command is written as the text comment, whose cell is exactly the
// command body (op 0 + one byte), so a ton:// link can carry it as text=.
func commandTransfer(cocoon Address, body *cell.Cell) Transfer {
	t := Transfer{To: cocoon.WithFlags(true, cocoon.testnet), Amount: CommandAttachNano, Bounce: true, Mode: DefaultSendMode}
	if body.BitsSize() == 40 && body.RefsNum() == 0 {
		s := body.BeginParse()
		if op, _ := s.LoadUInt(32); op == 0 {
			c, _ := s.LoadUInt(8)
			t.Comment = string(rune(c))
			return t
		}
	}
	t.Body = body
	return t
}

// WithdrawTransfer is the owner's "w" to the cocoon wallet: everything
// but 0.01 TON comes back to the owner.
func WithdrawTransfer(cocoon Address) Transfer { return commandTransfer(cocoon, WithdrawBody()) }

// BlockTransfer is the owner's "b" ("freeze node key").
func BlockTransfer(cocoon Address) Transfer { return commandTransfer(cocoon, BlockBody()) }

// UnblockTransfer is the owner's "u".
func UnblockTransfer(cocoon Address) Transfer { return commandTransfer(cocoon, UnblockBody()) }

// PartialWithdrawTransfer asks the cocoon wallet (owner_wallet_send_message)
// to send amountNano to owner with mode 1 (fees paid by the cocoon wallet),
// non-bounceable. It can take the cocoon wallet below the 2 TON the node
// needs; the caller should warn.
func PartialWithdrawTransfer(cocoon, owner Address, amountNano int64, queryID uint64) (Transfer, error) {
	inner := Transfer{To: owner.WithFlags(false, owner.testnet), Amount: amountNano, Mode: ModePayGasSeparately}
	im, err := inner.InternalMessage()
	if err != nil {
		return Transfer{}, fmt.Errorf("partial withdrawal: %w", err)
	}
	body, err := OwnerSendMessageBody(queryID, inner.Mode, im)
	if err != nil {
		return Transfer{}, err
	}
	return commandTransfer(cocoon, body), nil
}

// TopUpTransfer funds the cocoon wallet: non-bounceable (it is not
// deployed until the node has 2.1 TON there) and with an EMPTY body. Never
// add a comment: the cocoon wallet treats any other body from a stranger
// as a command (exit 1040), and from the owner as an unknown command.
func TopUpTransfer(cocoon Address, amountNano int64) Transfer {
	return Transfer{To: cocoon.WithFlags(false, cocoon.testnet), Amount: amountNano, Bounce: false, Mode: DefaultSendMode}
}

// SignedExternal is a signed external message to the owner wallet, ready
// to send.
type SignedExternal struct {
	From          Address
	Version       WalletVersion
	Seqno         uint32
	WithStateInit bool // deploys the wallet (first transfer)
	ValidUntil    time.Time
	Transfers     []Transfer
	Message       *tlb.ExternalMessage
	Cell          *cell.Cell // tlb.ToCell(Message)
	BOC           []byte     // Cell as a bag of cells, for sending
	// InMsgHash is Message.Body.Hash(): what
	// FindLastTransactionByInMsgHash matches. Keep it to confirm the
	// transfer by its transaction and outgoing messages (see
	// DefaultSendMode for why seqno is not enough).
	InMsgHash []byte
	// NormalizedHash is the normalized message hash indexers show.
	NormalizedHash []byte
}

// SignTransfers signs ts (at most 4 for V4R2, 255 for V5R1) as one
// external message from the owner wallet with tonutils-go's
// PrepareExternalMessageForMany. seqno is the wallet's current seqno (from
// the chain client; 0 for an undeployed wallet). deployed=false attaches
// the StateInit so the message deploys the wallet. The message is valid
// for tonutils-go's default 180 s. Before returning, the signed bytes are
// decoded with tongo, an independent implementation, and checked against
// ts and the owner's public key (CheckSignedExternal).
func (o Owner) SignTransfers(ctx context.Context, seqno uint32, deployed bool, ts ...Transfer) (*SignedExternal, error) {
	if !o.CanSign() {
		return nil, errors.New("sign: the app does not hold this owner wallet's key; use a ton:// link in your wallet app instead")
	}
	if len(ts) == 0 {
		return nil, errors.New("sign: no transfers")
	}
	if limit := o.Version.MaxMessages(); len(ts) > limit {
		return nil, fmt.Errorf("sign: a %s wallet sends at most %d messages at once, asked for %d", o.Version, limit, len(ts))
	}
	if !deployed && seqno != 0 {
		return nil, fmt.Errorf("sign: an undeployed wallet has seqno 0, not %d", seqno)
	}
	msgs := make([]*tonwallet.Message, len(ts))
	for i, t := range ts {
		im, err := t.InternalMessage()
		if err != nil {
			return nil, fmt.Errorf("sign: message %d: %w", i+1, err)
		}
		msgs[i] = &tonwallet.Message{Mode: t.Mode, InternalMessage: im}
	}
	cfg, err := o.Version.tonutilsConfig(o.Network)
	if err != nil {
		return nil, err
	}
	w, err := tonwallet.FromPrivateKey(nil, o.key.private(), cfg)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	fetch := func(context.Context, uint32) (uint32, error) { return seqno, nil }
	switch spec := w.GetSpec().(type) {
	case *tonwallet.SpecV4R2:
		spec.SetSeqnoFetcher(fetch)
	case *tonwallet.SpecV5R1Final:
		spec.SetSeqnoFetcher(fetch)
	default:
		return nil, fmt.Errorf("sign: unexpected wallet spec %T", spec)
	}
	if got, _ := AddressFromTonutils(w.WalletAddress()); !got.Equal(o.Address) {
		return nil, fmt.Errorf("sign: the key's %s wallet is %s, not the owner address %s", o.Version, got, o.Address)
	}
	ext, err := w.PrepareExternalMessageForMany(ctx, !deployed, msgs)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	c, err := tlb.ToCell(ext)
	if err != nil {
		return nil, fmt.Errorf("sign: serialize: %w", err)
	}
	s := &SignedExternal{
		From:           o.Address,
		Version:        o.Version,
		Seqno:          seqno,
		WithStateInit:  !deployed,
		Transfers:      append([]Transfer(nil), ts...),
		Message:        ext,
		Cell:           c,
		BOC:            c.ToBOC(),
		InMsgHash:      ext.Body.Hash(),
		NormalizedHash: ext.NormalizedHash(),
	}
	if err := CheckSignedExternal(s, o.PublicKey()); err != nil {
		return nil, fmt.Errorf("sign: self-check failed: %w", err)
	}
	return s, nil
}

// CheckSignedExternal decodes s.BOC with tongo (pure Go, independent of
// tonutils-go which built it) and checks: the signature against pub, the
// destination wallet, the StateInit presence, the seqno, and for each
// outgoing message its destination, amount, mode, bounce flag and body.
// It fills s.ValidUntil.
func CheckSignedExternal(s *SignedExternal, pub ed25519.PublicKey) error {
	ver, err := s.Version.tongoVersion()
	if err != nil {
		return err
	}
	roots, err := boc.DeserializeBoc(s.BOC)
	if err != nil {
		return fmt.Errorf("decode external: %w", err)
	}
	if len(roots) != 1 {
		return fmt.Errorf("decode external: %d roots, want 1", len(roots))
	}
	root := roots[0]
	if err := tongowallet.VerifySignature(ver, root, pub); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	root.ResetCounters()
	var m tongotlb.Message
	if err := tongotlb.Unmarshal(root, &m); err != nil {
		return fmt.Errorf("decode external: %w", err)
	}
	if m.Info.SumType != "ExtInMsgInfo" || m.Info.ExtInMsgInfo == nil {
		return errors.New("not an external inbound message")
	}
	if err := sameAddress(m.Info.ExtInMsgInfo.Dest, s.From); err != nil {
		return fmt.Errorf("external destination: %w", err)
	}
	if m.Init.Exists != s.WithStateInit {
		return fmt.Errorf("StateInit present = %v, want %v", m.Init.Exists, s.WithStateInit)
	}
	seqno, validUntil, err := walletHeader(s.Version, m.Body.Value)
	if err != nil {
		return err
	}
	if seqno != s.Seqno {
		return fmt.Errorf("seqno %d, want %d", seqno, s.Seqno)
	}
	s.ValidUntil = time.Unix(int64(validUntil), 0)
	root.ResetCounters()
	raws, err := tongowallet.ExtractRawMessages(ver, root)
	if err != nil {
		return fmt.Errorf("decode messages: %w", err)
	}
	if len(raws) != len(s.Transfers) {
		return fmt.Errorf("%d messages, want %d", len(raws), len(s.Transfers))
	}
	// V5R1 keeps its actions as a linked list, newest first.
	if s.Version == V5R1 {
		for i, j := 0, len(raws)-1; i < j; i, j = i+1, j-1 {
			raws[i], raws[j] = raws[j], raws[i]
		}
	}
	for i, raw := range raws {
		if err := checkRawMessage(raw, s.Transfers[i]); err != nil {
			return fmt.Errorf("message %d: %w", i+1, err)
		}
	}
	return nil
}

// walletHeader reads seqno and valid_until from a signed wallet body.
func walletHeader(v WalletVersion, body tongotlb.Any) (seqno, validUntil uint32, err error) {
	c := boc.Cell(body)
	c.ResetCounters()
	var skip int
	switch v {
	case V4R2:
		skip = 512 + 32 // signature, subwallet
	case V5R1:
		skip = 32 + 32 // op "sign", wallet_id
	}
	if err := c.Skip(skip); err != nil {
		return 0, 0, fmt.Errorf("wallet body: %w", err)
	}
	vu, err := c.ReadUint(32)
	if err != nil {
		return 0, 0, fmt.Errorf("wallet body: valid_until: %w", err)
	}
	sq, err := c.ReadUint(32)
	if err != nil {
		return 0, 0, fmt.Errorf("wallet body: seqno: %w", err)
	}
	return uint32(sq), uint32(vu), nil
}

func checkRawMessage(raw tongowallet.RawMessage, want Transfer) error {
	if raw.Mode != want.Mode {
		return fmt.Errorf("mode %d, want %d", raw.Mode, want.Mode)
	}
	raw.Message.ResetCounters()
	var m tongotlb.Message
	if err := tongotlb.Unmarshal(raw.Message, &m); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	info := m.Info.IntMsgInfo
	if m.Info.SumType != "IntMsgInfo" || info == nil {
		return errors.New("not an internal message")
	}
	if err := sameAddress(info.Dest, want.To); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	if int64(info.Value.Grams) != want.Amount {
		return fmt.Errorf("amount %d nanoTON, want %d", info.Value.Grams, want.Amount)
	}
	if info.Bounce != want.Bounce {
		return fmt.Errorf("bounce %v, want %v", info.Bounce, want.Bounce)
	}
	body, err := want.BodyCell()
	if err != nil {
		return err
	}
	if body == nil {
		body = cell.BeginCell().EndCell()
	}
	got := boc.Cell(m.Body.Value)
	got.ResetCounters()
	h, err := got.Hash()
	if err != nil {
		return fmt.Errorf("body hash: %w", err)
	}
	if !bytes.Equal(h, body.Hash()) {
		return errors.New("body differs from the one asked for")
	}
	return nil
}

func sameAddress(a tongotlb.MsgAddress, want Address) error {
	if a.SumType != "AddrStd" {
		return fmt.Errorf("%s, want %s", a.SumType, want.Raw())
	}
	if a.AddrStd.WorkchainId != want.workchain || [32]byte(a.AddrStd.Address) != want.hash {
		return fmt.Errorf("%d:%x…, want %s", a.AddrStd.WorkchainId, a.AddrStd.Address[:4], want.Raw())
	}
	return nil
}
