package wallet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/tonkeeper/tongo/boc"
	tongotlb "github.com/tonkeeper/tongo/tlb"
	tongowallet "github.com/tonkeeper/tongo/wallet"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// decodedMsg is an outgoing message as tongo reads it.
type decodedMsg struct {
	mode    uint8
	dest    string // raw
	amount  int64
	bounce  bool
	comment string // "" when the body is not a text comment
	body    []byte // body cell hash
	hasInit bool
}

// decodeWithTongo verifies the external's signature and decodes its
// messages with tongo only (spec §6.1).
func decodeWithTongo(t *testing.T, s *SignedExternal, pub ed25519.PublicKey) (hasInit bool, msgs []decodedMsg) {
	t.Helper()
	ver, err := s.Version.tongoVersion()
	if err != nil {
		t.Fatal(err)
	}
	roots, err := boc.DeserializeBoc(s.BOC)
	if err != nil {
		t.Fatal(err)
	}
	if err := tongowallet.VerifySignature(ver, roots[0], pub); err != nil {
		t.Fatalf("signature: %v", err)
	}
	other := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	roots[0].ResetCounters()
	if err := tongowallet.VerifySignature(ver, roots[0], other); err == nil {
		t.Fatal("signature accepted for another key")
	}
	roots[0].ResetCounters()
	var ext tongotlb.Message
	if err := tongotlb.Unmarshal(roots[0], &ext); err != nil {
		t.Fatal(err)
	}
	body := boc.Cell(ext.Body.Value)
	if h, _ := body.Hash(); !bytes.Equal(h, s.InMsgHash) {
		t.Error("InMsgHash is not the hash of the external body")
	}
	roots[0].ResetCounters()
	raws, err := tongowallet.ExtractRawMessages(ver, roots[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range raws {
		var m tongotlb.Message
		if err := tongotlb.Unmarshal(r.Message, &m); err != nil {
			t.Fatal(err)
		}
		info := m.Info.IntMsgInfo
		d := decodedMsg{mode: r.Mode, amount: int64(info.Value.Grams), bounce: info.Bounce, hasInit: m.Init.Exists}
		d.dest = NewAddress(info.Dest.AddrStd.WorkchainId, [32]byte(info.Dest.AddrStd.Address), true, false).Raw()
		b := boc.Cell(m.Body.Value)
		b.ResetCounters()
		d.body, _ = b.Hash()
		b.ResetCounters()
		if op, err := b.ReadUint(32); err == nil && op == 0 {
			var text tongotlb.Text
			if err := tongotlb.Unmarshal(&b, &text); err == nil {
				d.comment = string(text)
			}
		}
		msgs = append(msgs, d)
	}
	return ext.Init.Exists, msgs
}

func TestSignTransfersVerifiedByTongo(t *testing.T) {
	k := vecKey(t)
	nk, _ := ParseNodeKey(vecNodeKey)
	dest, _ := ParseAddress("EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2N", Mainnet)
	for _, v := range []WalletVersion{V4R2, V5R1} {
		for _, net := range []Network{Mainnet, Testnet} {
			o := mustOwner(t, k, v, net)
			cocoon, err := CocoonWalletAddress(o.Address, nk.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			d := dest.WithFlags(true, net == Testnet)
			ts := []Transfer{
				NewTransfer(d, 500_000_000, "hello, world ✓"),
				TopUpTransfer(cocoon, 2_500_000_000),
				WithdrawTransfer(cocoon),
				NewTransfer(d.WithFlags(false, false), 1, ""),
			}
			for _, deployed := range []bool{true, false} {
				seqno := uint32(0)
				if deployed {
					seqno = 41
				}
				before := time.Now()
				s, err := o.SignTransfers(context.Background(), seqno, deployed, ts...)
				if err != nil {
					t.Fatalf("%s %s: %v", v, net, err)
				}
				if s.Seqno != seqno || s.WithStateInit == deployed || !s.From.Equal(o.Address) {
					t.Errorf("%s: header %+v", v, s)
				}
				if s.ValidUntil.Before(before.Add(170*time.Second)) || s.ValidUntil.After(time.Now().Add(190*time.Second)) {
					t.Errorf("valid until %v", s.ValidUntil)
				}
				if !bytes.Equal(s.InMsgHash, s.Message.Body.Hash()) || len(s.NormalizedHash) != 32 {
					t.Error("hashes")
				}
				hasInit, msgs := decodeWithTongo(t, s, o.PublicKey())
				if hasInit != !deployed {
					t.Errorf("%s deployed=%v: StateInit present %v", v, deployed, hasInit)
				}
				if len(msgs) != len(ts) {
					t.Fatalf("%d messages", len(msgs))
				}
				if v == V5R1 { // the action list is newest first
					for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
						msgs[i], msgs[j] = msgs[j], msgs[i]
					}
				}
				want := []decodedMsg{
					{mode: 3, dest: dest.Raw(), amount: 500_000_000, bounce: true, comment: "hello, world ✓"},
					{mode: 3, dest: cocoon.Raw(), amount: 2_500_000_000, bounce: false},
					{mode: 3, dest: cocoon.Raw(), amount: CommandAttachNano, bounce: true, comment: "w"},
					{mode: 3, dest: dest.Raw(), amount: 1, bounce: false},
				}
				empty := cell.BeginCell().EndCell().Hash()
				for i, w := range want {
					got := msgs[i]
					if got.mode != w.mode || got.dest != w.dest || got.amount != w.amount || got.bounce != w.bounce || got.comment != w.comment || got.hasInit {
						t.Errorf("%s %s message %d: %+v, want %+v", v, net, i+1, got, w)
					}
				}
				if !bytes.Equal(msgs[1].body, empty) || !bytes.Equal(msgs[3].body, empty) {
					t.Error("top-up / plain transfer has a body")
				}
				if !bytes.Equal(msgs[2].body, WithdrawBody().Hash()) {
					t.Error("withdraw body")
				}
			}
		}
	}
}

func TestSignTransfersRefuses(t *testing.T) {
	k := vecKey(t)
	o := mustOwner(t, k, V4R2, Mainnet)
	d, _ := ParseAddress(vecEQ, Mainnet)
	ctx := context.Background()
	five := make([]Transfer, 5)
	for i := range five {
		five[i] = NewTransfer(d, 1, "")
	}
	watch := WatchOwner(o.Address, Mainnet)
	other, _ := ParseAddress("EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2N", Mainnet)
	tests := []struct {
		name string
		o    Owner
		sq   uint32
		dep  bool
		ts   []Transfer
		says string
	}{
		{"watch-only", watch, 1, true, five[:1], "ton:// link"},
		{"none", o, 1, true, nil, "no transfers"},
		{"five on v4r2", o, 1, true, five, "at most 4"},
		{"undeployed seqno", o, 3, false, five[:1], "seqno 0"},
		{"negative", o, 1, true, []Transfer{NewTransfer(d, -1, "")}, "negative"},
		{"no destination", o, 1, true, []Transfer{{Amount: 1}}, "no destination"},
		{"comment and body", o, 1, true, []Transfer{{To: d, Comment: "x", Body: WithdrawBody()}}, "both"},
		{"wrong address", Owner{Address: other, Version: V4R2, Network: Mainnet, key: k}, 1, true, five[:1], "not the owner address"},
		{"wrong version", Owner{Address: o.Address, Version: V5R1, Network: Mainnet, key: k}, 1, true, five[:1], "not the owner address"},
	}
	for _, tt := range tests {
		if _, err := tt.o.SignTransfers(ctx, tt.sq, tt.dep, tt.ts...); err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.says)
		}
	}
	v5 := mustOwner(t, k, V5R1, Mainnet)
	if _, err := v5.SignTransfers(ctx, 1, true, five...); err != nil {
		t.Errorf("five on v5r1: %v", err)
	}
}

func TestCheckSignedExternalDetectsTampering(t *testing.T) {
	k := vecKey(t)
	o := mustOwner(t, k, V5R1, Mainnet)
	d, _ := ParseAddress(vecEQ, Mainnet)
	s, err := o.SignTransfers(context.Background(), 2, true, NewTransfer(d, 100, "x"))
	if err != nil {
		t.Fatal(err)
	}
	mutations := map[string]func(c *SignedExternal){
		"amount":  func(c *SignedExternal) { c.Transfers[0].Amount = 101 },
		"bounce":  func(c *SignedExternal) { c.Transfers[0].Bounce = false },
		"mode":    func(c *SignedExternal) { c.Transfers[0].Mode = 1 },
		"comment": func(c *SignedExternal) { c.Transfers[0].Comment = "y" },
		"dest":    func(c *SignedExternal) { c.Transfers[0].To = o.Address },
		"seqno":   func(c *SignedExternal) { c.Seqno = 3 },
		"init":    func(c *SignedExternal) { c.WithStateInit = true },
		"from":    func(c *SignedExternal) { c.From = d },
		"count":   func(c *SignedExternal) { c.Transfers = append(c.Transfers, c.Transfers[0]) },
		"bits": func(c *SignedExternal) {
			c.BOC = bytes.Clone(c.BOC)
			c.BOC[len(c.BOC)-40] ^= 1
		},
	}
	for name, mut := range mutations {
		c := *s
		c.Transfers = append([]Transfer(nil), s.Transfers...)
		mut(&c)
		if err := CheckSignedExternal(&c, o.PublicKey()); err == nil {
			t.Errorf("%s: tampering not detected", name)
		}
	}
	if err := CheckSignedExternal(s, ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)); err == nil {
		t.Error("wrong key accepted")
	}
	if err := CheckSignedExternal(s, o.PublicKey()); err != nil {
		t.Errorf("untouched: %v", err)
	}
}

func TestCocoonCommandBodies(t *testing.T) {
	for _, c := range []struct {
		body *cell.Cell
		want byte
	}{{WithdrawBody(), 'w'}, {BlockBody(), 'b'}, {UnblockBody(), 'u'}} {
		s := c.body.BeginParse()
		if c.body.BitsSize() != 40 || c.body.RefsNum() != 0 || s.MustLoadUInt(32) != 0 || byte(s.MustLoadUInt(8)) != c.want {
			t.Errorf("command %c: %s", c.want, c.body.Dump())
		}
		// Read back as a text comment, as explorers and wallets show it.
		if got := (&tlb.InternalMessage{Body: c.body}).Comment(); got != string(c.want) {
			t.Errorf("comment %q", got)
		}
	}
	owner, _ := ParseAddress(vecUQ, Mainnet)
	nk, _ := ParseNodeKey(vecNodeKey)
	cocoon, _ := CocoonWalletAddress(owner, nk.PublicKey())
	tr, err := PartialWithdrawTransfer(cocoon, owner, 1_500_000_000, 77)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Bounce || tr.Amount != CommandAttachNano || !tr.To.Equal(cocoon) || tr.Comment != "" {
		t.Errorf("partial withdrawal transfer %+v", tr)
	}
	s := tr.Body.BeginParse()
	if op := s.MustLoadUInt(32); uint32(op) != OpOwnerWalletSendMessage {
		t.Fatalf("op %x", op)
	}
	if q, m := s.MustLoadUInt(64), s.MustLoadUInt(8); q != 77 || m != uint64(ModePayGasSeparately) {
		t.Errorf("query %d mode %d", q, m)
	}
	var inner tlb.InternalMessage
	if err := tlb.LoadFromCell(&inner, s.MustLoadRef()); err != nil {
		t.Fatal(err)
	}
	innerTo, _ := AddressFromTonutils(inner.DstAddr)
	if !innerTo.Equal(owner) || inner.Bounce || inner.Amount.Nano().Int64() != 1_500_000_000 || !inner.SrcAddr.IsAddrNone() {
		t.Errorf("inner message to %s amount %s bounce %v", innerTo, inner.Amount, inner.Bounce)
	}
	// Cross-check the inner message with tongo too.
	roots, err := boc.DeserializeBoc(tr.Body.ToBOC())
	if err != nil {
		t.Fatal(err)
	}
	ref := roots[0].Refs()[0]
	var tm tongotlb.Message
	if err := tongotlb.Unmarshal(ref, &tm); err != nil || int64(tm.Info.IntMsgInfo.Value.Grams) != 1_500_000_000 {
		t.Errorf("tongo inner: %v", err)
	}
	if _, err := OwnerSendMessageBody(1, 0, nil); err == nil {
		t.Error("nil message accepted")
	}
	if _, err := PartialWithdrawTransfer(cocoon, owner, -5, 0); err == nil {
		t.Error("negative partial withdrawal")
	}
	top := TopUpTransfer(cocoon.WithFlags(true, false), 3)
	if top.Bounce || top.Body != nil || top.Comment != "" || top.To.Bounceable() {
		t.Errorf("top-up %+v", top)
	}
	for i, c := range []Transfer{WithdrawTransfer(cocoon), BlockTransfer(cocoon), UnblockTransfer(cocoon)} {
		if !c.Bounce || !c.To.Bounceable() || c.Mode != DefaultSendMode || c.Amount != CommandAttachNano {
			t.Errorf("command transfer %+v", c)
		}
		// The comment cell is exactly the command body.
		body, err := c.BodyCell()
		want := []*cell.Cell{WithdrawBody(), BlockBody(), UnblockBody()}[i]
		if err != nil || !bytes.Equal(body.Hash(), want.Hash()) {
			t.Errorf("command %d body differs from the command cell", i)
		}
	}
}

func TestTransferBody(t *testing.T) {
	d, _ := ParseAddress(vecUQ, Mainnet)
	tr := NewTransfer(d, 5, strings.Repeat("long comment ", 40)) // spans cells
	if tr.Bounce {
		t.Error("UQ destination bounces")
	}
	im, err := tr.InternalMessage()
	if err != nil {
		t.Fatal(err)
	}
	if im.Comment() != tr.Comment {
		t.Error("long comment does not read back")
	}
	if _, err := (Transfer{To: d, Amount: 1, Comment: "a", Body: WithdrawBody()}).InternalMessage(); err == nil {
		t.Error("comment and body")
	}
}
