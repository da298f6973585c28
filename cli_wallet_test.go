package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// vectorWords is the sample mnemonic of the TON integration notes (§1.2).
const vectorWords = "diet diet attack autumn expose honey skate lounge holiday opinion village priority major enroll romance famous motor pact hello rubber express warfare rose whisper"

func withStdin(t *testing.T, s string) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(s)
	t.Cleanup(func() { stdin = old })
}

func TestCLIWalletAddress(t *testing.T) {
	dir := t.TempDir()
	code, out, errb := runCLI(t, "wallet", "address", "--data-dir", dir, "  0:CB4C9CA05F0DFB9FBBA9BF1DA73F72CF9A29ACD9CC23A91DD747D57BE7349ACE ")
	if code != 0 || !strings.Contains(out, "UQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazoTN") {
		t.Fatalf("set raw address: exit %d %s %s", code, out, errb)
	}
	for in, msg := range map[string]string{
		"EQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSaztkJ": "checksum",
		"kQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazmKC": "testnet",
		"hello": "",
	} {
		code, _, errb := runCLI(t, "wallet", "address", "--data-dir", dir, in)
		if code != 1 || !strings.Contains(errb, msg) {
			t.Errorf("%s: exit %d, %q; want an error about %q", in, code, errb, msg)
		}
	}
	// Nothing was lost: the first address is still set.
	if _, out, _ := runCLI(t, "wallet", "address", "--data-dir", dir); !strings.Contains(out, "UQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazoTN") {
		t.Errorf("address after bad input: %q", out)
	}
}

func TestCLIWalletImportNodeKeyStatus(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("a long passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withStdin(t, vectorWords+"\n")
	code, out, errb := runCLI(t, "wallet", "import", "--data-dir", dir, "--version", "v4r2", "--passphrase-file", pass)
	if code != 0 || !strings.Contains(out, "UQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazoTN") {
		t.Fatalf("import: exit %d %s %s", code, out, errb)
	}
	code, out, errb = runCLI(t, "wallet", "node-key", "--new", "--data-dir", dir, "--passphrase-file", pass)
	if code != 0 || !strings.Contains(out, "Cocoon wallet: UQ") {
		t.Fatalf("node-key: exit %d %s %s", code, out, errb)
	}
	fi, err := os.Stat(engine.KeystorePath(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keystore mode: %v %v", fi, err)
	}
	raw, _ := os.ReadFile(engine.KeystorePath(dir))
	for _, w := range strings.Fields(vectorWords)[2:6] {
		if strings.Contains(string(raw), w) {
			t.Fatalf("the keystore file holds the word %q in clear", w)
		}
	}
	code, out, _ = runCLI(t, "wallet", "status", "--json", "--data-dir", dir)
	var s walletStatus
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil {
		t.Fatalf("status: exit %d %s", code, out)
	}
	if s.Owner != "UQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazoTN" || !strings.HasPrefix(s.OwnerWallet, "v4r2") ||
		!strings.HasPrefix(s.CocoonWallet, "UQ") || len(s.NodePublicKey) != 64 {
		t.Errorf("status: %+v", s)
	}
	// A wrong passphrase opens nothing and changes nothing.
	bad := filepath.Join(dir, "bad")
	_ = os.WriteFile(bad, []byte("not the passphrase\n"), 0o600)
	before, _ := os.ReadFile(engine.KeystorePath(dir))
	if code, _, errb := runCLI(t, "wallet", "node-key", "--new", "--data-dir", dir, "--passphrase-file", bad); code != 1 || !strings.Contains(errb, "passphrase") {
		t.Errorf("wrong passphrase: exit %d %s", code, errb)
	}
	if after, _ := os.ReadFile(engine.KeystorePath(dir)); string(after) != string(before) {
		t.Error("a wrong passphrase changed the keystore")
	}
	code, out, _ = runCLI(t, "wallet", "topup", "3", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "ton://transfer/"+s.CocoonWallet+"?amount=3000000000") {
		t.Errorf("topup link: %s", out)
	}
	code, out, _ = runCLI(t, "wallet", "withdraw", "--data-dir", dir, "--qr", filepath.Join(dir, "w.png"))
	if code != 0 || !strings.Contains(out, "text=w") {
		t.Errorf("withdraw link: %s", out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "w.png")); err != nil || !strings.HasPrefix(string(b), "\x89PNG") {
		t.Errorf("QR PNG: %v", err)
	}
}

func TestCLIWalletCreateConfirms(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	_ = os.WriteFile(pass, []byte("another passphrase\n"), 0o600)
	// Wrong confirmation: nothing stored.
	withStdin(t, "wrong\nwrong\nwrong\n")
	code, out, errb := runCLI(t, "wallet", "create", "--data-dir", dir, "--passphrase-file", pass)
	if code != 1 || !strings.Contains(errb, "nothing was stored") {
		t.Fatalf("bad confirmation: exit %d %s", code, errb)
	}
	if _, err := os.Stat(engine.KeystorePath(dir)); err == nil {
		t.Fatal("a keystore was written without confirmation")
	}
	// Right confirmation.
	oldM, oldP := newMnemonic, confirmPicks
	t.Cleanup(func() { newMnemonic, confirmPicks = oldM, oldP })
	newMnemonic = func() wallet.Mnemonic {
		m, err := wallet.ParseMnemonic(vectorWords)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	confirmPicks = func() []int { return []int{3, 0, 23} }
	words := strings.Fields(vectorWords)
	withStdin(t, words[3]+"\n"+strings.ToUpper(words[0])+"\n"+words[23]+"\n")
	code, out, errb = runCLI(t, "wallet", "create", "--data-dir", dir, "--passphrase-file", pass, "--version", "v4r2")
	if code != 0 || !strings.Contains(out, "24. whisper") || !strings.Contains(out, "UQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazoTN") {
		t.Fatalf("create: exit %d %s\n%s", code, errb, out)
	}
	if _, err := os.Stat(engine.KeystorePath(dir)); err != nil {
		t.Fatal("no keystore after create")
	}
	// A second owner wallet is refused; nothing changes.
	if code, _, errb := runCLI(t, "wallet", "create", "--data-dir", dir, "--passphrase-file", pass); code != 1 || !strings.Contains(errb, "already holds") {
		t.Errorf("second create: exit %d %s", code, errb)
	}
}

// TestCLIWalletImportBIP39: a phrase from a multi-coin wallet is refused
// as a TON phrase (with a hint), and imported with --bip39 (tonutils-go's
// vector).
func TestCLIWalletImportBIP39(t *testing.T) {
	const phrase = "awesome scale mansion decade will rail beyond pink into enrich flock before cream oval pottery priority acid onion burst salad police pyramid stick hawk"
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	_ = os.WriteFile(pass, []byte("bip39 passphrase\n"), 0o600)
	withStdin(t, phrase+"\n")
	code, _, errb := runCLI(t, "wallet", "import", "--data-dir", dir, "--passphrase-file", pass)
	if code != 1 || !strings.Contains(errb, "BIP-39") || strings.Contains(errb, "awesome") {
		t.Fatalf("TON import of a BIP-39 phrase: exit %d %q", code, errb)
	}
	withStdin(t, phrase+"\n")
	code, out, errb := runCLI(t, "wallet", "import", "--bip39", "--data-dir", dir, "--passphrase-file", pass)
	if code != 0 || !strings.Contains(out, "UQCdMgVv3MHurW103oa4tdsuP1a-wZmNE0ZweBlK_Iy7tK1o") {
		t.Fatalf("--bip39 import: exit %d %s %s", code, out, errb)
	}
}

// TestCLIWalletHistoryDevChain lists the owner's transactions on dev
// mode's stand-in chain, newest first.
func TestCLIWalletHistoryDevChain(t *testing.T) {
	dir := t.TempDir()
	const owner = "UQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazoTN"
	if code, _, errb := runCLI(t, "wallet", "address", "--data-dir", dir, owner); code != 0 {
		t.Fatal(errb)
	}
	if code, _, errb := runCLI(t, "wallet", "history", "--data-dir", dir); code != 1 || !strings.Contains(errb, "nothing to show") {
		t.Fatalf("no chain: exit %d %s", code, errb)
	}
	if err := os.MkdirAll(filepath.Join(dir, "dev"), 0o700); err != nil {
		t.Fatal(err)
	}
	chain, err := standin.OpenMemChain(filepath.Join(dir, "dev", "chain.json"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	proxy := standin.DevAddress("proxy")
	if _, err := chain.Mint(ctx, proxy, 5_000_000_000, "stake"); err != nil {
		t.Fatal(err)
	}
	if _, err := chain.Transfer(ctx, proxy, owner, 1_500_000_000, 0, "payout"); err != nil {
		t.Fatal(err)
	}
	if _, err := chain.Transfer(ctx, proxy, owner, 250_000_000, 0, "payout 2"); err != nil {
		t.Fatal(err)
	}
	code, out, errb := runCLI(t, "wallet", "history", "--data-dir", dir, "--limit", "1")
	if code != 0 || !strings.Contains(out, "+0.25 TON  from "+proxy) || strings.Contains(out, "+1.5 TON") || !strings.Contains(out, "not real TON") {
		t.Fatalf("history: exit %d %s\n%s", code, errb, out)
	}
}
