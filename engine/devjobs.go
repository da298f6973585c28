package engine

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/synth"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// Dev-mode job flow: the stand-in proxy and client on loopback, the
// stand-in chain in the data directory.
const (
	// DefaultDevWorkerPort and DefaultDevClientPort are the stand-in
	// proxy's ports (the official proxies use 11001 for workers and 11002
	// for clients).
	DefaultDevWorkerPort = 11001
	DefaultDevClientPort = 11002
	// guestHostAddr is the host as a QEMU user-networking guest reaches it.
	guestHostAddr = "10.0.2.2"
	// devAutoPayoutTokens is the automatic payout threshold in miniature
	// (the official worker's is 2·10^8 claimable tokens).
	devAutoPayoutTokens = 50_000
	devAutoPayoutCheck  = 10 // seconds
	// devWalletPoll is how often the owner's incoming payouts are read.
	devWalletPoll = 2 * time.Second
)

// DefaultDevLoad is the built-in client's load: steady, about one request
// a second, sized so that software emulation keeps up.
func DefaultDevLoad() standin.Load {
	return standin.Load{Pattern: "steady", Rate: 1, Concurrency: 2, PromptWords: 120, MaxTokens: 48,
		ReasoningTokens: 8, MaxCoefficient: 10_000, Seed: 1}
}

// DevRoot is the stand-in root contract configuration: the fake-TDX image
// and the synthetic model allowed, the example prices of the interface
// specification (price 20, worker fee 16 nanoTON per adjusted token) and
// its multipliers. Dev mode earns nothing real.
func DevRoot(workerAddr, clientAddr string) worker.RootContractConfig {
	fake := worker.Hash(attest.FakeTDXImageHash)
	return worker.RootContractConfig{
		OwnerAddress: standin.DevAddress("stand-in root owner"),
		ProxyHashes:  []worker.Hash{fake},
		RegisteredProxies: []worker.RegisteredProxy{{Seqno: 1,
			AddressForClients: "[" + clientAddr + "]", AddressForWorkers: "[" + workerAddr + "]"}},
		LastProxySeqno: 1,
		WorkerHashes:   []worker.Hash{fake},
		ModelHashes:    []worker.Hash{sha256.Sum256([]byte(synth.ModelName))},
		Version:        1, StructVersion: 3, ParamsVersion: 1, UniqueID: 1, IsTest: true,
		PricePerToken: 20, WorkerFeePerToken: 16,
		PromptTokensPriceMultiplier: 10_000, CachedTokensPriceMultiplier: 1_000,
		CompletionTokensPriceMultiplier: 40_000, ReasoningTokensPriceMultiplier: 40_000,
		ProxyDelayBeforeClose: 86_400, ClientDelayBeforeClose: 86_400,
		ProxyMinStake: 1_000_000_000, ClientMinStake: 1_000_000_000,
	}
}

// devJobs is the running stand-in proxy, client and chain of dev mode.
type devJobs struct {
	proxy *standin.Proxy
	chain standin.Chain
	owner string
	wg    sync.WaitGroup

	mu      sync.Mutex
	results LoadStats
}

// LoadStats counts the built-in client's requests since dev mode started.
type LoadStats struct {
	Sent, OK, Failed int64
	Tokens           int64 // completion tokens received
	LastError        string
}

// devPorts are the stand-in proxy's loopback ports.
func (s *Service) devPorts() (int, int) {
	w, c := s.opts.DevWorkerPort, s.opts.DevClientPort
	if w == 0 {
		w = DefaultDevWorkerPort
	}
	if c == 0 {
		c = DefaultDevClientPort
	}
	return w, c
}

// startDevJobs opens the stand-in chain (payouts go to owner there), starts the proxy (and, unless the
// load is idle, the client) for the life of ctx, and writes the root
// configuration the worker reads into the spec share.
func (s *Service) startDevJobs(ctx context.Context, specDir string, writeRoot bool, owner string) (*devJobs, error) {
	wport, cport := s.devPorts()
	dir := filepath.Join(s.opts.DataDir, "dev")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	chain, err := standin.OpenMemChain(filepath.Join(dir, "chain.json"))
	if err != nil {
		return nil, err
	}
	cert, err := attest.NewCertificate(attest.FakeTDX{}, attest.CertOptions{})
	if err != nil {
		return nil, fmt.Errorf("stand-in proxy certificate: %w", err)
	}
	loop := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }
	root := DevRoot(net.JoinHostPort(guestHostAddr, strconv.Itoa(wport)), loop(cport))
	proxy, err := standin.NewProxy(standin.ProxyConfig{
		WorkerListen: loop(wport), ClientListen: loop(cport), Root: root, Chain: chain,
		StatePath:   filepath.Join(dir, "proxy.json"),
		Certificate: cert,
		Verifier:    &attest.Verifier{AllowFake: true, AllowedImageHashes: [][32]byte{attest.FakeTDXImageHash}},
		Logger:      s.log.With("component", "stand-in proxy"),
	})
	if err != nil {
		return nil, err
	}
	if writeRoot {
		rf := standin.RootFile{Config: root, ProxyAddrs: []string{net.JoinHostPort(guestHostAddr, strconv.Itoa(wport))},
			AutoPayoutTokens: devAutoPayoutTokens, AutoPayoutCheckSeconds: devAutoPayoutCheck}
		if err := standin.WriteRoot(specDir, rf); err != nil {
			return nil, err
		}
	}
	j := &devJobs{proxy: proxy, chain: chain, owner: owner}
	j.wg.Add(2)
	go func() {
		defer j.wg.Done()
		if err := proxy.Run(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("stand-in proxy stopped", "error", err)
			s.recordEvent("dev.proxy", "the stand-in proxy stopped: "+err.Error(), nil)
		}
	}()
	go func() {
		defer j.wg.Done()
		s.watchOwnerWallet(ctx, j)
	}()
	load := DefaultDevLoad()
	if s.opts.DevLoad != nil {
		load = *s.opts.DevLoad
	}
	if load.Rate > 0 {
		if err := load.Validate(); err != nil {
			return nil, err
		}
		j.wg.Add(1)
		go func() {
			defer j.wg.Done()
			err := standin.RunClient(ctx, proxy.ClientURL(), load, j.count)
			if err != nil && ctx.Err() == nil {
				s.log.Error("stand-in client stopped", "error", err)
			}
		}()
	}
	return j, nil
}

// count records one client result; job content is never kept.
func (j *devJobs) count(r standin.Result) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.results.Sent++
	if r.Err != nil {
		j.results.Failed++
		j.results.LastError = r.Err.Error()
		return
	}
	j.results.OK++
	j.results.Tokens += r.Usage.CompletionTokens
}

// Load returns the client's counts so far.
func (j *devJobs) Load() LoadStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.results
}

// watchOwnerWallet records payouts arriving on the owner's address as the
// ledger's last stage ("in the wallet"), once per chain transaction.
func (s *Service) watchOwnerWallet(ctx context.Context, j *devJobs) {
	tick := time.NewTicker(devWalletPoll)
	defer tick.Stop()
	var after uint64
	for {
		txs, err := j.chain.Transactions(ctx, j.owner, after)
		if err == nil {
			s.recordWalletTxs(ctx, j.owner, txs)
			for _, tx := range txs {
				after = max(after, tx.LT)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// recordWalletTxs stores incoming transfers to owner in the ledger.
func (s *Service) recordWalletTxs(ctx context.Context, owner string, txs []standin.Tx) {
	db := s.currentStore()
	if db == nil {
		return
	}
	added := false
	for _, tx := range txs {
		if tx.To != owner || tx.Amount <= 0 {
			continue
		}
		ok, err := db.AddLedger(ctx, store.LedgerEntry{Source: "chain:" + tx.Hash, Time: tx.Time, Stage: store.StageWallet,
			AmountNanoTON: tx.Amount, Proxy: tx.From, Note: "payout received on the stand-in chain"})
		if err != nil {
			s.log.Warn("record payout received", "tx", tx.Hash, "error", err)
			continue
		}
		added = added || ok
	}
	if added {
		s.refreshEarnings(ctx)
	}
}
