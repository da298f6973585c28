//go:build cgo && tvmemu

package tvmchain

import (
	"bytes"
	"math/big"
	"testing"

	gtlb "github.com/tonkeeper/tongo/tlb"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// A stack must cross the tonutils-go/tongo bridge unchanged both ways, in
// TVM order (tongo decodes stacks bottom-first but encodes top-first).
func TestStackBridgeKeepsOrder(t *testing.T) {
	var s tlb.Stack
	s.Push(big.NewInt(1))
	s.Push(cell.BeginCell().MustStoreUInt(0xabcd, 16).EndCell())
	s.Push(big.NewInt(-3))
	in, err := s.ToCell()
	if err != nil {
		t.Fatal(err)
	}
	g, err := stackToTongo(in)
	if err != nil {
		t.Fatal(err)
	}
	// tonutils-go's Stack is upside down: the value pushed first becomes
	// the cell's root, which is TVM's top of stack. tongo encodes its first
	// element as the root, so 1 must come first.
	if len(g) != 3 || g[0].SumType != "VmStkTinyInt" || g[0].VmStkTinyInt != 1 ||
		g[1].SumType != "VmStkCell" || g[2].VmStkTinyInt != -3 {
		t.Fatalf("tongo stack = %+v, want 1, cell, -3", g)
	}
	// Arguments: what stackToTongo returns, tvm.Emulator encodes as is.
	args, err := fromTongo(g)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(args.Hash(), in.Hash()) {
		t.Fatalf("arguments changed crossing the bridge:\n%s\n%s", in.Dump(), args.Dump())
	}
	// Results: tvm.Emulator decodes them as is, stackFromTongo encodes them.
	var decoded gtlb.VmStack
	if err := toTongo(in, &decoded); err != nil {
		t.Fatal(err)
	}
	res, err := stackFromTongo(decoded)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Hash(), in.Hash()) {
		t.Fatalf("results changed crossing the bridge:\n%s\n%s", in.Dump(), res.Dump())
	}
}
