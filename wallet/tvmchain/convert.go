//go:build cgo && tvmemu

package tvmchain

import (
	"encoding/base64"
	"fmt"
	"slices"

	"github.com/tonkeeper/tongo/boc"
	gtlb "github.com/tonkeeper/tongo/tlb"
	"github.com/tonkeeper/tongo/ton"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// The app speaks tonutils-go types; the emulator takes tongo's. Both sides
// agree on the bag-of-cells bytes, so every crossing goes through a BOC.

// toTongoCell converts a tonutils-go cell.
func toTongoCell(c *cell.Cell) (*boc.Cell, error) {
	cells, err := boc.DeserializeBoc(c.ToBOC())
	if err != nil {
		return nil, err
	}
	if len(cells) != 1 {
		return nil, boc.ErrNotSingleRoot
	}
	return cells[0], nil
}

// toTongo decodes a tonutils-go cell into a tongo TL-B value.
func toTongo(c *cell.Cell, v any) error {
	gc, err := toTongoCell(c)
	if err != nil {
		return err
	}
	return gtlb.Unmarshal(gc, v)
}

// fromTongo encodes a tongo TL-B value as a tonutils-go cell.
func fromTongo(v any) (*cell.Cell, error) {
	gc := boc.NewCell()
	if err := gtlb.Marshal(gc, v); err != nil {
		return nil, err
	}
	raw, err := gc.ToBoc()
	if err != nil {
		return nil, err
	}
	return cell.FromBOC(raw)
}

// txFromBase64 parses the emulator's transaction BOC with tonutils-go, so
// that the app sees the same types as from a liteserver.
func txFromBase64(b64 string) (*tlb.Transaction, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	c, err := cell.FromBOC(raw)
	if err != nil {
		return nil, err
	}
	var tx tlb.Transaction
	if err := tlb.LoadFromCell(&tx, c.BeginParse()); err != nil {
		return nil, err
	}
	tx.Hash = c.Hash()
	return &tx, nil
}

// tongo's VmStack decodes into bottom-first order but encodes its first
// element as the top of the stack, so a decoded stack is reversed before it
// is encoded again; these two keep stacks in TVM order across the bridge.

// stackToTongo converts a VmStack cell (tonutils-go tlb.Stack.ToCell).
func stackToTongo(c *cell.Cell) (gtlb.VmStack, error) {
	var s gtlb.VmStack
	if err := toTongo(c, &s); err != nil {
		return nil, err
	}
	slices.Reverse(s)
	return s, nil
}

// stackFromTongo converts a stack tongo decoded (tvm.Emulator results).
func stackFromTongo(s gtlb.VmStack) (*cell.Cell, error) {
	r := slices.Clone(s)
	slices.Reverse(r)
	return fromTongo(r)
}

func accountID(a *address.Address) (ton.AccountID, error) {
	if a == nil || a.Type() != address.StdAddress || len(a.Data()) != 32 {
		return ton.AccountID{}, fmt.Errorf("%v is not a standard address", a)
	}
	return ton.AccountID{Workchain: a.Workchain(), Address: [32]byte(a.Data())}, nil
}

func tonutilsAddr(id ton.AccountID) *address.Address {
	return address.NewAddress(0, byte(id.Workchain), id.Address[:])
}

// requiredParams are the config parameters without which the emulator
// crashes (0) or refuses every transaction (18, 20, 21, 24, 25), found by
// dropping each parameter of txemulator.DefaultConfig in turn.
var requiredParams = []uint32{0, 18, 20, 21, 24, 25}

// parseConfig checks a blockchain config (base64 BOC of the Hashmap 32 ^Cell
// dictionary) before libemulator sees it: an invalid one makes the C++ code
// abort the whole process instead of returning an error.
func parseConfig(b64 string) (*boc.Cell, error) {
	root, err := boc.DeserializeSinglRootBase64(b64)
	if err != nil {
		return nil, fmt.Errorf("blockchain config is not a base64 bag of cells: %w", err)
	}
	var dict gtlb.Hashmap[gtlb.Uint32, gtlb.Ref[boc.Cell]]
	if err := gtlb.Unmarshal(root, &dict); err != nil {
		return nil, fmt.Errorf("blockchain config is not a dictionary of config parameters: %w", err)
	}
	if _, err := ton.ConvertBlockchainConfigStrict(gtlb.ConfigParams{Config: dict}); err != nil {
		return nil, fmt.Errorf("blockchain config has a malformed parameter: %w", err)
	}
	keys := dict.Keys()
	for _, k := range requiredParams {
		if !slices.Contains(keys, gtlb.Uint32(k)) {
			return nil, fmt.Errorf("blockchain config lacks parameter %d, which the emulator needs", k)
		}
	}
	// A fresh copy: decoding moved the read cursors of root's cells.
	return boc.DeserializeSinglRootBase64(b64)
}
