package standin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDevAddress(t *testing.T) {
	a := DevAddress("proxy")
	if len(a) != 48 || a != DevAddress("proxy") || a == DevAddress("proxy2") {
		t.Fatalf("DevAddress = %q: want a stable, label-specific 48-character address", a)
	}
	if !strings.HasPrefix(a, "UQ") {
		t.Errorf("DevAddress %q: want the non-bounceable UQ prefix", a)
	}
	if err := checkAddress(a); err != nil {
		t.Fatal(err)
	}
	b, err := base64.URLEncoding.DecodeString(a)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("proxy"))
	if b[0] != 0x51 || b[1] != 0 || !bytes.Equal(b[2:34], h[:]) {
		t.Errorf("DevAddress bytes % x: want tag 0x51, workchain 0, SHA-256 of the label", b[:34])
	}
	// The all-zero account, as a known valid user-friendly address.
	if err := checkAddress("UQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAJKZ"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "UQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAJKA", "short", "0:xyz"} {
		if checkAddress(bad) == nil {
			t.Errorf("checkAddress(%q) accepted a bad address", bad)
		}
	}
	if err := checkAddress("0:" + strings.Repeat("ab", 32)); err != nil {
		t.Error(err)
	}
}

func TestMemChainTransfers(t *testing.T) {
	ctx := context.Background()
	c := NewMemChain()
	alice, bob := DevAddress("alice"), DevAddress("bob")
	mint, err := c.Mint(ctx, alice, 10*nanoPerTON, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mint.Memo, "faucet") || mint.From != "" || mint.LT != 1 || len(mint.Hash) != 64 {
		t.Errorf("mint tx %+v: want a labelled faucet tx with lt 1 and a hash", mint)
	}
	tx, err := c.Transfer(ctx, alice, bob, 3*nanoPerTON, 1_000_000, "pay")
	if err != nil {
		t.Fatal(err)
	}
	if tx.LT != 2 || tx.Amount != 3*nanoPerTON || tx.Fee != 1_000_000 || tx.Hash == mint.Hash {
		t.Errorf("transfer tx %+v", tx)
	}
	ab, _ := c.Balance(ctx, alice)
	bb, _ := c.Balance(ctx, bob)
	if ab != 7*nanoPerTON-1_000_000 || bb != 3*nanoPerTON {
		t.Errorf("balances %d, %d: the sender pays amount and fee, the receiver gets the amount", ab, bb)
	}

	// Insufficient funds: an error, nothing moved, no transaction.
	_, err = c.Transfer(ctx, bob, alice, 3*nanoPerTON, 1, "too much")
	if !errors.Is(err, ErrInsufficientFunds) || !strings.Contains(err.Error(), bob) {
		t.Errorf("overdraft: %v; want ErrInsufficientFunds naming the sender", err)
	}
	if bb2, _ := c.Balance(ctx, bob); bb2 != bb {
		t.Errorf("bob's balance moved on a failed transfer: %d → %d", bb, bb2)
	}
	for _, bad := range [][2]int64{{-1, 0}, {0, -1}} {
		if _, err := c.Transfer(ctx, alice, bob, bad[0], bad[1], ""); err == nil {
			t.Errorf("transfer %v accepted", bad)
		}
	}
	if _, err := c.Transfer(ctx, "", bob, 1, 0, ""); err == nil {
		t.Error("transfer without a sender accepted")
	}

	// Gas only: a transfer of 0 with a fee.
	if _, err := c.Transfer(ctx, alice, bob, 0, 6_000_000, "gas"); err != nil {
		t.Fatal(err)
	}
	txs, _ := c.Transactions(ctx, bob, 0)
	if len(txs) != 2 || txs[0].LT != 2 || txs[1].LT != 3 {
		t.Fatalf("bob's transactions: %+v; want the transfer and the gas tx, in LT order", txs)
	}
	txs, _ = c.Transactions(ctx, alice, 2)
	if len(txs) != 1 || txs[0].LT != 3 {
		t.Errorf("alice's transactions after lt 2: %+v", txs)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Balance(cctx, alice); err == nil {
		t.Error("a cancelled context is not reported")
	}
}

func TestMemChainPersistence(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chain.json")
	c, err := OpenMemChain(path)
	if err != nil {
		t.Fatal(err)
	}
	a, b := DevAddress("a"), DevAddress("b")
	if _, err := c.Mint(ctx, a, 5*nanoPerTON, "dev faucet"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Transfer(ctx, a, b, nanoPerTON, 10, "x"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("chain file mode %v, want 0600", fi.Mode().Perm())
	}
	c2, err := OpenMemChain(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{a, b} {
		want, _ := c.Balance(ctx, addr)
		if got, _ := c2.Balance(ctx, addr); got != want {
			t.Errorf("reopened balance of %s = %d, want %d", addr, got, want)
		}
	}
	want, _ := c.Transactions(ctx, a, 0)
	got, _ := c2.Transactions(ctx, a, 0)
	if len(got) != len(want) || got[1].Hash != want[1].Hash || !got[1].Time.Equal(want[1].Time) {
		t.Errorf("reopened transactions %+v, want %+v", got, want)
	}
	// New transactions continue the LT sequence.
	tx, err := c2.Transfer(ctx, b, a, 1, 0, "back")
	if err != nil || tx.LT != 3 {
		t.Errorf("transfer after reopening: %+v, %v; want lt 3", tx, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the chain file (no temporary files left)", len(entries))
	}
}

func TestMemChainCorruptFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage":   "not json at all",
		"truncated": `{"version":1,"last_lt":2,"balances":{`,
		"version":   `{"version":9,"balances":{},"transactions":[]}`,
		"negative":  `{"version":1,"last_lt":0,"balances":{"x":-5},"transactions":[]}`,
		"order":     `{"version":1,"last_lt":1,"balances":{},"transactions":[{"lt":1,"to":"x","amount":1,"fee":0},{"lt":1,"to":"x","amount":1,"fee":0}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenMemChain(path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "corrupt") {
				t.Fatalf("OpenMemChain: %v; want a corruption error naming %s", err, path)
			}
			if b, _ := os.ReadFile(path); string(b) != content {
				t.Error("the corrupt file was changed")
			}
		})
	}
}
