package wallet

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// NodeKeySize is the size of node_wallet_key: 32 random bytes, the Ed25519
// seed of the key that signs the cocoon wallet's transfers.
const NodeKeySize = ed25519.SeedSize

// NodeKey is the node wallet key (node_wallet_key in worker.conf,
// NODE_WALLET_KEY in runtime.vars). It never prints, logs or marshals
// itself, and Zero wipes it in every copy.
type NodeKey struct {
	redacted
	ref func() *nodeKeyData
}

func (k NodeKey) data() *nodeKeyData {
	if k.ref == nil {
		return nil
	}
	return k.ref()
}

type nodeKeyData struct {
	seed []byte
}

// NewNodeKey makes a fresh node key from crypto/rand.
func NewNodeKey() (NodeKey, error) {
	seed := make([]byte, NodeKeySize)
	if _, err := rand.Read(seed); err != nil {
		return NodeKey{}, fmt.Errorf("new node key: %w", err)
	}
	return NodeKey{ref: hide(&nodeKeyData{seed: seed})}, nil
}

// NodeKeyFromSeed copies a 32-byte seed into a NodeKey.
func NodeKeyFromSeed(seed []byte) (NodeKey, error) {
	if len(seed) != NodeKeySize {
		return NodeKey{}, fmt.Errorf("node wallet key: want %d bytes, have %d", NodeKeySize, len(seed))
	}
	return NodeKey{ref: hide(&nodeKeyData{seed: append([]byte(nil), seed...)})}, nil
}

// ParseNodeKey reads node_wallet_key: base64 of 32 bytes (standard
// alphabet with padding as written to worker.conf; URL alphabet and
// missing padding are accepted too). The error never quotes the value.
func ParseNodeKey(s string) (NodeKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return NodeKey{}, errors.New("node wallet key is empty")
	}
	norm := strings.TrimRight(strings.NewReplacer("-", "+", "_", "/").Replace(s), "=")
	seed := make([]byte, base64.RawStdEncoding.DecodedLen(len(norm)))
	n, err := base64.RawStdEncoding.Decode(seed, []byte(norm))
	if err != nil {
		wipe(seed)
		return NodeKey{}, errors.New("node wallet key is not base64: it must be 32 random bytes in base64 (44 characters)")
	}
	defer wipe(seed)
	if n != NodeKeySize {
		return NodeKey{}, fmt.Errorf("node wallet key decodes to %d bytes, want %d (44 base64 characters)", n, NodeKeySize)
	}
	return NodeKeyFromSeed(seed[:n])
}

// IsZero reports whether k holds no key (never set, or zeroed).
func (k NodeKey) IsZero() bool { d := k.data(); return d == nil || len(d.seed) == 0 }

// Base64 returns the value for worker.conf's node_wallet_key and
// runtime.vars' NODE_WALLET_KEY: standard base64 with padding (44
// characters). It is the secret itself; hand it only to the config writer.
func (k NodeKey) Base64() string {
	if k.IsZero() {
		return ""
	}
	return base64.StdEncoding.EncodeToString(k.data().seed)
}

// AppendSeed appends the 32-byte seed to dst (for the keystore); wipe the
// result after use.
func (k NodeKey) AppendSeed(dst []byte) []byte {
	if k.IsZero() {
		return dst
	}
	return append(dst, k.data().seed...)
}

// PublicKey returns the Ed25519 public key,
// ed25519.NewKeyFromSeed(seed).Public(), or nil for a zero key.
func (k NodeKey) PublicKey() ed25519.PublicKey {
	if k.IsZero() {
		return nil
	}
	priv := ed25519.NewKeyFromSeed(k.data().seed)
	defer wipe(priv)
	return append(ed25519.PublicKey(nil), priv[ed25519.SeedSize:]...)
}

// Zero wipes the key in every copy of k.
func (k NodeKey) Zero() {
	d := k.data()
	if d == nil {
		return
	}
	wipe(d.seed)
	d.seed = nil
}

// The cocoon wallet contract code is known here only by its
// representation hash and depth (Cocoon's CocoonWallet.cpp embeds the
// compiled code; the app does not ship it). That is enough to derive the
// address; on chain, compare the deployed code's hash with
// CocoonWalletCodeHash before trusting get-method results.
const (
	CocoonWalletCodeHashHex = "7a48f05ceef40f06cabbaa39c1c5a67b24e8bb59d8cf8a74e49988a5f44cf66a"
	CocoonWalletCodeDepth   = 6
)

// CocoonWalletCodeHash is CocoonWalletCodeHashHex as bytes.
var CocoonWalletCodeHash = func() [32]byte {
	b, err := hex.DecodeString(CocoonWalletCodeHashHex)
	if err != nil || len(b) != 32 {
		panic("wallet: bad cocoon wallet code hash constant")
	}
	return [32]byte(b)
}()

// CocoonWalletAddress returns the address of the cocoon wallet owned by
// owner with node public key nodePub (generate-cocoon-wallet-address.cpp):
// the hash of the StateInit {code: the cocoon wallet code, data: seqno 0,
// subwallet 0, nodePub, flags 0, owner as addr_std}, workchain 0, printed
// non-bounceable (UQ…), testnet-only (0Q…) when the owner address is. It
// is computed by hand from the code's hash and depth (see cellhash.go).
func CocoonWalletAddress(owner Address, nodePub ed25519.PublicKey) (Address, error) {
	if owner.IsZero() {
		return Address{}, errors.New("cocoon wallet address: no owner address")
	}
	if len(nodePub) != ed25519.PublicKeySize {
		return Address{}, fmt.Errorf("cocoon wallet address: node public key must be %d bytes, have %d", ed25519.PublicKeySize, len(nodePub))
	}
	var w bitWriter
	w.uint(0, 32) // seqno
	w.uint(0, 32) // subwallet
	w.bytes(nodePub)
	w.uint(0, 32)    // flags: bit 0 = external messages blocked
	w.uint(0b100, 3) // addr_std$10, anycast: nothing$0
	w.uint(uint64(uint8(owner.workchain)), 8)
	w.bytes(owner.hash[:])
	data := reprHash(&w, nil)
	code := cellRef{hash: CocoonWalletCodeHash, depth: CocoonWalletCodeDepth}
	return NewAddress(BasechainID, stateInitHash(code, data), false, owner.testnet), nil
}

// CocoonWalletData builds the cocoon wallet's data cell (the layout
// CocoonWalletAddress hashes, with the given seqno and flags) with
// tonutils-go's cell builder.
func CocoonWalletData(owner Address, nodePub ed25519.PublicKey, seqno, flags uint32) (*cell.Cell, error) {
	if owner.IsZero() || len(nodePub) != ed25519.PublicKeySize {
		return nil, errors.New("cocoon wallet data: need an owner address and a 32-byte node public key")
	}
	return cell.BeginCell().
		MustStoreUInt(uint64(seqno), 32).
		MustStoreUInt(0, 32).
		MustStoreSlice(nodePub, 256).
		MustStoreUInt(uint64(flags), 32).
		MustStoreAddr(owner.WithFlags(true, false).Tonutils()).
		EndCell(), nil
}

// CocoonWalletState is the cocoon wallet's data as read from chain.
type CocoonWalletState struct {
	Seqno     uint32
	Subwallet uint32
	PublicKey ed25519.PublicKey
	Flags     uint32
	Owner     Address
}

// Blocked reports whether the owner blocked the node key (flag bit 0, the
// "b" command): the wallet refuses externals until "u".
func (s CocoonWalletState) Blocked() bool { return s.Flags&1 != 0 }

// ParseCocoonWalletData reads the cocoon wallet's data cell.
func ParseCocoonWalletData(c *cell.Cell) (st CocoonWalletState, err error) {
	if c == nil {
		return st, errors.New("cocoon wallet data: no cell")
	}
	defer recoverCellPanic(&err, "cocoon wallet data")
	s := c.BeginParse()
	seqno, err := s.LoadUInt(32)
	if err != nil {
		return st, fmt.Errorf("cocoon wallet data: seqno: %w", err)
	}
	sub, err := s.LoadUInt(32)
	if err != nil {
		return st, fmt.Errorf("cocoon wallet data: subwallet: %w", err)
	}
	pub, err := s.LoadSlice(256)
	if err != nil {
		return st, fmt.Errorf("cocoon wallet data: public key: %w", err)
	}
	flags, err := s.LoadUInt(32)
	if err != nil {
		return st, fmt.Errorf("cocoon wallet data: flags: %w", err)
	}
	owner, err := loadStdAddr(s, "owner address")
	if err != nil {
		return st, fmt.Errorf("cocoon wallet data: %w", err)
	}
	return CocoonWalletState{Seqno: uint32(seqno), Subwallet: uint32(sub), PublicKey: pub, Flags: uint32(flags), Owner: owner}, nil
}

// loadStdAddr loads an addr_std without anycast (267 bits).
func loadStdAddr(s *cell.Slice, what string) (Address, error) {
	a, err := s.LoadAddr()
	if err != nil {
		return Address{}, fmt.Errorf("%s: %w", what, err)
	}
	if a.Type() != address.StdAddress {
		return Address{}, fmt.Errorf("%s: not a standard address (addr_std)", what)
	}
	return AddressFromTonutils(a)
}
