package wallet

import (
	"cmp"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strings"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Hash is a 256-bit hash or dictionary key (image, model or code hash).
type Hash [32]byte

// String returns upper-case hex, as the worker prints hashes in /jsonstats.
func (h Hash) String() string { return strings.ToUpper(hex.EncodeToString(h[:])) }

// ParseHash reads 64 hex digits in either case.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 64 {
		return h, fmt.Errorf("hash: want 64 hex digits, have %d characters", len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, errors.New("hash: not hex")
	}
	return h, nil
}

// ModelHash is SHA-256 of the full model string the worker reports
// (name@commit:verity), the key of the root's allowed-model set.
func ModelHash(model string) Hash { return sha256.Sum256([]byte(model)) }

// MaxRootStructVersion is the newest params layout this parser knows.
const MaxRootStructVersion = 3

// Defaults for params fields absent from older struct versions.
const (
	DefaultPriceMultiplier uint32 = 10000 // 1.0 in units of 1/10000
	DefaultMinStakeNano    int64  = NanoPerTON
)

// RegisteredProxy is an entry of the root contract's proxy registry.
type RegisteredProxy struct {
	Seqno uint32
	// Type is the address type bit; 0 = IPv4 text, the only one defined.
	// Entries of another type keep Text and leave the addresses empty.
	Type uint8
	// Text is the stored text: "ip:port" or "ip:port ip:port".
	Text string
	// WorkerAddr is where workers connect (the first ip:port).
	WorkerAddr string
	// ClientAddr is where clients connect (the second ip:port, or the
	// first when only one is given).
	ClientAddr string
}

// RootParams is the root contract's params cell (also stored, without
// code, in each worker contract).
type RootParams struct {
	StructVersion     uint8 // 0..3
	ParamsVersion     uint32
	UniqueID          uint32
	IsTest            bool
	PricePerToken     int64 // nanoTON per adjusted token, client price
	WorkerFeePerToken int64 // nanoTON per adjusted token, worker share
	// Price multipliers in units of 1/10000; DefaultPriceMultiplier where
	// the struct version has no field (prompt, completion: v≥3; cached,
	// reasoning: v≥2).
	PromptMultiplier       uint32
	CachedMultiplier       uint32
	CompletionMultiplier   uint32
	ReasoningMultiplier    uint32
	ProxyDelayBeforeClose  uint32 // seconds
	ClientDelayBeforeClose uint32 // seconds
	// Minimum stakes in nanoTON (v≥1; DefaultMinStakeNano before).
	MinProxyStake  int64
	MinClientStake int64
	// Contract code, nil where absent (always absent in worker contracts).
	ProxyCode  *cell.Cell
	WorkerCode *cell.Cell
	ClientCode *cell.Cell
}

// RootConfig is the root contract's data (RootContractConfig::load_from_state).
type RootConfig struct {
	Owner          Address
	Version        uint32 // only a higher version replaces a config already read
	ProxyHashes    []Hash // accepted proxy image hashes
	Proxies        []RegisteredProxy
	LastProxySeqno uint32
	WorkerHashes   []Hash // allowed worker image hashes (TDX)
	ModelHashes    []Hash // allowed model hashes (ModelHash)
	Params         RootParams
}

// ParseRootConfigBOC parses the root contract's data from a bag of cells.
func ParseRootConfigBOC(b []byte) (RootConfig, error) {
	c, err := cellFromBOC(b)
	if err != nil {
		return RootConfig{}, fmt.Errorf("root config: %w", err)
	}
	return ParseRootConfig(c)
}

// cellFromBOC is cell.FromBOC, which panics on some truncated input,
// with the panic turned into an error.
func cellFromBOC(b []byte) (c *cell.Cell, err error) {
	defer recoverCellPanic(&err, "bag of cells")
	c, err = cell.FromBOC(b)
	if err != nil {
		return nil, fmt.Errorf("bag of cells: %w", err)
	}
	return c, nil
}

// ParseRootConfig parses the root contract's data cell (the account's
// data, as GetAccount returns it): owner address ‖ version u32 ‖ ^data ‖
// ^params. Trailing bits and references are ignored (room for later
// fields). A malformed cell gives an error, never a panic.
func ParseRootConfig(root *cell.Cell) (rc RootConfig, err error) {
	if root == nil {
		return rc, errors.New("root config: no cell")
	}
	defer recoverCellPanic(&err, "root config")
	s := root.BeginParse()
	if rc.Owner, err = loadStdAddr(s, "owner address"); err != nil {
		return RootConfig{}, fmt.Errorf("root config: %w", err)
	}
	v, err := s.LoadUInt(32)
	if err != nil {
		return RootConfig{}, fmt.Errorf("root config: version: %w", err)
	}
	rc.Version = uint32(v)
	data, err := s.LoadRef()
	if err != nil {
		return RootConfig{}, fmt.Errorf("root config: data cell reference: %w", err)
	}
	params, err := s.LoadRef()
	if err != nil {
		return RootConfig{}, fmt.Errorf("root config: params cell reference: %w", err)
	}
	if err := rc.parseData(data); err != nil {
		return RootConfig{}, fmt.Errorf("root config: data: %w", err)
	}
	if rc.Params, err = parseParams(params); err != nil {
		return RootConfig{}, fmt.Errorf("root config: params: %w", err)
	}
	return rc, nil
}

func (rc *RootConfig) parseData(s *cell.Slice) error {
	var err error
	if rc.ProxyHashes, err = loadHashSet(s, "proxy hashes"); err != nil {
		return err
	}
	if rc.Proxies, err = loadProxies(s); err != nil {
		return err
	}
	seq, err := s.LoadUInt(32)
	if err != nil {
		return fmt.Errorf("last_proxy_seqno: %w", err)
	}
	rc.LastProxySeqno = uint32(seq)
	if rc.WorkerHashes, err = loadHashSet(s, "worker hashes"); err != nil {
		return err
	}
	if rc.ModelHashes, err = loadHashSet(s, "model hashes"); err != nil {
		return err
	}
	return nil
}

// loadHashSet loads a HashmapE(256) whose keys are the set.
func loadHashSet(s *cell.Slice, what string) ([]Hash, error) {
	d, err := s.LoadDict(256)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	kvs, err := d.LoadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out := make([]Hash, 0, len(kvs))
	for _, kv := range kvs {
		k, err := kv.Key.LoadSlice(256)
		if err != nil {
			return nil, fmt.Errorf("%s: key: %w", what, err)
		}
		out = append(out, Hash(k))
	}
	return out, nil
}

func loadProxies(s *cell.Slice) ([]RegisteredProxy, error) {
	d, err := s.LoadDict(32)
	if err != nil {
		return nil, fmt.Errorf("registered proxies: %w", err)
	}
	kvs, err := d.LoadAll()
	if err != nil {
		return nil, fmt.Errorf("registered proxies: %w", err)
	}
	out := make([]RegisteredProxy, 0, len(kvs))
	for _, kv := range kvs {
		seq, err := kv.Key.LoadUInt(32)
		if err != nil {
			return nil, fmt.Errorf("registered proxies: key: %w", err)
		}
		p := RegisteredProxy{Seqno: uint32(seq)}
		typ, err := kv.Value.LoadUInt(1)
		if err != nil {
			return nil, fmt.Errorf("proxy %d: type: %w", seq, err)
		}
		n, err := kv.Value.LoadUInt(7)
		if err != nil {
			return nil, fmt.Errorf("proxy %d: length: %w", seq, err)
		}
		text, err := kv.Value.LoadSlice(uint(n) * 8)
		if err != nil {
			return nil, fmt.Errorf("proxy %d: address text is shorter than its length %d: %w", seq, n, err)
		}
		p.Type, p.Text = uint8(typ), string(text)
		if p.Type == 0 {
			if p.WorkerAddr, p.ClientAddr, err = parseProxyText(p.Text); err != nil {
				return nil, fmt.Errorf("proxy %d: %w", seq, err)
			}
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b RegisteredProxy) int { return cmp.Compare(a.Seqno, b.Seqno) })
	return out, nil
}

// parseProxyText reads "ip:port" or "ip:port ip:port" (IPv4).
func parseProxyText(text string) (worker, client string, err error) {
	for _, r := range text {
		if r < 0x20 || r > 0x7e {
			return "", "", fmt.Errorf("address text %q has a non-printable character", text)
		}
	}
	parts := strings.Split(text, " ")
	if len(parts) < 1 || len(parts) > 2 {
		return "", "", fmt.Errorf("address text %q: want \"ip:port\" or \"ip:port ip:port\"", text)
	}
	for i, p := range parts {
		ap, err := netip.ParseAddrPort(p)
		if err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
			return "", "", fmt.Errorf("address text %q: %q is not an IPv4 ip:port", text, p)
		}
		parts[i] = ap.String()
	}
	if len(parts) == 1 {
		return parts[0], parts[0], nil
	}
	return parts[0], parts[1], nil
}

func parseParams(s *cell.Slice) (p RootParams, err error) {
	sv, err := s.LoadUInt(8)
	if err != nil {
		return p, fmt.Errorf("struct_version: %w", err)
	}
	if sv > MaxRootStructVersion {
		return p, fmt.Errorf("struct_version %d is newer than this app understands (at most %d): update the app", sv, MaxRootStructVersion)
	}
	p.StructVersion = uint8(sv)
	u32 := func(what string) (uint32, error) {
		v, err := s.LoadUInt(32)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", what, err)
		}
		return uint32(v), nil
	}
	coins := func(what string) (int64, error) {
		v, err := s.LoadBigCoins()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", what, err)
		}
		if !v.IsInt64() {
			return 0, fmt.Errorf("%s: %s nanoTON does not fit in 63 bits", what, v)
		}
		return v.Int64(), nil
	}
	if p.ParamsVersion, err = u32("params_version"); err != nil {
		return p, err
	}
	if p.UniqueID, err = u32("unique_id"); err != nil {
		return p, err
	}
	if p.IsTest, err = s.LoadBoolBit(); err != nil {
		return p, fmt.Errorf("is_test: %w", err)
	}
	if p.PricePerToken, err = coins("price_per_token"); err != nil {
		return p, err
	}
	if p.WorkerFeePerToken, err = coins("worker_fee_per_token"); err != nil {
		return p, err
	}
	p.PromptMultiplier, p.CachedMultiplier = DefaultPriceMultiplier, DefaultPriceMultiplier
	p.CompletionMultiplier, p.ReasoningMultiplier = DefaultPriceMultiplier, DefaultPriceMultiplier
	if sv >= 3 {
		if p.PromptMultiplier, err = u32("prompt_tokens_price_multiplier"); err != nil {
			return p, err
		}
	}
	if sv >= 2 {
		if p.CachedMultiplier, err = u32("cached_tokens_price_multiplier"); err != nil {
			return p, err
		}
	}
	if sv >= 3 {
		if p.CompletionMultiplier, err = u32("completion_tokens_price_multiplier"); err != nil {
			return p, err
		}
	}
	if sv >= 2 {
		if p.ReasoningMultiplier, err = u32("reasoning_tokens_price_multiplier"); err != nil {
			return p, err
		}
	}
	if p.ProxyDelayBeforeClose, err = u32("proxy_delay_before_close"); err != nil {
		return p, err
	}
	if p.ClientDelayBeforeClose, err = u32("client_delay_before_close"); err != nil {
		return p, err
	}
	p.MinProxyStake, p.MinClientStake = DefaultMinStakeNano, DefaultMinStakeNano
	if sv >= 1 {
		if p.MinProxyStake, err = coins("min_proxy_stake"); err != nil {
			return p, err
		}
		if p.MinClientStake, err = coins("min_client_stake"); err != nil {
			return p, err
		}
	}
	for _, c := range []struct {
		dst  **cell.Cell
		name string
	}{{&p.ProxyCode, "proxy code"}, {&p.WorkerCode, "worker code"}, {&p.ClientCode, "client code"}} {
		ref, err := s.LoadMaybeRef()
		if err != nil {
			return p, fmt.Errorf("%s: %w", c.name, err)
		}
		if ref != nil {
			if *c.dst, err = ref.ToCell(); err != nil {
				return p, fmt.Errorf("%s: %w", c.name, err)
			}
		}
	}
	return p, nil
}

// ToCell builds the params cell; withCode=false leaves the code refs
// out, as in a worker contract's data.
func (p RootParams) ToCell(withCode bool) (c *cell.Cell, err error) {
	if p.StructVersion > MaxRootStructVersion {
		return nil, fmt.Errorf("params: struct_version %d > %d", p.StructVersion, MaxRootStructVersion)
	}
	if p.PricePerToken < 0 || p.WorkerFeePerToken < 0 || p.MinProxyStake < 0 || p.MinClientStake < 0 {
		return nil, errors.New("params: negative amount")
	}
	defer recoverCellPanic(&err, "params")
	b := cell.BeginCell().
		MustStoreUInt(uint64(p.StructVersion), 8).
		MustStoreUInt(uint64(p.ParamsVersion), 32).
		MustStoreUInt(uint64(p.UniqueID), 32).
		MustStoreBoolBit(p.IsTest).
		MustStoreBigCoins(big.NewInt(p.PricePerToken)).
		MustStoreBigCoins(big.NewInt(p.WorkerFeePerToken))
	if p.StructVersion >= 3 {
		b.MustStoreUInt(uint64(p.PromptMultiplier), 32)
	}
	if p.StructVersion >= 2 {
		b.MustStoreUInt(uint64(p.CachedMultiplier), 32)
	}
	if p.StructVersion >= 3 {
		b.MustStoreUInt(uint64(p.CompletionMultiplier), 32)
	}
	if p.StructVersion >= 2 {
		b.MustStoreUInt(uint64(p.ReasoningMultiplier), 32)
	}
	b.MustStoreUInt(uint64(p.ProxyDelayBeforeClose), 32).MustStoreUInt(uint64(p.ClientDelayBeforeClose), 32)
	if p.StructVersion >= 1 {
		b.MustStoreBigCoins(big.NewInt(p.MinProxyStake)).MustStoreBigCoins(big.NewInt(p.MinClientStake))
	}
	for _, code := range []*cell.Cell{p.ProxyCode, p.WorkerCode, p.ClientCode} {
		if !withCode {
			code = nil
		}
		b.MustStoreMaybeRef(code)
	}
	return b.EndCell(), nil
}

// ToCell builds the root contract's data cell (the inverse of
// ParseRootConfig), for fixtures and for tests of code that reads it.
func (rc RootConfig) ToCell() (c *cell.Cell, err error) {
	if rc.Owner.IsZero() {
		return nil, errors.New("root config: no owner address")
	}
	params, err := rc.Params.ToCell(true)
	if err != nil {
		return nil, err
	}
	defer recoverCellPanic(&err, "root config")
	proxies := cell.NewDict(32)
	for _, p := range rc.Proxies {
		if len(p.Text) > 127 {
			return nil, fmt.Errorf("proxy %d: address text longer than 127 bytes", p.Seqno)
		}
		v := cell.BeginCell().MustStoreUInt(uint64(p.Type), 1).MustStoreUInt(uint64(len(p.Text)), 7).
			MustStoreSlice([]byte(p.Text), uint(len(p.Text))*8).EndCell()
		if err := proxies.SetIntKey(big.NewInt(int64(p.Seqno)), v); err != nil {
			return nil, fmt.Errorf("proxy %d: %w", p.Seqno, err)
		}
	}
	data := cell.BeginCell()
	if err := storeHashSet(data, rc.ProxyHashes); err != nil {
		return nil, err
	}
	data.MustStoreDict(proxies).MustStoreUInt(uint64(rc.LastProxySeqno), 32)
	if err := storeHashSet(data, rc.WorkerHashes); err != nil {
		return nil, err
	}
	if err := storeHashSet(data, rc.ModelHashes); err != nil {
		return nil, err
	}
	return cell.BeginCell().
		MustStoreAddr(rc.Owner.WithFlags(true, false).Tonutils()).
		MustStoreUInt(uint64(rc.Version), 32).
		MustStoreRef(data.EndCell()).
		MustStoreRef(params).
		EndCell(), nil
}

func storeHashSet(b *cell.Builder, hs []Hash) error {
	d := cell.NewDict(256)
	for _, h := range hs {
		if err := d.Set(cell.BeginCell().MustStoreSlice(h[:], 256).EndCell(), cell.BeginCell().EndCell()); err != nil {
			return fmt.Errorf("hash set: %w", err)
		}
	}
	b.MustStoreDict(d)
	return nil
}

// CheckProduction reports why rc must not be used to earn real TON: a
// test root (is_test), or it is empty of allowed images.
func (rc RootConfig) CheckProduction() error {
	var errs []error
	if rc.Params.IsTest {
		errs = append(errs, errors.New("the root contract is a test root (is_test): set the production root contract address"))
	}
	if len(rc.WorkerHashes) == 0 {
		errs = append(errs, errors.New("the root contract lists no allowed worker images"))
	}
	return errors.Join(errs...)
}

// AllowsModel reports whether the model string (name@commit:verity) is in
// the allowed-model set.
func (rc RootConfig) AllowsModel(model string) bool {
	return slices.Contains(rc.ModelHashes, ModelHash(model))
}

// AllowsWorkerImage reports whether a worker image hash is allowed.
func (rc RootConfig) AllowsWorkerImage(h Hash) bool { return slices.Contains(rc.WorkerHashes, h) }

// RootConfigJSON is the root config in the form of the worker's
// /jsonstats "root_contract_config" object (same keys, the duplicate
// cached multiplier key written once).
type RootConfigJSON struct {
	OwnerAddress                    string                `json:"owner_address"`
	ProxyHashes                     []string              `json:"proxy_hashes"`
	RegisteredProxies               []RegisteredProxyJSON `json:"registered_proxies"`
	LastProxySeqno                  uint32                `json:"last_proxy_seqno"`
	WorkerHashes                    []string              `json:"worker_hashes"`
	ModelHashes                     []string              `json:"model_hashes"`
	Version                         uint32                `json:"version"`
	StructVersion                   uint8                 `json:"struct_version"`
	ParamsVersion                   uint32                `json:"params_version"`
	UniqueID                        uint32                `json:"unique_id"`
	IsTest                          bool                  `json:"is_test"`
	PricePerToken                   int64                 `json:"price_per_token"`
	WorkerFeePerToken               int64                 `json:"worker_fee_per_token"`
	PromptTokensPriceMultiplier     uint32                `json:"prompt_tokens_price_multiplier"`
	CachedTokensPriceMultiplier     uint32                `json:"cached_tokens_price_multiplier"`
	CompletionTokensPriceMultiplier uint32                `json:"completion_tokens_price_multiplier"`
	ReasoningTokensPriceMultiplier  uint32                `json:"reasoning_tokens_price_multiplier"`
	ProxyDelayBeforeClose           uint32                `json:"proxy_delay_before_close"`
	ClientDelayBeforeClose          uint32                `json:"client_delay_before_close"`
	ProxyMinStake                   int64                 `json:"proxy_min_stake"`
	ClientMinStake                  int64                 `json:"client_min_stake"`
	ProxyCodeHash                   string                `json:"proxy_code_hash"`
	WorkerCodeHash                  string                `json:"worker_code_hash"`
	ClientCodeHash                  string                `json:"client_code_hash"`
}

// RegisteredProxyJSON is an entry of registered_proxies in /jsonstats form.
type RegisteredProxyJSON struct {
	Seqno             uint32 `json:"seqno"`
	AddressForClients string `json:"address_for_clients"` // "[ip:port]"
	AddressForWorkers string `json:"address_for_workers"` // "[ip:port]"
}

// JSONStats converts rc to the /jsonstats form: hashes in upper-case hex,
// the owner address user-friendly bounceable (testnet-only on testnet),
// proxy addresses in brackets as the worker prints them, an absent code
// hash as 64 zeros.
func (rc RootConfig) JSONStats(net Network) RootConfigJSON {
	hexes := func(hs []Hash) []string {
		out := make([]string, len(hs))
		for i, h := range hs {
			out[i] = h.String()
		}
		return out
	}
	codeHash := func(c *cell.Cell) string {
		if c == nil {
			return Hash{}.String()
		}
		return Hash(c.Hash()).String()
	}
	p := rc.Params
	j := RootConfigJSON{
		OwnerAddress:                    rc.Owner.UserFriendly(true, net == Testnet),
		ProxyHashes:                     hexes(rc.ProxyHashes),
		RegisteredProxies:               make([]RegisteredProxyJSON, 0, len(rc.Proxies)),
		LastProxySeqno:                  rc.LastProxySeqno,
		WorkerHashes:                    hexes(rc.WorkerHashes),
		ModelHashes:                     hexes(rc.ModelHashes),
		Version:                         rc.Version,
		StructVersion:                   p.StructVersion,
		ParamsVersion:                   p.ParamsVersion,
		UniqueID:                        p.UniqueID,
		IsTest:                          p.IsTest,
		PricePerToken:                   p.PricePerToken,
		WorkerFeePerToken:               p.WorkerFeePerToken,
		PromptTokensPriceMultiplier:     p.PromptMultiplier,
		CachedTokensPriceMultiplier:     p.CachedMultiplier,
		CompletionTokensPriceMultiplier: p.CompletionMultiplier,
		ReasoningTokensPriceMultiplier:  p.ReasoningMultiplier,
		ProxyDelayBeforeClose:           p.ProxyDelayBeforeClose,
		ClientDelayBeforeClose:          p.ClientDelayBeforeClose,
		ProxyMinStake:                   p.MinProxyStake,
		ClientMinStake:                  p.MinClientStake,
		ProxyCodeHash:                   codeHash(p.ProxyCode),
		WorkerCodeHash:                  codeHash(p.WorkerCode),
		ClientCodeHash:                  codeHash(p.ClientCode),
	}
	for _, rp := range rc.Proxies {
		js := RegisteredProxyJSON{Seqno: rp.Seqno}
		if rp.WorkerAddr != "" {
			js.AddressForWorkers = "[" + rp.WorkerAddr + "]"
			js.AddressForClients = "[" + rp.ClientAddr + "]"
		}
		j.RegisteredProxies = append(j.RegisteredProxies, js)
	}
	return j
}

// WorkerContractData is a worker contract's data (one contract per proxy
// relationship and params version).
type WorkerContractData struct {
	Owner          Address
	Proxy          Address // proxy contract
	ProxyPublicKey ed25519.PublicKey
	State          uint8  // 2 bits: 0 at deploy, 2 closed; others undocumented
	TokensPaid     uint64 // tokens already paid out
	Params         RootParams
}

// WorkerStateClosed is the worker contract state after the relationship
// was closed.
const WorkerStateClosed uint8 = 2

// ParseWorkerContractData parses a worker contract's data cell: owner
// address ‖ proxy contract address ‖ proxy public key (256) ‖ state (2) ‖
// tokens paid (64) ‖ ^params (code refs absent).
func ParseWorkerContractData(c *cell.Cell) (wd WorkerContractData, err error) {
	if c == nil {
		return wd, errors.New("worker contract data: no cell")
	}
	defer recoverCellPanic(&err, "worker contract data")
	s := c.BeginParse()
	if wd.Owner, err = loadStdAddr(s, "owner address"); err != nil {
		return WorkerContractData{}, fmt.Errorf("worker contract data: %w", err)
	}
	if wd.Proxy, err = loadStdAddr(s, "proxy contract address"); err != nil {
		return WorkerContractData{}, fmt.Errorf("worker contract data: %w", err)
	}
	pub, err := s.LoadSlice(256)
	if err != nil {
		return WorkerContractData{}, fmt.Errorf("worker contract data: proxy public key: %w", err)
	}
	wd.ProxyPublicKey = pub
	st, err := s.LoadUInt(2)
	if err != nil {
		return WorkerContractData{}, fmt.Errorf("worker contract data: state: %w", err)
	}
	wd.State = uint8(st)
	if wd.TokensPaid, err = s.LoadUInt(64); err != nil {
		return WorkerContractData{}, fmt.Errorf("worker contract data: tokens: %w", err)
	}
	params, err := s.LoadRef()
	if err != nil {
		return WorkerContractData{}, fmt.Errorf("worker contract data: params cell reference: %w", err)
	}
	if wd.Params, err = parseParams(params); err != nil {
		return WorkerContractData{}, fmt.Errorf("worker contract data: params: %w", err)
	}
	return wd, nil
}

// ToCell builds the worker contract's data cell (params without code).
func (wd WorkerContractData) ToCell() (c *cell.Cell, err error) {
	if wd.Owner.IsZero() || wd.Proxy.IsZero() || len(wd.ProxyPublicKey) != ed25519.PublicKeySize || wd.State > 3 {
		return nil, errors.New("worker contract data: need owner and proxy addresses, a 32-byte proxy key and a 2-bit state")
	}
	params, err := wd.Params.ToCell(false)
	if err != nil {
		return nil, err
	}
	defer recoverCellPanic(&err, "worker contract data")
	return cell.BeginCell().
		MustStoreAddr(wd.Owner.WithFlags(true, false).Tonutils()).
		MustStoreAddr(wd.Proxy.WithFlags(true, false).Tonutils()).
		MustStoreSlice(wd.ProxyPublicKey, 256).
		MustStoreUInt(uint64(wd.State), 2).
		MustStoreUInt(wd.TokensPaid, 64).
		MustStoreRef(params).
		EndCell(), nil
}

// ContractAddress returns the address of a contract with the given code
// and data cells (hash of StateInit{code, data}, workchain 0),
// non-bounceable. For the worker contract: the root's WorkerCode and
// WorkerContractData.ToCell().
func ContractAddress(code, data *cell.Cell, testnetOnly bool) (Address, error) {
	if code == nil || data == nil {
		return Address{}, errors.New("contract address: need code and data")
	}
	h := stateInitHash(
		cellRef{hash: [32]byte(code.Hash()), depth: code.Depth()},
		cellRef{hash: [32]byte(data.Hash()), depth: data.Depth()})
	return NewAddress(BasechainID, h, false, testnetOnly), nil
}

// recoverCellPanic turns a panic inside the cell library (malformed
// input it does not check) into an error.
func recoverCellPanic(err *error, what string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: malformed cell: %v", what, r)
	}
}
