package standin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
)

// relKey identifies a worker relationship: the worker's owner, its cocoon
// wallet and the root params version it was made under.
type relKey struct {
	Owner, Wallet string
	ParamsVersion uint32
}

// relationship is one worker relationship with its settlement counters
// (§8.3). All fields are guarded by Proxy.stMu.
type relationship struct {
	key relKey
	sc  string // the worker contract
	// pay holds the counters; Running and ExpectedPaid are not persisted.
	pay      Payment
	sessions map[*workerSession]struct{}
}

// workerContractAddress is the stand-in worker contract of a
// relationship with this proxy.
func (p *Proxy) workerContractAddress(k relKey) string {
	return DevAddress("cocoon-provider stand-in worker contract\x00" + p.address + "\x00" + k.Owner + "\x00" + k.Wallet +
		"\x00" + strconv.FormatUint(uint64(k.ParamsVersion), 10))
}

// proxyDBVersion is the version of the proxy DB file.
const proxyDBVersion = 1

// proxyDB is the proxy DB as persisted: counters only, never job content.
type proxyDB struct {
	Version       int        `json:"version"`
	Note          string     `json:"note"`
	ProxySC       string     `json:"proxy_sc_address"`
	Relationships []relEntry `json:"relationships"`
}

type relEntry struct {
	OwnerAddress          string `json:"owner_address"`
	WalletAddress         string `json:"wallet_address"`
	ParamsVersion         uint32 `json:"params_version"`
	SCAddress             string `json:"sc_address"`
	SCInited              bool   `json:"sc_inited"`
	MaxKnown              int64  `json:"max_known"`
	CommittedToDB         int64  `json:"committed_to_db"`
	CommittedToBlockchain int64  `json:"committed_to_blockchain"`
	Paid                  int64  `json:"paid"`
}

// loadState reads the proxy DB, if there is one.
func (p *Proxy) loadState() error {
	path := p.cfg.StatePath
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stand-in proxy: read its DB: %w", err)
	}
	if err := p.decodeState(b); err != nil {
		return fmt.Errorf("stand-in proxy: its DB %s is corrupt (%v); it was left untouched: move it away to start with empty counters (they are synthetic)", path, err)
	}
	return nil
}

func (p *Proxy) decodeState(b []byte) error {
	var db proxyDB
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&db); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON document")
	}
	if db.Version != proxyDBVersion {
		return fmt.Errorf("version %d, want %d", db.Version, proxyDBVersion)
	}
	for i, e := range db.Relationships {
		if e.OwnerAddress == "" || e.WalletAddress == "" {
			return fmt.Errorf("relationship %d: no owner or wallet address", i)
		}
		if !(e.MaxKnown >= e.CommittedToDB && e.CommittedToDB >= e.CommittedToBlockchain &&
			e.CommittedToBlockchain >= e.Paid && e.Paid >= 0) {
			return fmt.Errorf("relationship %d: counters %d ≥ %d ≥ %d ≥ %d ≥ 0 do not hold", i,
				e.MaxKnown, e.CommittedToDB, e.CommittedToBlockchain, e.Paid)
		}
		k := relKey{e.OwnerAddress, e.WalletAddress, e.ParamsVersion}
		if _, dup := p.rels[k]; dup {
			return fmt.Errorf("relationship %d listed twice", i)
		}
		p.rels[k] = &relationship{key: k, sc: p.workerContractAddress(k), sessions: map[*workerSession]struct{}{},
			pay: Payment{SCInited: e.SCInited, MaxKnown: e.MaxKnown, CommittedToDB: e.CommittedToDB,
				CommittedToBlockchain: e.CommittedToBlockchain, Paid: e.Paid, ExpectedPaid: e.Paid, ParamsVersion: e.ParamsVersion}}
	}
	return nil
}

// sortedRelsLocked lists the relationships in a stable order.
func (p *Proxy) sortedRelsLocked() []*relationship {
	rs := make([]*relationship, 0, len(p.rels))
	for _, r := range p.rels {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b *relationship) int {
		return cmp.Or(cmp.Compare(a.key.Owner, b.key.Owner), cmp.Compare(a.key.Wallet, b.key.Wallet),
			cmp.Compare(a.key.ParamsVersion, b.key.ParamsVersion))
	})
	return rs
}

// saveLocked writes the proxy DB (callers hold stMu).
func (p *Proxy) saveLocked() error {
	if p.cfg.StatePath == "" {
		return nil
	}
	db := proxyDB{Version: proxyDBVersion, ProxySC: p.address,
		Note: "cocoon-provider dev mode: the stand-in proxy's counters, in adjusted tokens; SYNTHETIC, earns nothing real"}
	for _, r := range p.sortedRelsLocked() {
		db.Relationships = append(db.Relationships, relEntry{OwnerAddress: r.key.Owner, WalletAddress: r.key.Wallet,
			ParamsVersion: r.key.ParamsVersion, SCAddress: r.sc, SCInited: r.pay.SCInited, MaxKnown: r.pay.MaxKnown,
			CommittedToDB: r.pay.CommittedToDB, CommittedToBlockchain: r.pay.CommittedToBlockchain, Paid: r.pay.Paid})
	}
	b, err := json.MarshalIndent(&db, "", " ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(p.cfg.StatePath, append(b, '\n')); err != nil {
		if !p.saveFailing {
			p.log.Error("stand-in proxy: cannot write its DB; counters stay in memory and committed_to_db does not move until it can (logged once until it works again)",
				"error", err)
		}
		p.saveFailing = true
		return err
	}
	if p.saveFailing {
		p.log.Info("stand-in proxy: its DB is writable again", "path", p.cfg.StatePath)
		p.saveFailing = false
	}
	return nil
}

// pushPaymentLocked queues the relationship's counters to its connected
// workers (callers hold stMu, which keeps the pushes in order).
func (p *Proxy) pushPaymentLocked(r *relationship) {
	for s := range r.sessions {
		pm := r.pay
		s.enqueue(&Message{Type: TypePayment, Payment: &pm})
	}
}

// credit adds tokens to the relationship's max_known.
func (p *Proxy) credit(k relKey, tokens int64) {
	p.stMu.Lock()
	defer p.stMu.Unlock()
	r := p.rels[k]
	if r == nil || tokens <= 0 {
		return
	}
	if r.pay.MaxKnown > math.MaxInt64-tokens {
		p.log.Error("stand-in proxy: max_known would overflow; tokens not credited", "sc_address", r.sc, "tokens", tokens)
		return
	}
	r.pay.MaxKnown += tokens
	_ = p.saveLocked() // logged; max_known is not a persisted tier
	p.pushPaymentLocked(r)
}

// commitDB sets committed_to_db = max_known wherever they differ. The tier
// is "persisted": it moves only when the DB write succeeds.
func (p *Proxy) commitDB() {
	p.commitTier("db", func(pm *Payment) *int64 { return &pm.CommittedToDB }, func(pm *Payment) int64 { return pm.MaxKnown })
}

// commitBlockchain sets committed_to_blockchain = committed_to_db.
func (p *Proxy) commitBlockchain() {
	p.commitTier("blockchain", func(pm *Payment) *int64 { return &pm.CommittedToBlockchain },
		func(pm *Payment) int64 { return pm.CommittedToDB })
}

func (p *Proxy) commitTier(name string, tier func(*Payment) *int64, from func(*Payment) int64) {
	p.stMu.Lock()
	defer p.stMu.Unlock()
	type change struct {
		r   *relationship
		old int64
	}
	var changed []change
	for _, r := range p.rels {
		if t := tier(&r.pay); *t < from(&r.pay) {
			changed = append(changed, change{r, *t})
			*t = from(&r.pay)
		}
	}
	if len(changed) == 0 {
		return
	}
	if err := p.saveLocked(); err != nil {
		for _, c := range changed {
			*tier(&c.r.pay) = c.old
		}
		return
	}
	for _, c := range changed {
		p.log.Debug("committed", "tier", name, "sc_address", c.r.sc, "from", c.old, "to", *tier(&c.r.pay))
		p.pushPaymentLocked(c.r)
	}
}

// openRelationship finds or creates the relationship of a Hello and, on
// its first handshake, tops up the cocoon wallet from the dev faucet and
// deploys the worker contract.
func (p *Proxy) openRelationship(ctx context.Context, h Hello) *relationship {
	p.hsMu.Lock()
	defer p.hsMu.Unlock()
	k := relKey{h.OwnerAddress, h.WalletAddress, h.ParamsVersion}
	p.stMu.Lock()
	r := p.rels[k]
	if r == nil {
		r = &relationship{key: k, sc: p.workerContractAddress(k), sessions: map[*workerSession]struct{}{},
			pay: Payment{ParamsVersion: h.ParamsVersion}}
		p.rels[k] = r
		_ = p.saveLocked()
	}
	inited := r.pay.SCInited
	p.stMu.Unlock()
	if inited {
		return r
	}
	if err := p.deploy(ctx, r); err != nil {
		p.log.Warn("worker contract not deployed; the worker cannot be paid out until a later handshake deploys it",
			"sc_address", r.sc, "error", err)
		return r
	}
	p.stMu.Lock()
	r.pay.SCInited = true
	_ = p.saveLocked()
	p.stMu.Unlock()
	return r
}

// deploy books the worker contract's deployment (0.3 TON from the
// cocoon wallet), after a dev-faucet top-up of a wallet below 2.1 TON.
func (p *Proxy) deploy(ctx context.Context, r *relationship) error {
	bal, err := p.cfg.Chain.Balance(ctx, r.key.Wallet)
	if err != nil {
		return err
	}
	if bal < walletMinBalance {
		tx, err := p.cfg.Chain.Mint(ctx, r.key.Wallet, faucetAmount,
			"dev faucet (synthetic): funds the stand-in cocoon wallet, which holds less than 2.1 TON")
		if err != nil {
			return fmt.Errorf("dev faucet: %w", err)
		}
		p.log.Info("dev faucet topped up a cocoon wallet (synthetic TON)", "wallet", r.key.Wallet,
			"nanoton", faucetAmount, "tx_hash", tx.Hash)
	}
	tx, err := p.cfg.Chain.Transfer(ctx, r.key.Wallet, r.sc, deployAmount, 0, "deploy worker contract "+r.sc)
	if err != nil {
		return err
	}
	p.log.Info("worker contract deployed", "sc_address", r.sc, "owner", r.key.Owner, "tx_hash", tx.Hash)
	return nil
}

// register attaches a welcomed session to its relationship and queues the
// Welcome, which thus precedes every Payment push. It returns the
// sessions of the same worker it replaces (a restarted worker whose old
// connection is not closed yet).
func (p *Proxy) register(s *workerSession, r *relationship) []*workerSession {
	p.stMu.Lock()
	defer p.stMu.Unlock()
	var old []*workerSession
	for o := range r.sessions {
		old = append(old, o)
		delete(r.sessions, o)
	}
	r.sessions[s] = struct{}{}
	s.enqueue(&Message{Type: TypeWelcome, Welcome: &Welcome{ProxySCAddress: p.address, ProxyPublicKey: p.pubKey,
		SCAddress: r.sc, Payment: r.pay}})
	return old
}

// unregister detaches a session from its relationship.
func (p *Proxy) unregister(s *workerSession) {
	p.stMu.Lock()
	defer p.stMu.Unlock()
	if r := p.rels[s.key]; r != nil {
		delete(r.sessions, s)
	}
}

// Payout errors (PayoutResult.Error).
const (
	payoutErrRunning   = "a payout is already running"
	payoutErrNotInited = "the worker contract is not deployed"
)

// payout handles a worker's Payout: it checks the request, marks the
// payout running and moves the money in the background.
func (p *Proxy) payout(s *workerSession, tokens int64) {
	p.stMu.Lock()
	r := p.rels[s.key]
	var why string
	switch {
	case r == nil:
		why = "no relationship"
	case r.pay.Running:
		why = payoutErrRunning
	case !r.pay.SCInited:
		why = payoutErrNotInited
	case tokens > r.pay.CommittedToBlockchain:
		why = fmt.Sprintf("%d tokens asked, only %d are committed to the blockchain", tokens, r.pay.CommittedToBlockchain)
	case tokens <= r.pay.Paid:
		why = fmt.Sprintf("nothing to claim: %d tokens asked, %d already paid", tokens, r.pay.Paid)
	case p.cfg.Root.WorkerFeePerToken > 0 && tokens-r.pay.Paid > math.MaxInt64/p.cfg.Root.WorkerFeePerToken:
		why = "payout amount too large"
	}
	if why != "" {
		if r != nil {
			pm := r.pay
			s.enqueue(&Message{Type: TypePayment, Payment: &pm})
		}
		s.enqueue(&Message{Type: TypePayoutResult, PayoutResult: &PayoutResult{Tokens: tokens, Error: why}})
		p.stMu.Unlock()
		p.log.Info("payout refused", "worker", s.id, "tokens", tokens, "reason", why)
		return
	}
	r.pay.Running, r.pay.ExpectedPaid = true, tokens
	p.pushPaymentLocked(r)
	paid := r.pay.Paid
	p.stMu.Unlock()
	p.wg.Go(func() { p.runPayout(s, r, paid, tokens) })
}

// runPayout moves (tokens−paid)·worker_fee_per_token from the proxy
// contract to the owner address, the cocoon wallet paying the gas, then
// records the payout and tells the worker.
func (p *Proxy) runPayout(s *workerSession, r *relationship, paid, tokens int64) {
	ctx := context.WithoutCancel(s.ctx) // a started payout completes
	amount := (tokens - paid) * p.cfg.Root.WorkerFeePerToken
	tx, err := p.movePayout(ctx, r, tokens, amount)

	p.stMu.Lock()
	res := &PayoutResult{Tokens: tokens}
	r.pay.Running = false
	if err != nil {
		r.pay.ExpectedPaid = r.pay.Paid
		res.Error = err.Error()
	} else {
		r.pay.Paid, r.pay.ExpectedPaid = tokens, tokens
		res.NanoTON, res.TxHash = amount, tx.Hash
		_ = p.saveLocked()
	}
	p.pushPaymentLocked(r)
	to := s
	if _, ok := r.sessions[s]; !ok {
		for o := range r.sessions {
			to = o
		}
	}
	to.enqueue(&Message{Type: TypePayoutResult, PayoutResult: res})
	p.stMu.Unlock()
	if err != nil {
		p.log.Warn("payout failed; nothing moved", "sc_address", r.sc, "tokens", tokens, "error", err)
	} else {
		p.log.Info("payout done", "sc_address", r.sc, "tokens", tokens, "delta_tokens", tokens-paid,
			"nanoton", amount, "owner", r.key.Owner, "tx_hash", tx.Hash)
	}
	p.sendWallet(ctx, to)
}

// movePayout books a payout on the chain: the gas from the cocoon wallet
// (0.5 TON attached, all but the net fee returned), then the worker's
// share from the proxy contract, topped up from the dev faucet when short
// (the stand-in does not model client payments).
func (p *Proxy) movePayout(ctx context.Context, r *relationship, tokens, amount int64) (Tx, error) {
	c := p.cfg.Chain
	bal, err := c.Balance(ctx, r.key.Wallet)
	if err != nil {
		return Tx{}, err
	}
	if bal < payoutAttached {
		return Tx{}, fmt.Errorf("insufficient gas: the cocoon wallet %s holds %s TON, a payout attaches %s TON: fund the wallet",
			r.key.Wallet, formatTON(bal), formatTON(payoutAttached))
	}
	if pbal, err := c.Balance(ctx, p.address); err != nil {
		return Tx{}, err
	} else if pbal < amount {
		if _, err := c.Mint(ctx, p.address, amount-pbal+proxyReserve,
			"dev faucet (synthetic): funds the stand-in proxy contract, standing in for client payments"); err != nil {
			return Tx{}, fmt.Errorf("fund the proxy contract: %w", err)
		}
	}
	if _, err := c.Transfer(ctx, r.key.Wallet, r.sc, 0, payoutGasFee,
		fmt.Sprintf("payout request %d tokens (0.5 TON attached, excess returned)", tokens)); err != nil {
		return Tx{}, fmt.Errorf("pay the gas: %w", err)
	}
	tx, err := c.Transfer(ctx, p.address, r.key.Owner, amount, 0, fmt.Sprintf("payout %s %d", r.sc, tokens))
	if err != nil {
		return Tx{}, fmt.Errorf("pay the worker's share (the gas was spent): %w", err)
	}
	return tx, nil
}

// sendWallet pushes the session's cocoon wallet as the chain shows it.
func (p *Proxy) sendWallet(ctx context.Context, s *workerSession) {
	w, err := p.walletInfo(ctx, s.key.Wallet)
	if err != nil {
		p.log.Warn("read the cocoon wallet from the chain", "wallet", s.key.Wallet, "error", err)
		return
	}
	s.mu.Lock()
	s.lastWallet, s.walletSent = w, true
	s.mu.Unlock()
	s.enqueue(&Message{Type: TypeWallet, Wallet: &w})
}

// walletInfo reads a wallet's balance, and its seqno as the count of its
// outgoing transactions.
func (p *Proxy) walletInfo(ctx context.Context, addr string) (WalletInfo, error) {
	bal, err := p.cfg.Chain.Balance(ctx, addr)
	if err != nil {
		return WalletInfo{}, err
	}
	txs, err := p.cfg.Chain.Transactions(ctx, addr, 0)
	if err != nil {
		return WalletInfo{}, err
	}
	var seqno uint32
	for _, tx := range txs {
		if tx.From == addr {
			seqno++
		}
	}
	return WalletInfo{Address: addr, Balance: bal, Seqno: seqno}, nil
}

// refreshWallets pushes every connected worker's wallet whose balance or
// seqno changed since it was last sent (funded from elsewhere, say).
func (p *Proxy) refreshWallets(ctx context.Context) {
	p.mu.Lock()
	sessions := slices.Clone(p.sessions)
	p.mu.Unlock()
	for _, s := range sessions {
		w, err := p.walletInfo(ctx, s.key.Wallet)
		if err != nil {
			continue
		}
		s.mu.Lock()
		changed := !s.walletSent || s.lastWallet != w
		s.mu.Unlock()
		if changed {
			p.sendWallet(ctx, s)
		}
	}
}
