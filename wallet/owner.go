package wallet

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	tongowallet "github.com/tonkeeper/tongo/wallet"
	tonwallet "github.com/xssnick/tonutils-go/ton/wallet"
)

// WalletVersion is the contract of the owner's standard wallet.
type WalletVersion uint8

const (
	// VersionUnknown: an address-only owner whose contract the app does not know.
	VersionUnknown WalletVersion = iota
	// V4R2: wallet v4 revision 2, subwallet 698983191; the same address on
	// mainnet and testnet (only the text flags differ).
	V4R2
	// V5R1: wallet v5 (W5) final, subwallet 0; wallet_id depends on the
	// network, so the address differs between mainnet and testnet.
	V5R1
)

// WalletVersions lists the versions the app can derive and sign for, the
// current default first.
var WalletVersions = []WalletVersion{V5R1, V4R2}

// String returns "v4r2", "v5r1" or "unknown".
func (v WalletVersion) String() string {
	switch v {
	case V4R2:
		return "v4r2"
	case V5R1:
		return "v5r1"
	}
	return "unknown"
}

// MarshalText writes String.
func (v WalletVersion) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads what ParseWalletVersion accepts, and "unknown".
func (v *WalletVersion) UnmarshalText(b []byte) error {
	if string(b) == "unknown" || len(b) == 0 {
		*v = VersionUnknown
		return nil
	}
	p, err := ParseWalletVersion(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// ParseWalletVersion reads "v4r2"/"v4" or "v5r1"/"v5"/"w5" (any case).
func ParseWalletVersion(s string) (WalletVersion, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "v4r2", "v4", "wallet v4r2":
		return V4R2, nil
	case "v5r1", "v5", "w5", "wallet v5r1":
		return V5R1, nil
	}
	return VersionUnknown, fmt.Errorf("wallet version %q: want v4r2 or v5r1", s)
}

// tonutilsConfig is the tonutils-go version config for v on net.
func (v WalletVersion) tonutilsConfig(net Network) (tonwallet.VersionConfig, error) {
	switch v {
	case V4R2:
		return tonwallet.V4R2, nil
	case V5R1:
		return tonwallet.ConfigV5R1Final{NetworkGlobalID: net.GlobalID(), Workchain: 0}, nil
	}
	return nil, fmt.Errorf("wallet version %s cannot sign: choose v4r2 or v5r1", v)
}

// tongoVersion is the tongo version, for the independent message check.
func (v WalletVersion) tongoVersion() (tongowallet.Version, error) {
	switch v {
	case V4R2:
		return tongowallet.V4R2, nil
	case V5R1:
		return tongowallet.V5R1, nil
	}
	return 0, fmt.Errorf("wallet version %s is not supported", v)
}

// subwallet is the default subwallet id of v (tonutils-go's defaults).
func (v WalletVersion) subwallet() uint32 {
	if v == V5R1 {
		return 0
	}
	return tonwallet.DefaultSubwallet
}

// MaxMessages is how many internal messages one external may carry.
func (v WalletVersion) MaxMessages() int {
	if v == V5R1 {
		return 255
	}
	return 4
}

// OwnerKey is the owner wallet's Ed25519 private key. It never prints,
// logs or marshals itself, and Zero wipes it in every copy.
type OwnerKey struct {
	redacted
	ref func() *ownerKeyData
}

func (k OwnerKey) data() *ownerKeyData {
	if k.ref == nil {
		return nil
	}
	return k.ref()
}

type ownerKeyData struct {
	priv ed25519.PrivateKey
}

// NewOwnerKey copies priv (64 bytes: seed ‖ public key) into an OwnerKey.
// The caller may wipe priv afterwards.
func NewOwnerKey(priv ed25519.PrivateKey) (OwnerKey, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return OwnerKey{}, fmt.Errorf("owner key: want %d bytes, have %d", ed25519.PrivateKeySize, len(priv))
	}
	k := make(ed25519.PrivateKey, ed25519.PrivateKeySize)
	copy(k, priv)
	return OwnerKey{ref: hide(&ownerKeyData{priv: k})}, nil
}

// IsZero reports whether k holds no key (never set, or zeroed).
func (k OwnerKey) IsZero() bool { d := k.data(); return d == nil || len(d.priv) == 0 }

// Public returns the public key, or nil for a zero key.
func (k OwnerKey) Public() ed25519.PublicKey {
	if k.IsZero() {
		return nil
	}
	return append(ed25519.PublicKey(nil), k.data().priv.Public().(ed25519.PublicKey)...)
}

// Zero wipes the key in every copy of k.
func (k OwnerKey) Zero() {
	d := k.data()
	if d == nil {
		return
	}
	wipe(d.priv)
	d.priv = nil
}

// private returns the key itself (not a copy) for signing inside the package.
func (k OwnerKey) private() ed25519.PrivateKey {
	if k.IsZero() {
		return nil
	}
	return k.data().priv
}

// WalletAddress returns the address of the standard wallet v with public
// key pub on net (workchain 0, default subwallet), non-bounceable as
// wallets show it, testnet-only on testnet. It uses tonutils-go's
// AddressFromPubKey.
func WalletAddress(pub ed25519.PublicKey, v WalletVersion, net Network) (Address, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Address{}, fmt.Errorf("wallet address: public key must be %d bytes, have %d", ed25519.PublicKeySize, len(pub))
	}
	cfg, err := v.tonutilsConfig(net)
	if err != nil {
		return Address{}, err
	}
	a, err := tonwallet.AddressFromPubKey(pub, cfg, v.subwallet())
	if err != nil {
		return Address{}, fmt.Errorf("wallet address (%s): %w", v, err)
	}
	addr, err := AddressFromTonutils(a)
	if err != nil {
		return Address{}, err
	}
	return addr.WithFlags(false, net == Testnet), nil
}

// Owner is the owner wallet: where earnings arrive and what owns the
// cocoon wallet. In the common case it is an address only (CanSign false):
// the user keeps the key in their own wallet app and the app shows
// ton:// links to sign there. With a key (created or imported phrase) the
// app can sign transfers itself.
type Owner struct {
	Address Address
	Version WalletVersion // VersionUnknown for an address-only owner
	Network Network
	key     OwnerKey
}

// WatchOwner returns an address-only owner.
func WatchOwner(addr Address, net Network) Owner {
	return Owner{Address: addr, Network: net}
}

// OwnerFromKey returns a signing owner for the wallet v of key on net. The
// Owner shares key: zeroing either zeroes both.
func OwnerFromKey(key OwnerKey, v WalletVersion, net Network) (Owner, error) {
	if key.IsZero() {
		return Owner{}, errors.New("owner wallet: no key")
	}
	addr, err := WalletAddress(key.Public(), v, net)
	if err != nil {
		return Owner{}, err
	}
	return Owner{Address: addr, Version: v, Network: net, key: key}, nil
}

// OwnerCandidates returns the signing owners for every version the app
// supports (V5R1, then V4R2), so the user can pick the one whose address
// their wallet app shows (or the one with a balance).
func OwnerCandidates(key OwnerKey, net Network) ([]Owner, error) {
	out := make([]Owner, 0, len(WalletVersions))
	for _, v := range WalletVersions {
		o, err := OwnerFromKey(key, v, net)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// CanSign reports whether the app holds the owner's key.
func (o Owner) CanSign() bool { return !o.key.IsZero() && o.Version != VersionUnknown }

// PublicKey returns the owner's public key, or nil for an address-only owner.
func (o Owner) PublicKey() ed25519.PublicKey { return o.key.Public() }

// Key returns the owner's key (zero for an address-only owner).
func (o Owner) Key() OwnerKey { return o.key }

// String describes the owner without its key.
func (o Owner) String() string {
	key := "none"
	if !o.key.IsZero() {
		key = redactedText
	}
	return fmt.Sprintf("Owner{Address: %s, Version: %s, Network: %s, Key: %s}", o.Address.Display(), o.Version, o.Network, key)
}

// Format implements fmt.Formatter: every verb prints String, so that the
// key (an unexported field fmt would otherwise dump) never shows.
func (o Owner) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(o.String())) }

// LogValue implements slog.LogValuer.
func (o Owner) LogValue() slog.Value {
	return slog.GroupValue(slog.String("address", o.Address.Display()), slog.String("version", o.Version.String()),
		slog.String("network", o.Network.String()), slog.Bool("can_sign", o.CanSign()))
}
