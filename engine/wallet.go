package engine

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// settingWallet holds the non-secret wallet setup (JSON WalletConfig).
const settingWallet = "wallet.config"

// KeystorePath is the encrypted keystore of dataDir.
func KeystorePath(dataDir string) string { return filepath.Join(dataDir, "keystore.json") }

// WalletConfig is the wallet setup the app keeps in its settings; the
// secrets (mnemonic, node key) are only in the keystore.
type WalletConfig struct {
	Network string `json:"network"` // mainnet or testnet
	// Owner is where earnings go, in the form the user typed.
	Owner string `json:"owner,omitempty"`
	// OwnerVersion is v4r2 or v5r1 when the keystore holds the owner
	// wallet's mnemonic; empty for an address only.
	OwnerVersion string `json:"owner_version,omitempty"`
	// OwnerBIP39: the owner's words are a BIP-39 phrase (multi-coin
	// wallets), not a TON phrase.
	OwnerBIP39 bool `json:"owner_bip39,omitempty"`
	// NodePublicKey is the Ed25519 public key of the node wallet key (hex).
	NodePublicKey string `json:"node_public_key,omitempty"`
	// TONConfig is a liteserver global config file for balances and sends.
	TONConfig string `json:"ton_config,omitempty"`
}

// Net is the configured network (mainnet when unset).
func (c WalletConfig) Net() wallet.Network {
	n, err := wallet.ParseNetwork(c.Network)
	if err != nil || c.Network == "" {
		return wallet.Mainnet
	}
	return n
}

// OwnerAddress parses the stored owner address.
func (c WalletConfig) OwnerAddress() (wallet.Address, error) {
	if c.Owner == "" {
		return wallet.Address{}, fmt.Errorf("no owner address set: `cocoon-provider wallet address ADDRESS` sets where earnings go")
	}
	return wallet.ParseAddress(c.Owner, c.Net())
}

// CocoonWallet derives the worker's cocoon wallet address from the owner
// and the node key's public key (§5.1).
func (c WalletConfig) CocoonWallet() (wallet.Address, error) {
	owner, err := c.OwnerAddress()
	if err != nil {
		return wallet.Address{}, err
	}
	pub, err := hex.DecodeString(c.NodePublicKey)
	if err != nil || len(pub) != 32 {
		return wallet.Address{}, fmt.Errorf("no node key yet: `cocoon-provider wallet node-key --new` makes one")
	}
	return wallet.CocoonWalletAddress(owner, pub)
}

// ReadWalletConfig returns the stored wallet setup (zero when none).
func ReadWalletConfig(ctx context.Context, st *store.Store) (WalletConfig, error) {
	var c WalletConfig
	v, ok, err := st.Setting(ctx, settingWallet)
	if err != nil || !ok || v == "" {
		return c, err
	}
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		return c, fmt.Errorf("stored wallet settings are unreadable (%v); set the owner address again with `cocoon-provider wallet address`", err)
	}
	return c, nil
}

// SaveWalletConfig stores the wallet setup.
func SaveWalletConfig(ctx context.Context, st *store.Store, c WalletConfig) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return st.SetSetting(ctx, settingWallet, string(b))
}

// devOwner is the owner address dev mode pays: the user's when set (it is
// public), else a stand-in address.
func (s *Service) devOwner(ctx context.Context) string {
	if db := s.currentStore(); db != nil {
		if c, err := ReadWalletConfig(ctx, db); err == nil {
			if a, err := c.OwnerAddress(); err == nil {
				return a.Display()
			}
		}
	}
	return devOwnerAddress
}

// ParseOwnerPhrase reads the owner's words as stored: a TON phrase, or a
// BIP-39 phrase when the wallet was imported as one.
func (c WalletConfig) ParseOwnerPhrase(phrase []byte) (wallet.Mnemonic, error) {
	if c.OwnerBIP39 {
		return wallet.ParseBIP39Mnemonic(string(phrase))
	}
	return wallet.ParseMnemonicBytes(phrase)
}
