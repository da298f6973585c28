package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/wallet"
)

const (
	// setupWords is the sample mnemonic of the TON integration notes
	// (§1.2); as a v4r2 wallet on mainnet it is setupOwner.
	setupWords = "diet diet attack autumn expose honey skate lounge holiday opinion village priority major enroll romance famous motor pact hello rubber express warfare rose whisper"
	setupOwner = "UQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazoTN"
	setupPass  = "correct horse battery"
)

// setupService is a Service on a fresh data directory whose log is
// captured, with a cheap keystore key derivation.
func setupService(t *testing.T) (*Service, *bytes.Buffer, string) {
	t.Helper()
	var logs bytes.Buffer
	dir := t.TempDir()
	s := New(Options{Root: t.TempDir(), DataDir: dir, NVML: noNVML(),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	t.Cleanup(func() { s.Close() })
	s.keystoreOpts = []wallet.KeystoreOption{wallet.WithKeystoreKDF(wallet.KeystoreKDF{Time: 1, MemoryKiB: 64, Threads: 1})}
	return s, &logs, dir
}

func checkKeystoreMode(t *testing.T, dir string) {
	t.Helper()
	fi, err := os.Stat(KeystorePath(dir))
	if err != nil {
		t.Fatalf("no keystore: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("keystore mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestWalletSetupOwnerAddress(t *testing.T) {
	s, logs, dir := setupService(t)
	ctx := context.Background()
	_, err := s.WalletSetup(ctx, WalletSetupRequest{Mode: WalletOwnerAddress, Address: "EQ-not-an-address", Passphrase: []byte(setupPass)})
	if !errors.Is(err, ErrInvalidWalletSetup) || err.Error() == "" || strings.HasPrefix(err.Error(), "invalid wallet setup") {
		t.Fatalf("invalid address: %v", err)
	}
	if _, err := os.Stat(KeystorePath(dir)); err == nil {
		t.Error("a refused setup wrote a keystore")
	}
	_, err = s.WalletSetup(ctx, WalletSetupRequest{Mode: WalletOwnerAddress, Address: setupOwner, Passphrase: []byte("short")})
	if !errors.Is(err, ErrInvalidWalletSetup) || !strings.Contains(err.Error(), "shorter than 8 characters") {
		t.Fatalf("short passphrase: %v", err)
	}
	res, err := s.WalletSetup(ctx, WalletSetupRequest{Mode: WalletOwnerAddress, Address: " " + setupOwner + " ", Passphrase: []byte(setupPass)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Wallet.Owner != setupOwner || !res.NodeKeyCreated || res.Wallet.NodePublicKey == "" || res.Wallet.CocoonWallet == "" || len(res.Phrase) != 0 {
		t.Errorf("result %+v", res)
	}
	checkKeystoreMode(t, dir)
	info, err := s.Wallet(ctx)
	if err != nil || info != res.Wallet || !info.Configured() {
		t.Errorf("Wallet() = %+v, %v; want %+v", info, err, res.Wallet)
	}
	// With a node key in place, another address needs no passphrase and
	// keeps the key.
	again, err := s.WalletSetup(ctx, WalletSetupRequest{Mode: WalletOwnerAddress, Address: setupOwner})
	if err != nil || again.NodeKeyCreated || again.Wallet.NodePublicKey != res.Wallet.NodePublicKey {
		t.Errorf("second address: %+v, %v", again, err)
	}
	// Importing into the keystore asks for its passphrase.
	_, err = s.WalletSetup(ctx, WalletSetupRequest{Mode: WalletImport, Version: "v4r2", Phrase: []byte(setupWords), Passphrase: []byte("wrong passphrase")})
	if !errors.Is(err, ErrInvalidWalletSetup) || !errors.Is(err, wallet.ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	if strings.Contains(logs.String(), setupPass) || strings.Contains(logs.String(), "diet diet") {
		t.Errorf("the log holds a secret:\n%s", logs)
	}
}

func TestWalletSetupImport(t *testing.T) {
	s, logs, dir := setupService(t)
	ctx := context.Background()
	bad := strings.Replace(setupWords, "honey", "honeyy", 1)
	_, err := s.WalletSetup(ctx, WalletSetupRequest{Mode: WalletImport, Phrase: []byte(bad), Passphrase: []byte(setupPass)})
	if !errors.Is(err, ErrInvalidWalletSetup) || strings.Contains(err.Error(), "diet") {
		t.Fatalf("bad phrase: %v", err)
	}
	if !strings.Contains(err.Error(), "honeyy") && !strings.Contains(err.Error(), "word") {
		t.Errorf("the error does not say what is wrong: %v", err)
	}
	res, err := s.WalletSetup(ctx, WalletSetupRequest{Mode: WalletImport, Version: "v4r2", Phrase: []byte(setupWords), Passphrase: []byte(setupPass)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Wallet.Owner != setupOwner || res.Wallet.OwnerVersion != "v4r2" || !res.NodeKeyCreated || len(res.Phrase) != 0 {
		t.Errorf("result %+v", res)
	}
	checkKeystoreMode(t, dir)
	ks, err := wallet.Open(KeystorePath(dir), []byte(setupPass))
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	if got, err := ks.Get(wallet.KeystoreEntryOwnerMnemonic); err != nil || string(got) != setupWords {
		t.Errorf("keystore owner words: %v", err)
	}
	if _, err := ks.Get(wallet.KeystoreEntryNodeKey); err != nil {
		t.Errorf("keystore node key: %v", err)
	}
	_, err = s.WalletSetup(ctx, WalletSetupRequest{Mode: WalletOwnerAddress, Address: setupOwner})
	if !errors.Is(err, ErrInvalidWalletSetup) || !strings.Contains(err.Error(), "fixed by its words") {
		t.Errorf("address over a held wallet: %v", err)
	}
	for _, secret := range []string{setupPass, "diet diet", "honeyy"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
}

func TestWalletSetupCreate(t *testing.T) {
	s, logs, dir := setupService(t)
	ctx := context.Background()
	res, err := s.WalletSetup(ctx, WalletSetupRequest{Mode: WalletCreate, Passphrase: []byte(setupPass)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Phrase) != 24 || res.Wallet.OwnerVersion != "v5r1" || !res.Wallet.Configured() || res.Wallet.CocoonWallet == "" {
		t.Fatalf("result %+v", res)
	}
	checkKeystoreMode(t, dir)
	phrase := strings.Join(res.Phrase, " ")
	for _, shown := range []string{res.String(), WalletSetupRequest{Phrase: []byte(phrase), Passphrase: []byte(setupPass)}.String()} {
		if strings.Contains(shown, res.Phrase[0]+" "+res.Phrase[1]) || strings.Contains(shown, setupPass) {
			t.Errorf("printing shows a secret: %s", shown)
		}
	}
	_, err = s.WalletSetup(ctx, WalletSetupRequest{Mode: WalletCreate, Passphrase: []byte(setupPass)})
	if !errors.Is(err, ErrInvalidWalletSetup) || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("second create: %v", err)
	}
	_, err = s.WalletSetup(ctx, WalletSetupRequest{Mode: "guess", Passphrase: []byte(setupPass)})
	if !errors.Is(err, ErrInvalidWalletSetup) {
		t.Errorf("unknown mode: %v", err)
	}
	slog.New(slog.NewTextHandler(logs, nil)).Info("request", "req", WalletSetupRequest{Mode: WalletImport, Phrase: []byte(phrase), Passphrase: []byte(setupPass)}, "res", res)
	for _, secret := range []string{setupPass, res.Phrase[0] + " " + res.Phrase[1], phrase} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
}

func TestEstimateDevEarnings(t *testing.T) {
	e := EstimateDevEarnings(0)
	if e.Coefficient != 1000 || e.RequestsPerSecond != 1 || e.NanoTONPerDay <= 0 {
		t.Fatalf("default estimate %+v", e)
	}
	if d := EstimateDevEarnings(2000); d.NanoTONPerDay < 2*e.NanoTONPerDay-86400*16 || d.NanoTONPerDay > 2*e.NanoTONPerDay+86400*16 {
		t.Errorf("2.0× earns %d, 1.0× %d", d.NanoTONPerDay, e.NanoTONPerDay)
	}
	if over := EstimateDevEarnings(e.MaxCoefficient + 1); over.NanoTONPerDay != 0 || over.RequestsPerSecond != 0 {
		t.Errorf("above the client's limit: %+v", over)
	}
}

func TestSettingsWorkerCoefficient(t *testing.T) {
	s := DefaultSettings()
	if s.Coefficient() != 1000 {
		t.Errorf("default coefficient %d", s.Coefficient())
	}
	s.WorkerCoefficient = 1500
	if err := s.Validate(); err != nil || s.Coefficient() != 1500 {
		t.Errorf("1500: %v %d", err, s.Coefficient())
	}
	s.WorkerCoefficient = -1
	if err := s.Validate(); !errors.Is(err, ErrInvalidSettings) {
		t.Errorf("-1: %v", err)
	}
}
