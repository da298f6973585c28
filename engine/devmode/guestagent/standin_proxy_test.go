package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/internal/syncbuf"
)

// realProxy runs package standin's proxy, logging into its own buffer.
type realProxy struct {
	*standin.Proxy
	log  *syncbuf.Buffer
	stop func()
}

func startRealProxy(t *testing.T, workerListen, statePath string, rf standin.RootFile, chain standin.Chain) *realProxy {
	t.Helper()
	cert, err := attest.NewCertificate(attest.FakeTDX{}, attest.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	buf := &syncbuf.Buffer{}
	p, err := standin.NewProxy(standin.ProxyConfig{
		WorkerListen:             workerListen,
		ClientListen:             "127.0.0.1:0",
		Root:                     rf.Config,
		Chain:                    chain,
		StatePath:                statePath,
		CommitInterval:           20 * time.Millisecond,
		BlockchainCommitInterval: 50 * time.Millisecond,
		Certificate:              cert,
		Verifier:                 &attest.Verifier{AllowFake: true, AllowedImageHashes: [][32]byte{attest.FakeTDXImageHash}},
		Logger:                   slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	rp := &realProxy{Proxy: p, log: buf}
	stopped := false
	rp.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy Run: %v", err)
		}
	}
	t.Cleanup(rp.stop)
	return rp
}

// TestWithStandinProxy runs the worker side against package standin's
// proxy and its built-in client: handshake (faucet, contract deployment),
// requests routed and credited, a canary prompt that must not surface
// anywhere, disable stopping routing, a payout, and a proxy restart.
func TestWithStandinProxy(t *testing.T) {
	const canary = "CANARY-b41d77e0-standin-proxy"
	rf := testRootFile()
	chain := standin.NewMemChain()
	state := filepath.Join(t.TempDir(), "proxy-db.json")
	proxy := startRealProxy(t, "127.0.0.1:0", state, rf, chain)
	addr := proxy.WorkerAddr()
	rf.ProxyAddrs = []string{addr}
	owner := standin.DevAddress("guestagent test owner") // the proxy checks the address form
	h := startFlow(t, rf, nil, func(h *flowHarness) {
		h.state.cfg.OwnerAddress = owner
		h.flow.walletAddr = devWalletAddress(owner, h.state.cfg.WalletKey)
	})

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("proxy log:\n%s", proxy.log.String())
		}
	})
	h.eventually("welcomed, contract deployed, wallet known", func() bool {
		st := h.jsonStats()
		return len(st.Proxies) == 1 && st.Proxies[0].SCInited && st.Wallet != nil && st.Wallet.Balance > 0
	})
	st := h.jsonStats()
	wallet := devWalletAddress(h.state.cfg.OwnerAddress, h.state.cfg.WalletKey)
	if st.Proxies[0].ProxySCAddress != proxy.Address() || st.Wallet.Address != wallet || st.Proxies[0].ParamsVersion != 4 {
		t.Errorf("proxies %+v, wallet %+v; want proxy %s, wallet %s", st.Proxies, st.Wallet, proxy.Address(), wallet)
	}

	// Requests from the built-in client, every prompt with the canary.
	load := standin.Load{Pattern: standin.PatternSteady, Rate: 200, Concurrency: 4, PromptWords: 10,
		MaxTokens: 24, ReasoningTokens: 4, Seed: 1,
		PromptFunc: func(i int) string { return fmt.Sprintf("question %d about %s, please answer", i, canary) }}
	okResults := runClient(t, proxy, load, 8)
	if okResults < 8 {
		t.Fatalf("%d requests answered, want 8", okResults)
	}
	h.eventually("worker counters agree with the proxy's credit", func() bool {
		c := h.jsonStats().Counters
		tot := proxy.Snapshot().Totals
		return tot.Running == 0 && h.state.Snapshot(time.Now()).ActiveRequests == 0 &&
			c.TotalAdjustedTokens.Total() == float64(tot.CreditedTokens) && c.Queries.Total() == c.Success.Total()+c.Failed.Total()
	})
	c := h.jsonStats().Counters
	tot := proxy.Snapshot().Totals
	if tot.Mismatches != 0 || c.Success.Total() < float64(okResults) || c.BytesReceived.Total() == 0 || c.BytesSent.Total() == 0 {
		t.Errorf("proxy totals %+v; worker success %v bytes in %v out %v", tot, c.Success, c.BytesReceived, c.BytesSent)
	}

	// Settlement: the relationship's tiers reach the blockchain commit,
	// then a payout from /request/payout.
	h.eventually("claimable tokens", func() bool { return h.jsonStats().Proxies[0].ClaimableTokens() > 0 })
	if r := h.reply("/request/payout?proxy=" + proxy.Address()); r != "request sent" {
		t.Fatalf("payout: %q", r)
	}
	h.eventually("payout settled", func() bool {
		p := h.jsonStats().Proxies[0]
		return !p.RunningRequest && p.CachedOutTokens > 0
	})
	if h.logCount("payout done") != 1 || h.logCount("tx_hash=") != 1 {
		t.Errorf("payout outcome not logged:\n%s", h.console.String())
	}

	// Disable: the proxy stops routing to the worker within a second.
	start := time.Now()
	h.reply("/request/disable")
	h.eventually("proxy sees the worker disabled", func() bool {
		ws := proxy.Snapshot().Workers
		return len(ws) == 1 && !ws[0].Enabled
	})
	if took := time.Since(start); took > time.Second {
		t.Errorf("the proxy learned of the disable after %v", took)
	}
	before := h.jsonStats().Counters.Queries.Total()
	runClient(t, proxy, load, 3)
	if after := h.jsonStats().Counters.Queries.Total(); after != before {
		t.Errorf("%v requests reached the disabled worker", after-before)
	}
	if tot := proxy.Snapshot().Totals; tot.Unrouted < 3 {
		t.Errorf("proxy totals %+v: want the requests unrouted while the worker is disabled", tot)
	}
	h.reply("/request/enable")

	// Restart: the worker reconnects and the proxy DB's counters come
	// back in the Welcome.
	paid := h.jsonStats().Proxies[0].CachedOutTokens
	proxy.stop()
	h.eventually("disconnected", func() bool { return !h.state.Snapshot(time.Now()).Connections[0].Ready })
	proxy = startRealProxy(t, addr, state, rf, chain)
	h.eventually("reconnected", func() bool { return h.state.Snapshot(time.Now()).Connections[0].Ready })
	if p := h.jsonStats().Proxies; len(p) != 1 || p[0].CachedOutTokens != paid {
		t.Errorf("after the restart: %+v, want one entry with %d paid", p, paid)
	}
	if n := runClient(t, proxy, load, 2); n < 2 {
		t.Errorf("%d requests answered after the restart", n)
	}

	for where, text := range map[string]string{
		"worker console": h.console.String(),
		"/jsonstats":     h.get("/jsonstats"),
		"/stats":         h.get("/stats"),
		"proxy log":      proxy.log.String(),
	} {
		if strings.Contains(text, canary) {
			t.Errorf("the canary prompt leaked into the %s", where)
		}
	}
}

// runClient sends load until n requests finished (or waitTimeout) and
// returns how many succeeded.
func runClient(t *testing.T, p *realProxy, load standin.Load, n int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	finished, ok := 0, 0
	err := standin.RunClient(ctx, p.ClientURL(), load, func(r standin.Result) {
		finished++
		if r.Err == nil {
			ok++
		}
		if finished >= n {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}
