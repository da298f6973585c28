package engine

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// WalletSetupMode says where the owner address of a wallet setup comes
// from.
type WalletSetupMode string

// The wallet setup modes.
const (
	// WalletOwnerAddress: earnings go to an address the user typed; the
	// owner wallet's keys stay in the user's own wallet app.
	WalletOwnerAddress WalletSetupMode = "owner-address"
	// WalletCreate makes a new owner wallet; its recovery words are in the
	// result, once, and encrypted in the keystore.
	WalletCreate WalletSetupMode = "create"
	// WalletImport takes an owner wallet from its recovery words.
	WalletImport WalletSetupMode = "import"
)

// MinPassphraseLen is the shortest passphrase a new keystore accepts.
const MinPassphraseLen = 8

// ErrInvalidWalletSetup is matched by the errors of a wallet setup the
// user can correct: a bad address, bad recovery words, a short or wrong
// passphrase, an owner wallet already held. The error's text is the
// sentence alone.
var ErrInvalidWalletSetup = errors.New("invalid wallet setup")

type walletSetupError struct{ err error }

func (e *walletSetupError) Error() string        { return e.err.Error() }
func (e *walletSetupError) Unwrap() error        { return e.err }
func (e *walletSetupError) Is(target error) bool { return target == ErrInvalidWalletSetup }

// InvalidWalletSetup marks err as a mistake in a wallet setup: it then
// matches ErrInvalidWalletSetup (and still err), and reads as err.
func InvalidWalletSetup(err error) error { return &walletSetupError{err: err} }

// WalletSetupRequest is one wallet setup: the owner (an address, a new
// wallet or imported words) and, when there is none yet, a new node
// wallet key; the secrets go into the encrypted keystore under Passphrase.
// Phrase and Passphrase are secrets: the request never prints or logs
// them, and the engine does not keep them. The caller clears them.
type WalletSetupRequest struct {
	Mode WalletSetupMode
	// Network is mainnet or testnet; empty keeps the configured network.
	Network string
	// Address is the owner address in any TON form (WalletOwnerAddress).
	Address string
	// Phrase are the recovery words (WalletImport).
	Phrase []byte
	// BIP39: Phrase is a BIP-39 phrase of a multi-coin wallet.
	BIP39 bool
	// Version is the owner wallet's contract, v5r1 (default) or v4r2
	// (WalletCreate, WalletImport).
	Version string
	// Passphrase protects the keystore: a new one (at least
	// MinPassphraseLen characters) when none exists, else its passphrase.
	Passphrase []byte
}

// String shows the request without its secrets.
func (r WalletSetupRequest) String() string {
	return fmt.Sprintf("wallet setup %s (network %q, address %q, version %q, phrase %s, passphrase %s)",
		r.Mode, r.Network, r.Address, r.Version, redactedLen(r.Phrase), redactedLen(r.Passphrase))
}

// GoString is String: %#v must not print the secrets either.
func (r WalletSetupRequest) GoString() string { return r.String() }

// LogValue logs the request without its secrets.
func (r WalletSetupRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("mode", string(r.Mode)), slog.String("network", r.Network),
		slog.String("address", r.Address), slog.String("version", r.Version), slog.Bool("bip39", r.BIP39))
}

func redactedLen(b []byte) string {
	if len(b) == 0 {
		return "none"
	}
	return "[redacted]"
}

// WalletInfo is the wallet setup without secrets.
type WalletInfo struct {
	Network string
	// Owner is where earnings go (user-friendly form); empty when none is
	// set yet. OwnerRaw is its raw form.
	Owner, OwnerRaw string
	// OwnerVersion is v4r2 or v5r1 when the keystore holds the owner
	// wallet's words; empty for an address only.
	OwnerVersion string
	// NodePublicKey is the node wallet key's public key (hex).
	NodePublicKey string
	// CocoonWallet is the worker's cocoon wallet, which needs a float
	// (MinCocoonFloat); empty until there are an owner and a node key.
	CocoonWallet string
	// Keystore says whether the encrypted keystore exists.
	Keystore bool
}

// Configured says whether earnings have somewhere to go.
func (w WalletInfo) Configured() bool { return w.Owner != "" }

// MinCocoonFloat is the least the cocoon wallet must hold, in nanoTON,
// for the worker to start (2.1 TON).
const MinCocoonFloat = 2_100_000_000

// WalletSetupResult is what a wallet setup did.
type WalletSetupResult struct {
	Wallet WalletInfo
	// Phrase are a created wallet's recovery words, shown to the user
	// once: the engine keeps them only encrypted. Empty for other modes.
	Phrase []string
	// Warnings are notes on the owner address (e.g. a bounceable form).
	Warnings []string
	// NodeKeyCreated: a new node wallet key was made.
	NodeKeyCreated bool
}

// String shows the result without the recovery words.
func (r WalletSetupResult) String() string {
	return fmt.Sprintf("wallet %+v, %d recovery words (not shown), warnings %q, node key created %v",
		r.Wallet, len(r.Phrase), r.Warnings, r.NodeKeyCreated)
}

// GoString is String.
func (r WalletSetupResult) GoString() string { return r.String() }

// LogValue logs the result without the recovery words.
func (r WalletSetupResult) LogValue() slog.Value {
	return slog.GroupValue(slog.String("owner", r.Wallet.Owner), slog.String("cocoon_wallet", r.Wallet.CocoonWallet),
		slog.Bool("node_key_created", r.NodeKeyCreated))
}

// Info describes c; ksPath is the keystore's path.
func (c WalletConfig) Info(ksPath string) WalletInfo {
	w := WalletInfo{Network: c.Net().String(), OwnerVersion: c.OwnerVersion, NodePublicKey: c.NodePublicKey}
	if a, err := c.OwnerAddress(); err == nil {
		w.Owner, w.OwnerRaw = a.Display(), a.Raw()
	}
	if cw, err := c.CocoonWallet(); err == nil {
		w.CocoonWallet = cw.Display()
	}
	if _, err := os.Stat(ksPath); err == nil {
		w.Keystore = true
	}
	return w
}

// Secrets are keystore entries waiting to be stored, with the keystore
// meta that goes with them. Clear them once stored.
type Secrets struct {
	Entries map[string][]byte
	// Meta with an OwnerAddress replaces the keystore's meta.
	Meta wallet.KeystoreMeta
}

// Clear zeroes and drops the entries.
func (s *Secrets) Clear() {
	for k, v := range s.Entries {
		clear(v)
		delete(s.Entries, k)
	}
}

func (s *Secrets) add(o Secrets) {
	if s.Entries == nil {
		s.Entries = map[string][]byte{}
	}
	for k, v := range o.Entries {
		s.Entries[k] = v
	}
	if o.Meta.OwnerAddress != "" {
		s.Meta = o.Meta
	}
}

// PassphraseFunc returns the keystore passphrase; creating says that the
// keystore does not exist yet, so the passphrase is a new one. Whoever
// calls it clears the passphrase after use.
type PassphraseFunc func(creating bool) ([]byte, error)

// CheckNewPassphrase says what is wrong with p as a new keystore
// passphrase.
func CheckNewPassphrase(p []byte) error {
	if len([]rune(string(p))) < MinPassphraseLen {
		return InvalidWalletSetup(fmt.Errorf("the passphrase is shorter than %d characters; nothing was stored", MinPassphraseLen))
	}
	return nil
}

// SetOwnerAddress makes text (any TON address form, on c's network) the
// owner address. It is refused while the keystore holds an owner wallet,
// whose words fix the address.
func (c *WalletConfig) SetOwnerAddress(text string) (wallet.Address, error) {
	a, err := wallet.ParseAddress(strings.TrimSpace(text), c.Net())
	if err != nil {
		return a, InvalidWalletSetup(err)
	}
	if c.OwnerVersion != "" {
		return a, InvalidWalletSetup(errors.New("the keystore holds an owner wallet; its address is fixed by its words. Remove keystore.json first (after a backup) to use an address only"))
	}
	c.Owner = a.AsTyped()
	return a, nil
}

// ErrOwnerWalletHeld: the keystore already holds an owner wallet.
var errOwnerWalletHeld = errors.New("the keystore already holds an owner wallet; nothing was changed")

// CheckNoOwnerWallet refuses a second owner wallet.
func (c WalletConfig) CheckNoOwnerWallet() error {
	if c.OwnerVersion != "" {
		return InvalidWalletSetup(errOwnerWalletHeld)
	}
	return nil
}

// SetOwnerWallet makes the wallet of m (contract version v) the owner
// and returns the secrets to store: its words.
func (c *WalletConfig) SetOwnerWallet(m wallet.Mnemonic, v wallet.WalletVersion) (wallet.Address, Secrets, error) {
	if err := c.CheckNoOwnerWallet(); err != nil {
		return wallet.Address{}, Secrets{}, err
	}
	owner, key, err := OwnerFromMnemonic(m, v, c.Net())
	if err != nil {
		return wallet.Address{}, Secrets{}, err
	}
	key.Zero()
	c.Owner, c.OwnerVersion = owner.Address.Display(), v.String()
	return owner.Address, Secrets{
		Entries: map[string][]byte{wallet.KeystoreEntryOwnerMnemonic: m.AppendPhrase(nil)},
		Meta:    wallet.KeystoreMeta{WalletVersion: v.String(), OwnerAddress: owner.Address.Display()},
	}, nil
}

// SetNewNodeKey makes a new node wallet key, makes it c's, and returns
// the secrets to store: its seed. A new key means a new cocoon wallet.
func (c *WalletConfig) SetNewNodeKey() (Secrets, error) {
	k, err := wallet.NewNodeKey()
	if err != nil {
		return Secrets{}, err
	}
	defer k.Zero()
	c.NodePublicKey = hex.EncodeToString(k.PublicKey())
	return Secrets{Entries: map[string][]byte{wallet.KeystoreEntryNodeKey: k.AppendSeed(nil)}}, nil
}

// OwnerFromMnemonic derives the owner wallet of m; the caller zeroes key.
func OwnerFromMnemonic(m wallet.Mnemonic, v wallet.WalletVersion, net wallet.Network) (wallet.Owner, wallet.OwnerKey, error) {
	key, err := m.PrivateKey()
	if err != nil {
		return wallet.Owner{}, key, err
	}
	owner, err := wallet.OwnerFromKey(key, v, net)
	if err != nil {
		key.Zero()
	}
	return owner, key, err
}

// StoreSecrets writes s into the keystore at path, creating it (mode
// 0600) when missing; pass is asked for the passphrase.
func StoreSecrets(path string, pass PassphraseFunc, s Secrets, opts ...wallet.KeystoreOption) error {
	_, err := os.Stat(path)
	creating := errors.Is(err, fs.ErrNotExist)
	p, err := pass(creating)
	if err != nil {
		return err
	}
	defer clear(p)
	if creating {
		return wallet.Create(path, p, s.Entries, append(opts, wallet.WithKeystoreMeta(s.Meta))...)
	}
	ks, err := wallet.Open(path, p, opts...)
	if err != nil {
		if errors.Is(err, wallet.ErrWrongPassphrase) {
			return InvalidWalletSetup(err)
		}
		return err
	}
	defer ks.Close()
	for k, v := range s.Entries {
		if err := ks.Set(k, v); err != nil {
			return err
		}
	}
	if s.Meta.OwnerAddress != "" {
		if err := ks.SetMeta(s.Meta); err != nil {
			return err
		}
	}
	return ks.Save(p)
}

// givenPassphrase answers a PassphraseFunc with p (a copy), checking a
// new one.
func givenPassphrase(p []byte) PassphraseFunc {
	return func(creating bool) ([]byte, error) {
		if len(p) == 0 {
			return nil, InvalidWalletSetup(errors.New("enter the keystore passphrase"))
		}
		if creating {
			if err := CheckNewPassphrase(p); err != nil {
				return nil, err
			}
		}
		return append([]byte(nil), p...), nil
	}
}

// KeystoreWriter stores secrets in a keystore, asking pass for its
// passphrase.
type KeystoreWriter func(s Secrets, pass PassphraseFunc) error

// KeystoreFile is the KeystoreWriter of the keystore file at path.
func KeystoreFile(path string, opts ...wallet.KeystoreOption) KeystoreWriter {
	return func(s Secrets, pass PassphraseFunc) error { return StoreSecrets(path, pass, s, opts...) }
}

// SetupWallet applies req to cfg: the owner, and a node key when there is
// none; the secrets go to keystore under req.Passphrase. It returns the
// new configuration for the caller to save, and the result without its
// Wallet, which the caller fills in (WalletConfig.Info). newMnemonic makes
// a created wallet's words.
func SetupWallet(cfg WalletConfig, req WalletSetupRequest, newMnemonic func() wallet.Mnemonic, keystore KeystoreWriter) (WalletConfig, WalletSetupResult, error) {
	var res WalletSetupResult
	if req.Network != "" {
		n, err := wallet.ParseNetwork(req.Network)
		if err != nil {
			return cfg, res, InvalidWalletSetup(err)
		}
		if n != cfg.Net() && (cfg.OwnerVersion != "" || cfg.NodePublicKey != "") {
			return cfg, res, InvalidWalletSetup(fmt.Errorf("this setup is on %s; its owner wallet and node key stay there", cfg.Net()))
		}
		cfg.Network = n.String()
	}
	var secrets Secrets
	defer secrets.Clear()
	switch req.Mode {
	case WalletOwnerAddress:
		a, err := cfg.SetOwnerAddress(req.Address)
		if err != nil {
			return cfg, res, err
		}
		res.Warnings = a.Warnings(cfg.Net())
	case WalletCreate, WalletImport:
		version := req.Version
		if version == "" {
			version = wallet.V5R1.String()
		}
		v, err := wallet.ParseWalletVersion(version)
		if err != nil {
			return cfg, res, InvalidWalletSetup(err)
		}
		if err := cfg.CheckNoOwnerWallet(); err != nil {
			return cfg, res, err
		}
		var m wallet.Mnemonic
		if req.Mode == WalletCreate {
			cfg.OwnerBIP39 = false
			m = newMnemonic()
			res.Phrase = m.Words()
		} else {
			cfg.OwnerBIP39 = req.BIP39
			if m, err = cfg.ParseOwnerPhrase(req.Phrase); err != nil {
				return cfg, res, InvalidWalletSetup(err)
			}
		}
		_, s, err := cfg.SetOwnerWallet(m, v)
		m.Zero()
		if err != nil {
			res.Phrase = nil
			return cfg, res, InvalidWalletSetup(err)
		}
		secrets.add(s)
	default:
		return cfg, res, InvalidWalletSetup(fmt.Errorf("unknown wallet setup mode %q: use %s, %s or %s", req.Mode, WalletOwnerAddress, WalletCreate, WalletImport))
	}
	if cfg.NodePublicKey == "" {
		s, err := cfg.SetNewNodeKey()
		if err != nil {
			return cfg, WalletSetupResult{}, err
		}
		secrets.add(s)
		res.NodeKeyCreated = true
	}
	if len(secrets.Entries) > 0 {
		if err := keystore(secrets, givenPassphrase(req.Passphrase)); err != nil {
			return cfg, WalletSetupResult{}, err
		}
	}
	return cfg, res, nil
}

// Wallet implements API.
func (s *Service) Wallet(ctx context.Context) (WalletInfo, error) {
	st, done, err := s.useStore(ctx)
	if err != nil {
		return WalletInfo{}, err
	}
	defer done()
	cfg, err := ReadWalletConfig(ctx, st)
	if err != nil {
		return WalletInfo{}, err
	}
	return cfg.Info(KeystorePath(s.opts.DataDir)), nil
}

// WalletSetup implements API. Only the mode, the owner and the outcome
// are logged; the words and the passphrase never are.
func (s *Service) WalletSetup(ctx context.Context, req WalletSetupRequest) (WalletSetupResult, error) {
	st, done, err := s.useStore(ctx)
	if err != nil {
		return WalletSetupResult{}, err
	}
	defer done()
	cfg, err := ReadWalletConfig(ctx, st)
	if err != nil {
		return WalletSetupResult{}, err
	}
	ksPath := KeystorePath(s.opts.DataDir)
	cfg, res, err := SetupWallet(cfg, req, wallet.NewMnemonic, KeystoreFile(ksPath, s.keystoreOpts...))
	if err != nil {
		s.log.Info("wallet setup not done", "mode", string(req.Mode), "invalid", errors.Is(err, ErrInvalidWalletSetup))
		return WalletSetupResult{}, err
	}
	if err := SaveWalletConfig(ctx, st, cfg); err != nil {
		return WalletSetupResult{}, fmt.Errorf("the keystore was written but the wallet settings were not saved (%w); run the setup again", err)
	}
	res.Wallet = cfg.Info(ksPath)
	s.log.Info("wallet set up", "mode", string(req.Mode), "owner", res.Wallet.Owner, "node_key_created", res.NodeKeyCreated)
	s.recordEventTo(st, "wallet.setup", "wallet set up", map[string]any{"mode": string(req.Mode), "owner": res.Wallet.Owner, "node_key_created": res.NodeKeyCreated})
	return res, nil
}
