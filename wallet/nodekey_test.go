package wallet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// §5.1 vector.
const (
	vecNodeKey      = "zVIPXLtemgI9uJ1j4sW6MhHPCKGjN0+xA0MNnsy3rSE="
	vecNodePubHex   = "30981c84225e3d43e9f3d0a82fc7e6b095baed165d58cb4a88b22d791fe2c1ed"
	vecCocoonUQ     = "UQDpp2wbpQmijjDQFS5Y7kpAF7MvIbTtHgWF2YxmNDbWXuBC"
	vecCocoonRaw    = "0:e9a76c1ba509a28e30d0152e58ee4a4017b32f21b4ed1e0585d98c663436d65e"
	vecNodeKeyInput = "cocoon node wallet key test vector"
)

func TestCocoonWalletVector(t *testing.T) {
	nk, err := ParseNodeKey(vecNodeKey)
	if err != nil {
		t.Fatal(err)
	}
	seed := sha256.Sum256([]byte(vecNodeKeyInput))
	if !bytes.Equal(nk.AppendSeed(nil), seed[:]) || nk.Base64() != vecNodeKey {
		t.Fatal("node key is not SHA-256 of the vector text")
	}
	if got := hex.EncodeToString(nk.PublicKey()); got != vecNodePubHex {
		t.Fatalf("node public key %s", got)
	}
	if got := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey); !bytes.Equal(got, nk.PublicKey()) {
		t.Fatal("public key is not ed25519.NewKeyFromSeed(seed).Public()")
	}
	for _, ownerText := range []string{vecRaw, vecUQ, vecEQ} {
		owner, err := ParseAddress(ownerText, Mainnet)
		if err != nil {
			t.Fatal(err)
		}
		cw, err := CocoonWalletAddress(owner, nk.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		if cw.Display() != vecCocoonUQ || cw.Raw() != vecCocoonRaw || cw.Bounceable() || cw.TestnetOnly() {
			t.Errorf("owner %s: cocoon wallet %s (%s)", ownerText, cw.Display(), cw.Raw())
		}
	}
	// A testnet owner: same account (flags play no part), printed 0Q….
	for _, ownerText := range []string{vecTestnetUQ, vecTestnetEQ, vecRaw} {
		owner, err := ParseAddress(ownerText, Testnet)
		if err != nil {
			t.Fatal(err)
		}
		cw, err := CocoonWalletAddress(owner, nk.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		if cw.Raw() != vecCocoonRaw || !strings.HasPrefix(cw.Display(), "0Q") || cw.Display() != cw.UserFriendly(false, true) {
			t.Errorf("testnet owner %s: %s", ownerText, cw.Display())
		}
	}
	if _, err := CocoonWalletAddress(Address{}, nk.PublicKey()); err == nil {
		t.Error("no owner accepted")
	}
	owner, _ := ParseAddress(vecUQ, Mainnet)
	if _, err := CocoonWalletAddress(owner, nk.PublicKey()[:31]); err == nil {
		t.Error("short key accepted")
	}
}

// The hand-made hash equals tonutils-go's for the same cells.
func TestCocoonWalletAddressMatchesTonutils(t *testing.T) {
	nk, _ := ParseNodeKey(vecNodeKey)
	owner, _ := ParseAddress(vecUQ, Mainnet)
	data, err := CocoonWalletData(owner, nk.PublicKey(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if data.BitsSize() != 619 {
		t.Fatalf("data cell has %d bits, want 619", data.BitsSize())
	}
	// Any code cell stands in for the real one: what matters is its hash and depth.
	for depth := 0; depth < 8; depth++ {
		code := cell.BeginCell().MustStoreUInt(uint64(depth)*7919, 64).EndCell()
		for range depth {
			code = cell.BeginCell().MustStoreUInt(1, 3).MustStoreRef(code).EndCell()
		}
		si, err := tlb.ToCell(tlb.StateInit{Code: code, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		got := stateInitHash(cellRef{hash: [32]byte(code.Hash()), depth: code.Depth()}, cellRef{hash: [32]byte(data.Hash()), depth: data.Depth()})
		if !bytes.Equal(got[:], si.Hash()) || int(code.Depth()) != depth {
			t.Fatalf("depth %d: stateInitHash %x, tonutils %x", depth, got, si.Hash())
		}
		a, err := ContractAddress(code, data, false)
		if ah := a.Hash(); err != nil || !bytes.Equal(ah[:], si.Hash()) {
			t.Fatal("ContractAddress")
		}
	}
	// The hand-built data cell hash equals the library's.
	var w bitWriter
	w.uint(0, 64)
	w.bytes(nk.PublicKey())
	w.uint(0, 32)
	w.uint(0b100, 3)
	w.uint(0, 8)
	h := owner.Hash()
	w.bytes(h[:])
	if got := reprHash(&w, nil); !bytes.Equal(got.hash[:], data.Hash()) || got.depth != 0 {
		t.Fatal("data cell hash differs from tonutils")
	}
}

// reprHash agrees with tonutils-go on random cells of every bit length.
func TestReprHashMatchesTonutils(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	leaves := []*cell.Cell{
		cell.BeginCell().EndCell(),
		cell.BeginCell().MustStoreUInt(5, 3).EndCell(),
		cell.BeginCell().MustStoreRef(cell.BeginCell().MustStoreUInt(1, 1).EndCell()).EndCell(),
	}
	for n := 0; n <= maxCellBits; n++ {
		b := cell.BeginCell()
		var w bitWriter
		for range n {
			bit := r.IntN(2) == 1
			b.MustStoreBoolBit(bit)
			w.bit(bit)
		}
		var refs []cellRef
		for range r.IntN(5) {
			c := leaves[r.IntN(len(leaves))]
			b.MustStoreRef(c)
			refs = append(refs, cellRef{hash: [32]byte(c.Hash()), depth: c.Depth()})
		}
		c := b.EndCell()
		got := reprHash(&w, refs)
		if !bytes.Equal(got.hash[:], c.Hash()) || got.depth != c.Depth() {
			t.Fatalf("%d bits, %d refs: %x != %x", n, len(refs), got.hash, c.Hash())
		}
	}
	// Byte-aligned writes take the fast path.
	var w bitWriter
	w.bytes([]byte{1, 2, 3})
	w.bit(true)
	w.bytes([]byte{0xff})
	c := cell.BeginCell().MustStoreSlice([]byte{1, 2, 3}, 24).MustStoreBoolBit(true).MustStoreUInt(0xff, 8).EndCell()
	if got := reprHash(&w, nil); !bytes.Equal(got.hash[:], c.Hash()) {
		t.Fatal("mixed writes")
	}
}

func TestNodeKey(t *testing.T) {
	k, err := NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	b64 := k.Base64()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 32 || len(b64) != 44 {
		t.Fatalf("Base64 %d chars", len(b64))
	}
	k2, _ := NewNodeKey()
	if k2.Base64() == b64 {
		t.Fatal("two new keys are equal")
	}
	for _, in := range []string{b64, " " + b64 + "\n", strings.TrimRight(b64, "="), strings.NewReplacer("+", "-", "/", "_").Replace(b64)} {
		p, err := ParseNodeKey(in)
		if err != nil || p.Base64() != b64 || !bytes.Equal(p.PublicKey(), k.PublicKey()) {
			t.Errorf("ParseNodeKey(%q): %v", in, err)
		}
	}
	for _, in := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 31)), base64.StdEncoding.EncodeToString(make([]byte, 64))} {
		if _, err := ParseNodeKey(in); err == nil {
			t.Errorf("ParseNodeKey(%q) accepted", in)
		} else if in != "" && strings.Contains(err.Error(), in) {
			t.Errorf("error quotes the value: %v", err)
		}
	}
	if _, err := NodeKeyFromSeed(make([]byte, 16)); err == nil {
		t.Error("16-byte seed accepted")
	}
	seed := k.data().seed
	cp := k
	k.Zero()
	if !cp.IsZero() || cp.Base64() != "" || cp.PublicKey() != nil || !bytes.Equal(seed, make([]byte, 32)) {
		t.Error("node key not wiped")
	}
}

func TestCocoonWalletData(t *testing.T) {
	nk, _ := ParseNodeKey(vecNodeKey)
	owner, _ := ParseAddress(vecUQ, Mainnet)
	c, err := CocoonWalletData(owner, nk.PublicKey(), 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseCocoonWalletData(c)
	if err != nil {
		t.Fatal(err)
	}
	if st.Seqno != 7 || st.Subwallet != 0 || !st.Blocked() || !bytes.Equal(st.PublicKey, nk.PublicKey()) || !st.Owner.Equal(owner) {
		t.Errorf("state %+v", st)
	}
	if _, err := ParseCocoonWalletData(cell.BeginCell().MustStoreUInt(1, 32).EndCell()); err == nil {
		t.Error("truncated data accepted")
	}
	if _, err := ParseCocoonWalletData(nil); err == nil {
		t.Error("nil accepted")
	}
}
