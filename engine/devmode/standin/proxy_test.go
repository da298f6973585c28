package standin

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

func TestPickWorker(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name    string
		cs      []candidate
		maxCoef int64
		want    int
	}{
		{"none", nil, 1000, -1},
		{"lowest load", []candidate{{true, 1000, 2, 8, 100 * ms}, {true, 1000, 3, 8, 10 * ms}}, 1000, 1},
		{"load beats running", []candidate{{true, 1000, 1, 8, 100 * ms}, {true, 1000, 2, 8, 1 * ms}}, 1000, 1},
		{"tie: fewest running", []candidate{{true, 1000, 2, 8, 0}, {true, 1000, 1, 8, 0}}, 1000, 1},
		{"tie: first", []candidate{{true, 1000, 0, 8, 5 * ms}, {true, 1000, 0, 8, 1 * ms}}, 1000, 0},
		{"disabled", []candidate{{false, 1000, 0, 8, 0}, {true, 1000, 5, 8, time.Second}}, 1000, 1},
		{"coefficient", []candidate{{true, 2000, 0, 8, 0}, {true, 1000, 5, 8, time.Second}}, 1500, 1},
		{"coefficient equal ok", []candidate{{true, 1500, 0, 8, 0}}, 1500, 0},
		{"full", []candidate{{true, 1000, 8, 8, 0}, {true, 1000, 1, 2, time.Second}}, 1000, 1},
		{"all full", []candidate{{true, 1000, 1, 1, 0}}, 1000, -1},
	} {
		if got := pickWorker(tc.cs, tc.maxCoef); got != tc.want {
			t.Errorf("%s: pickWorker = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestProxyRoutesByLoad(t *testing.T) {
	p := startProxy(t, nil)
	a := connectWorker(t, p, workerHello("a"), false)
	b := connectWorker(t, p, workerHello("b"), false)
	base := p.ClientURL()

	// Give b a long average request time and a a short one.
	a.send(&Message{Type: TypeParams, Params: &Params{Enabled: false, Coefficient: 1000}})
	waitFor(t, "a disabled", func() bool { return !p.Snapshot().Workers[0].Enabled })
	resp := goChat(t, base, chatBody("warm b", false, nil))
	r := b.nextRequest()
	time.Sleep(60 * time.Millisecond)
	b.done(r.ID, usageFor(r.Req), r.Req.Coefficient)
	if got := recvResponse(t, resp); got.Status != 200 {
		t.Fatalf("warm-up on b: %+v", got)
	}
	a.send(&Message{Type: TypeParams, Params: &Params{Enabled: true, Coefficient: 1000}})
	waitFor(t, "a enabled", func() bool { return p.Snapshot().Workers[0].Enabled })
	resp = goChat(t, base, chatBody("warm a", false, nil))
	r = a.nextRequest()
	a.done(r.ID, usageFor(r.Req), r.Req.Coefficient)
	if got := recvResponse(t, resp); got.Status != 200 {
		t.Fatalf("warm-up on a: %+v", got)
	}
	snap := p.Snapshot()
	if snap.Workers[0].AvgTime >= snap.Workers[1].AvgTime {
		t.Fatalf("average times a %s, b %s: want a faster", snap.Workers[0].AvgTime, snap.Workers[1].AvgTime)
	}

	// Held requests: a (tie at load 0, first), b (a has load 1×fast), a
	// (1×fast < 1×slow), a again (2×fast < 1×slow, although b runs fewer).
	want := []*fakeWorker{a, b, a, a}
	var held []gotRequest
	var owners []*fakeWorker
	var resps []<-chan chatResponse
	for i, w := range want {
		resps = append(resps, goChat(t, base, chatBody(fmt.Sprint("held ", i), false, nil)))
		select {
		case r := <-a.reqs:
			held, owners = append(held, r), append(owners, a)
		case r := <-b.reqs:
			held, owners = append(held, r), append(owners, b)
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d routed nowhere", i)
		}
		if owners[i] != w {
			t.Fatalf("request %d went to %s, want %s (snapshot %+v)", i, owners[i].hello.WalletAddress, w.hello.WalletAddress, p.Snapshot().Workers)
		}
	}
	for i, r := range held {
		owners[i].done(r.ID, usageFor(r.Req), r.Req.Coefficient)
	}
	for _, ch := range resps {
		if got := recvResponse(t, ch); got.Status != 200 {
			t.Errorf("held request: %+v", got)
		}
	}
}

func TestProxyDisabledWorkerGetsNothing(t *testing.T) {
	p := startProxy(t, nil)
	h := workerHello("off")
	h.Enabled = false
	off := connectWorker(t, p, h, false)
	on := connectWorker(t, p, workerHello("on"), true)
	for i := range 5 {
		if got := postChat(context.Background(), t, p.ClientURL(), chatBody(fmt.Sprint("q", i), i%2 == 0, nil)); got.Status != 200 || got.Err != "" {
			t.Fatalf("request %d: %+v", i, got)
		}
	}
	off.noRequest()
	// Disabling the other leaves nobody: 503 with a reason.
	on.send(&Message{Type: TypeParams, Params: &Params{Enabled: false, Coefficient: 1000}})
	waitFor(t, "disabled", func() bool { return !p.Snapshot().Workers[1].Enabled })
	got := postChat(context.Background(), t, p.ClientURL(), chatBody("q", true, nil))
	if got.Status != http.StatusServiceUnavailable || !strings.Contains(got.Err, "disabled") {
		t.Fatalf("all disabled: %+v; want 503 saying the workers are disabled", got)
	}
	if s := p.Snapshot(); s.Totals.Unrouted != 1 || s.Totals.Succeeded != 5 {
		t.Errorf("totals %+v", s.Totals)
	}
	// Re-enabled, the first one gets requests at once.
	off.send(&Message{Type: TypeParams, Params: &Params{Enabled: true, Coefficient: 1000}})
	waitFor(t, "enabled", func() bool { return p.Snapshot().Workers[0].Enabled })
	ch := goChat(t, p.ClientURL(), chatBody("q", false, nil))
	r := off.nextRequest()
	off.done(r.ID, usageFor(r.Req), r.Req.Coefficient)
	recvResponse(t, ch)
}

func TestProxyCoefficientFilter(t *testing.T) {
	p := startProxy(t, nil)
	ha, hb := workerHello("cheap"), workerHello("dear")
	ha.Coefficient, hb.Coefficient = 1000, 3000
	a := connectWorker(t, p, ha, false)
	b := connectWorker(t, p, hb, false)
	for i := range 3 {
		ch := goChat(t, p.ClientURL(), chatBody("q", false, map[string]any{"max_coefficient": 2000}))
		r := a.nextRequest()
		if r.Req.Coefficient != 1000 {
			t.Errorf("request %d carries coefficient %d, want the stored 1000", i, r.Req.Coefficient)
		}
		a.done(r.ID, usageFor(r.Req), r.Req.Coefficient)
		recvResponse(t, ch)
	}
	b.noRequest()
	got := postChat(context.Background(), t, p.ClientURL(), chatBody("q", false, map[string]any{"max_coefficient": 500}))
	if got.Status != http.StatusServiceUnavailable || !strings.Contains(got.Err, "max_coefficient") {
		t.Fatalf("max_coefficient 500: %+v; want 503 mentioning max_coefficient", got)
	}
	// A new coefficient is used for the next request, and the credit
	// follows it.
	a.send(&Message{Type: TypeParams, Params: &Params{Enabled: true, Coefficient: 1500}})
	waitFor(t, "new coefficient", func() bool { return p.Snapshot().Workers[0].Coefficient == 1500 })
	before := p.Snapshot().Totals.MaxKnown
	ch := goChat(t, p.ClientURL(), chatBody("q", true, map[string]any{"max_coefficient": 2000}))
	r := a.nextRequest()
	if r.Req.Coefficient != 1500 {
		t.Errorf("after params: coefficient %d, want 1500", r.Req.Coefficient)
	}
	a.done(r.ID, usageFor(r.Req), r.Req.Coefficient)
	recvResponse(t, ch)
	want := worker.AdjustTokens(usageFor(r.Req), 1500, testRoot().Multipliers()).Total
	if got := p.Snapshot().Totals.MaxKnown - before; got != want {
		t.Errorf("credited %d at k=1.5, want %d", got, want)
	}
	b.noRequest()
}

func TestProxyAccountingExact(t *testing.T) {
	p := startProxy(t, nil)
	w1 := connectWorker(t, p, workerHello("one"), true)
	w2 := connectWorker(t, p, workerHello("two"), true)
	root := testRoot()
	var want int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	slots := make(chan struct{}, 8) // 2 workers × 8 slots: never a 503
	for i := range 20 {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			body := chatBody(strings.Repeat("word ", 10+i), i%2 == 0,
				map[string]any{"max_tokens": 5 + i, "reasoning_tokens": i % 4})
			got := postChat(context.Background(), t, p.ClientURL(), body)
			if got.Status != 200 || got.Usage == nil || got.Err != "" {
				t.Errorf("request %d: %+v", i, got)
				return
			}
			adj := worker.AdjustTokens(usageOf(got.Usage), 1000, root.Multipliers())
			if got.Usage.TotalCost != adj.Total*root.PricePerToken ||
				got.Usage.PromptTotalCost+got.Usage.CompletionTotalCost != got.Usage.TotalCost {
				t.Errorf("request %d costs %+v, adjusted %+v", i, got.Usage, adj)
			}
			if i%2 == 0 && !got.Done {
				t.Errorf("request %d: stream without [DONE]", i)
			}
			mu.Lock()
			want += adj.Total
			mu.Unlock()
		})
	}
	wg.Wait()
	s := p.Snapshot()
	if s.Totals.MaxKnown != want || s.Totals.CreditedTokens != want {
		t.Fatalf("credited %d (max_known %d), want Σ adjusted = %d", s.Totals.CreditedTokens, s.Totals.MaxKnown, want)
	}
	if s.Totals.Succeeded != 20 || s.Totals.Failed != 0 {
		t.Errorf("totals %+v", s.Totals)
	}
	var perWorker int64
	for _, fw := range []*fakeWorker{w1, w2} {
		waitFor(t, "payment pushed", func() bool {
			var rel int64
			for _, r := range p.Snapshot().Relationships {
				if r.Wallet == fw.hello.WalletAddress {
					rel = r.Payment.MaxKnown
				}
			}
			return fw.lastPayment().MaxKnown == rel
		})
		perWorker += fw.lastPayment().MaxKnown
	}
	if perWorker != want {
		t.Errorf("workers were told %d tokens in all, want %d", perWorker, want)
	}

	// A worker whose adjusted tokens do not check out: counted failed,
	// nothing credited, the client told.
	bad := connectWorker(t, p, workerHello("bad"), true)
	bad.badTotal = true
	w1.send(&Message{Type: TypeParams, Params: &Params{Enabled: false, Coefficient: 1000}})
	w2.send(&Message{Type: TypeParams, Params: &Params{Enabled: false, Coefficient: 1000}})
	waitFor(t, "others disabled", func() bool {
		s := p.Snapshot()
		return !s.Workers[0].Enabled && !s.Workers[1].Enabled
	})
	for _, stream := range []bool{false, true} {
		got := postChat(context.Background(), t, p.ClientURL(), chatBody("CANARY-ACCOUNTING", stream, nil))
		if got.Err == "" || !strings.Contains(got.Err, "accounting") || got.Usage != nil {
			t.Errorf("mismatched accounting (stream %v): %+v; want an error and no usage", stream, got)
		}
	}
	s = p.Snapshot()
	if s.Totals.MaxKnown != want || s.Totals.Mismatches != 2 || s.Totals.Failed != 2 {
		t.Errorf("after mismatches: %+v; want max_known unchanged at %d, 2 mismatches, 2 failed", s.Totals, want)
	}
	if logs := p.logs.String(); !strings.Contains(logs, "do not match") || strings.Contains(logs, "CANARY") {
		t.Error("the mismatch is not logged, or the log holds job content")
	}
}

func TestProxyCommitTicks(t *testing.T) {
	t.Run("db only", func(t *testing.T) {
		p := startProxy(t, func(c *ProxyConfig) { c.CommitInterval = 10 * time.Millisecond })
		fw := connectWorker(t, p, workerHello("w"), true)
		postChat(context.Background(), t, p.ClientURL(), chatBody("q", false, nil))
		waitFor(t, "committed to db", func() bool {
			pm := fw.lastPayment()
			return pm.MaxKnown > 0 && pm.CommittedToDB == pm.MaxKnown
		})
		if pm := fw.lastPayment(); pm.CommittedToBlockchain != 0 {
			t.Errorf("committed to blockchain %d with an hour's interval", pm.CommittedToBlockchain)
		}
	})
	t.Run("all tiers", func(t *testing.T) {
		p := startProxy(t, func(c *ProxyConfig) {
			c.CommitInterval, c.BlockchainCommitInterval = 10*time.Millisecond, 30*time.Millisecond
		})
		fw := connectWorker(t, p, workerHello("w"), true)
		for i := range 4 {
			postChat(context.Background(), t, p.ClientURL(), chatBody(fmt.Sprint("q", i), true, nil))
		}
		total := p.Snapshot().Totals.MaxKnown
		waitFor(t, "committed to blockchain", func() bool {
			pm := fw.lastPayment()
			return pm.CommittedToBlockchain == total && pm.CommittedToDB == total && pm.MaxKnown == total
		})
		for _, pm := range fw.allPayments() {
			if !(pm.MaxKnown >= pm.CommittedToDB && pm.CommittedToDB >= pm.CommittedToBlockchain && pm.CommittedToBlockchain >= pm.Paid) {
				t.Errorf("payment %+v breaks max ≥ db ≥ blockchain ≥ paid", pm)
			}
		}
		if !fw.lastPayment().SCInited || fw.welcome.SCAddress == "" || fw.welcome.ProxySCAddress != p.Address() {
			t.Errorf("welcome %+v", fw.welcome)
		}
	})
}

// gatedChain blocks transfers out of the proxy contract until released.
type gatedChain struct {
	*MemChain
	from    string
	entered chan struct{}
	release chan struct{}
}

func (g *gatedChain) Transfer(ctx context.Context, from, to string, amount, fee int64, memo string) (Tx, error) {
	if from == g.from {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.MemChain.Transfer(ctx, from, to, amount, fee, memo)
}

func TestProxyPayout(t *testing.T) {
	ctx := context.Background()
	gate := &gatedChain{MemChain: NewMemChain(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	gate.from = DevAddress("cocoon-provider stand-in proxy contract")
	p := startProxy(t, func(c *ProxyConfig) {
		c.Chain = gate
		c.CommitInterval, c.BlockchainCommitInterval = 5*time.Millisecond, 10*time.Millisecond
	})
	p.chain = gate.MemChain
	h := workerHello("payee")
	fw := connectWorker(t, p, h, true)

	// The first handshake funded the wallet and deployed the contract.
	wallet, _ := p.chain.Balance(ctx, h.WalletAddress)
	if wallet != faucetAmount-deployAmount {
		t.Fatalf("cocoon wallet %d after the handshake, want 10 − 0.3 TON", wallet)
	}
	if sc, _ := p.chain.Balance(ctx, fw.welcome.SCAddress); sc != deployAmount || !fw.welcome.Payment.SCInited {
		t.Fatalf("worker contract balance %d, sc_inited %v", sc, fw.welcome.Payment.SCInited)
	}
	waitFor(t, "wallet info", func() bool { w := fw.lastWallet(); return w != nil && w.Balance == wallet && w.Seqno == 1 })

	// Nothing claimable yet.
	fw.send(&Message{Type: TypePayout, Payout: &Payout{Tokens: 0}})
	if r := fw.payoutResult(); r.Error == "" {
		t.Fatalf("payout of nothing: %+v", r)
	}
	for i := range 3 {
		postChat(ctx, t, p.ClientURL(), chatBody(fmt.Sprint("q", i), false, nil))
	}
	total := p.Snapshot().Totals.MaxKnown
	waitFor(t, "claimable", func() bool { return fw.lastPayment().CommittedToBlockchain == total })
	// More than committed: refused.
	fw.send(&Message{Type: TypePayout, Payout: &Payout{Tokens: total + 1}})
	if r := fw.payoutResult(); r.Error == "" {
		t.Fatalf("payout beyond committed: %+v", r)
	}

	fw.send(&Message{Type: TypePayout, Payout: &Payout{Tokens: total}})
	<-gate.entered
	waitFor(t, "running pushed", func() bool { pm := fw.lastPayment(); return pm.Running && pm.ExpectedPaid == total })
	fw.send(&Message{Type: TypePayout, Payout: &Payout{Tokens: total}})
	if r := fw.payoutResult(); !strings.Contains(r.Error, "already running") {
		t.Fatalf("payout while one runs: %+v", r)
	}
	close(gate.release)
	r := fw.payoutResult()
	fee := testRoot().WorkerFeePerToken
	if r.Error != "" || r.Tokens != total || r.NanoTON != total*fee || len(r.TxHash) != 64 {
		t.Fatalf("payout result %+v; want %d tokens, %d nanoTON and a tx hash", r, total, total*fee)
	}
	if bal, _ := p.chain.Balance(ctx, h.OwnerAddress); bal != total*fee {
		t.Errorf("owner balance %d, want %d", bal, total*fee)
	}
	txs, _ := p.chain.Transactions(ctx, h.OwnerAddress, 0)
	if len(txs) != 1 || txs[0].Hash != r.TxHash || txs[0].Memo != fmt.Sprintf("payout %s %d", fw.welcome.SCAddress, total) {
		t.Errorf("owner's transactions %+v", txs)
	}
	if w, _ := p.chain.Balance(ctx, h.WalletAddress); w != wallet-payoutGasFee {
		t.Errorf("cocoon wallet %d after the payout, want %d (net gas 0.006 TON)", w, wallet-payoutGasFee)
	}
	waitFor(t, "paid pushed", func() bool {
		pm := fw.lastPayment()
		return pm.Paid == total && pm.ExpectedPaid == total && !pm.Running
	})
	if s := p.Snapshot(); s.Totals.Paid != total {
		t.Errorf("snapshot paid %d, want %d", s.Totals.Paid, total)
	}

	// The same payout again: nothing to claim, nothing moves.
	fw.send(&Message{Type: TypePayout, Payout: &Payout{Tokens: total}})
	if r := fw.payoutResult(); !strings.Contains(r.Error, "nothing to claim") {
		t.Fatalf("double payout: %+v", r)
	}
	if bal, _ := p.chain.Balance(ctx, h.OwnerAddress); bal != total*fee {
		t.Errorf("owner balance moved on a double payout: %d", bal)
	}

	// No gas: refused, nothing moved.
	postChat(ctx, t, p.ClientURL(), chatBody("more", false, nil))
	total2 := p.Snapshot().Totals.MaxKnown
	waitFor(t, "claimable again", func() bool { return fw.lastPayment().CommittedToBlockchain == total2 })
	w, _ := p.chain.Balance(ctx, h.WalletAddress)
	if _, err := p.chain.Transfer(ctx, h.WalletAddress, DevAddress("elsewhere"), w-payoutAttached+1, 0, "drain"); err != nil {
		t.Fatal(err)
	}
	fw.send(&Message{Type: TypePayout, Payout: &Payout{Tokens: total2}})
	if r := fw.payoutResult(); !strings.Contains(r.Error, "insufficient gas") {
		t.Fatalf("payout without gas: %+v", r)
	}
	if bal, _ := p.chain.Balance(ctx, h.OwnerAddress); bal != total*fee {
		t.Errorf("owner balance moved on a failed payout: %d", bal)
	}
	waitFor(t, "not running", func() bool {
		pm := fw.lastPayment()
		return !pm.Running && pm.Paid == total && pm.ExpectedPaid == total
	})
}

func TestProxyClientDisconnectCancels(t *testing.T) {
	p := startProxy(t, nil)
	fw := connectWorker(t, p, workerHello("w"), false)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.ClientURL()+"/v1/chat/completions",
		strings.NewReader(string(chatBody("q", true, nil))))
	respc := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			respc <- resp
		}
	}()
	r := fw.nextRequest()
	fw.chunk(r.ID, "first piece", false)
	var resp *http.Response
	select {
	case resp = <-respc:
	case <-time.After(5 * time.Second):
		t.Fatal("no stream started")
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	select {
	case id := <-fw.cancels:
		if id != r.ID {
			t.Fatalf("cancel for %d, want %d", id, r.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the worker got no cancel")
	}
	waitFor(t, "counted failed", func() bool { s := p.Snapshot(); return s.Totals.Failed == 1 && s.Workers[0].Running == 0 })
	// The late Done is credited exactly once.
	u := usageFor(r.Req)
	fw.done(r.ID, u, r.Req.Coefficient)
	fw.done(r.ID, u, r.Req.Coefficient)
	want := worker.AdjustTokens(u, 1000, testRoot().Multipliers()).Total
	waitFor(t, "late done credited", func() bool { return p.Snapshot().Totals.MaxKnown == want })
	// A Done for an ID never sent is ignored; then one more real request
	// shows the second late Done was not credited.
	fw.done(999, u, 1000)
	ch := goChat(t, p.ClientURL(), chatBody("q2", false, nil))
	r2 := fw.nextRequest()
	fw.done(r2.ID, usageFor(r2.Req), r2.Req.Coefficient)
	recvResponse(t, ch)
	want += worker.AdjustTokens(usageFor(r2.Req), 1000, testRoot().Multipliers()).Total
	if got := p.Snapshot().Totals.MaxKnown; got != want {
		t.Errorf("max_known %d, want %d: a Done was credited twice or an unknown one counted", got, want)
	}
}

func TestProxyWorkerTimeout(t *testing.T) {
	p := startProxy(t, func(c *ProxyConfig) { c.WorkerTimeout = 50 * time.Millisecond })
	fw := connectWorker(t, p, workerHello("slow"), false)
	ch := goChat(t, p.ClientURL(), chatBody("q", false, nil))
	r := fw.nextRequest()
	got := recvResponse(t, ch)
	if got.Status != http.StatusGatewayTimeout || !strings.Contains(got.Err, "sent nothing") {
		t.Fatalf("timed-out request: %+v", got)
	}
	select {
	case id := <-fw.cancels:
		if id != r.ID {
			t.Errorf("cancel %d, want %d", id, r.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no cancel after the timeout")
	}
	// Streaming: chunks keep it alive, silence ends it with an error event.
	ch = goChat(t, p.ClientURL(), chatBody("q", true, nil))
	r = fw.nextRequest()
	for range 4 {
		fw.chunk(r.ID, "x", false)
		time.Sleep(20 * time.Millisecond)
	}
	got = recvResponse(t, ch)
	if got.Status != 200 || got.ErrType != "worker_timeout" || got.Text != "xxxx" || got.Done {
		t.Fatalf("streamed timeout: %+v", got)
	}
	if s := p.Snapshot(); s.Totals.Failed != 2 || s.Workers[0].Failed != 2 {
		t.Errorf("totals %+v, worker %+v", s.Totals, s.Workers[0])
	}
}

func TestProxyWorkerDisconnectMidStream(t *testing.T) {
	p := startProxy(t, func(c *ProxyConfig) { c.CommitInterval = 5 * time.Millisecond })
	h := workerHello("flaky")
	fw := connectWorker(t, p, h, false)
	ch := goChat(t, p.ClientURL(), chatBody("q", true, nil))
	r := fw.nextRequest()
	fw.chunk(r.ID, "partial", false)
	time.Sleep(10 * time.Millisecond)
	fw.close()
	got := recvResponse(t, ch)
	if got.Status != 200 || got.ErrType != "worker_error" || !strings.Contains(got.Err, "lost") || got.Done {
		t.Fatalf("stream after the worker vanished: %+v", got)
	}
	waitFor(t, "worker gone", func() bool { return len(p.Snapshot().Workers) == 0 })
	if s := p.Snapshot(); s.Totals.Failed != 1 || s.Totals.MaxKnown != 0 {
		t.Fatalf("totals %+v: want 1 failed, nothing credited", s.Totals)
	}
	// The worker comes back (same identity) and sends the old request's
	// Done on the new connection: not credited, the request is gone.
	fw2 := connectWorker(t, p, h, false)
	fw2.done(r.ID, usageFor(r.Req), r.Req.Coefficient)
	ch = goChat(t, p.ClientURL(), chatBody("again", false, nil))
	r2 := fw2.nextRequest()
	fw2.done(r2.ID, usageFor(r2.Req), r2.Req.Coefficient)
	recvResponse(t, ch)
	want := worker.AdjustTokens(usageFor(r2.Req), 1000, testRoot().Multipliers()).Total
	if got := p.Snapshot().Totals.MaxKnown; got != want {
		t.Errorf("max_known %d, want %d (only the new request)", got, want)
	}
}

func TestProxyRestartedWorkerGetsCounters(t *testing.T) {
	ctx := context.Background()
	p := startProxy(t, func(c *ProxyConfig) {
		c.CommitInterval, c.BlockchainCommitInterval = 5*time.Millisecond, 10*time.Millisecond
	})
	h := workerHello("phoenix")
	fw := connectWorker(t, p, h, true)
	for i := range 3 {
		postChat(ctx, t, p.ClientURL(), chatBody(fmt.Sprint("q", i), false, nil))
	}
	total := p.Snapshot().Totals.MaxKnown
	waitFor(t, "committed", func() bool { return fw.lastPayment().CommittedToBlockchain == total })
	before := fw.lastPayment()
	fw.close()
	fw2 := connectWorker(t, p, h, true)
	got := fw2.welcome.Payment
	if got.MaxKnown != before.MaxKnown || got.CommittedToDB != before.CommittedToDB ||
		got.CommittedToBlockchain != before.CommittedToBlockchain || !got.SCInited || fw2.welcome.SCAddress != fw.welcome.SCAddress {
		t.Errorf("welcome after a restart %+v (sc %s), want %+v (sc %s)", got, fw2.welcome.SCAddress, before, fw.welcome.SCAddress)
	}
	// Deployed once only.
	txs, _ := p.chain.Transactions(ctx, h.WalletAddress, 0)
	if len(txs) != 2 {
		t.Errorf("cocoon wallet transactions %+v: want the faucet and one deployment", txs)
	}
	// A second connection while the first is still open replaces it.
	fw3 := connectWorker(t, p, h, true)
	select {
	case <-fw2.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the replaced connection stayed open")
	}
	waitFor(t, "one worker", func() bool { return len(p.Snapshot().Workers) == 1 })
	if got := postChat(ctx, t, p.ClientURL(), chatBody("q", true, nil)); got.Status != 200 || got.Err != "" {
		t.Errorf("request after replacement: %+v", got)
	}
	_ = fw3
}

func TestProxyRestartKeepsCounters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	state := filepath.Join(dir, "proxy.json")
	chain, err := OpenMemChain(filepath.Join(dir, "chain.json"))
	if err != nil {
		t.Fatal(err)
	}
	mod := func(c *ProxyConfig) {
		c.StatePath, c.Chain = state, chain
		c.CommitInterval, c.BlockchainCommitInterval = 5*time.Millisecond, 10*time.Millisecond
	}
	p := startProxy(t, mod)
	h := workerHello("durable")
	fw := connectWorker(t, p, h, true)
	for i := range 3 {
		postChat(ctx, t, p.ClientURL(), chatBody(fmt.Sprint("CANARY-PROMPT ", i), i == 1, nil))
	}
	total := p.Snapshot().Totals.MaxKnown
	waitFor(t, "committed", func() bool { return fw.lastPayment().CommittedToBlockchain == total })
	fw.send(&Message{Type: TypePayout, Payout: &Payout{Tokens: total}})
	if r := fw.payoutResult(); r.Error != "" {
		t.Fatal(r.Error)
	}
	postChat(ctx, t, p.ClientURL(), chatBody("CANARY-PROMPT after payout", false, nil))
	p.stop()
	before := p.Snapshot().Relationships[0].Payment

	fi, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("proxy DB mode %v, want 0600", fi.Mode().Perm())
	}
	for _, f := range []string{state, filepath.Join(dir, "chain.json")} {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), "CANARY") {
			t.Errorf("%s holds job content", f)
		}
	}
	if strings.Contains(p.logs.String(), "CANARY") {
		t.Error("the proxy log holds job content")
	}

	chain2, err := OpenMemChain(filepath.Join(dir, "chain.json"))
	if err != nil {
		t.Fatal(err)
	}
	p2 := startProxy(t, func(c *ProxyConfig) {
		mod(c)
		c.Chain, c.CommitInterval, c.BlockchainCommitInterval = chain2, time.Hour, time.Hour
	})
	fw2 := connectWorker(t, p2, h, true)
	got := fw2.welcome.Payment
	if got.MaxKnown != before.MaxKnown || got.Paid != total || got.CommittedToDB != before.CommittedToDB ||
		got.CommittedToBlockchain != before.CommittedToBlockchain || !got.SCInited {
		t.Errorf("counters after a proxy restart %+v, want %+v", got, before)
	}
	if bal, _ := chain2.Balance(ctx, h.OwnerAddress); bal != total*testRoot().WorkerFeePerToken {
		t.Errorf("owner balance after restart %d", bal)
	}

	// A corrupt proxy DB stops NewProxy and is left alone.
	p2.stop()
	if err := os.WriteFile(state, []byte(`{"version":1,"relationships":[{"owner_address":"x","wallet_address":"y","max_known":1,"committed_to_db":5}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = NewProxy(ProxyConfig{WorkerListen: "127.0.0.1:0", ClientListen: "127.0.0.1:0", Root: testRoot(), Chain: chain2,
		StatePath: state, Certificate: fakeCert(t), Verifier: testVerifier()})
	if err == nil || !strings.Contains(err.Error(), state) {
		t.Fatalf("corrupt DB: %v; want an error naming %s", err, state)
	}
	if b, _ := os.ReadFile(state); !strings.Contains(string(b), `"committed_to_db":5`) {
		t.Error("the corrupt DB was overwritten")
	}
}

func TestProxyPortBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_, err = NewProxy(ProxyConfig{WorkerListen: "127.0.0.1:0", ClientListen: ln.Addr().String(), Root: testRoot(),
		Chain: NewMemChain(), Certificate: fakeCert(t), Verifier: testVerifier()})
	if err == nil || !strings.Contains(err.Error(), "port "+port) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("busy port: %v; want an error naming port %s", err, port)
	}
	// The worker port it opened first was released: a new proxy can take
	// the same configuration once the port is free.
	p, err := NewProxy(ProxyConfig{WorkerListen: "127.0.0.1:0", ClientListen: "127.0.0.1:0", Root: testRoot(),
		Chain: NewMemChain(), Certificate: fakeCert(t), Verifier: testVerifier()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err == nil {
		t.Error("Run after Close succeeded")
	}
}

func TestProxyRejectsBadWorkers(t *testing.T) {
	p := startProxy(t, nil)
	h := workerHello("bad")
	h.OwnerAddress = "not an address"
	if fw, err := dialWorker(t, p, h, false); err == nil {
		fw.close()
		t.Fatal("a hello with a bad owner address was welcomed")
	}
	if !strings.Contains(p.logs.String(), "bad hello") {
		t.Error("the bad hello is not logged")
	}
}

func TestClientEndpointErrors(t *testing.T) {
	p := startProxy(t, nil)
	connectWorker(t, p, workerHello("w"), true)
	for _, tc := range []struct {
		name, body, want string
	}{
		{"not json", `{"model":`, "not valid JSON"},
		{"wrong type", `{"model":"m","max_tokens":"many","messages":[{"role":"user","content":"x"}]}`, "max_tokens"},
		{"no model", `{"messages":[{"role":"user","content":"x"}]}`, "model is required"},
		{"no messages", `{"model":"m","messages":[]}`, "messages"},
		{"bad role", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, "role"},
		{"bad content", `{"model":"m","messages":[{"role":"user","content":5}]}`, "content"},
		{"max_tokens 0", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, "max_tokens 0"},
		{"max_tokens huge", `{"model":"m","max_tokens":100000,"messages":[{"role":"user","content":"x"}]}`, "max_tokens"},
		{"reasoning", `{"model":"m","max_tokens":4,"reasoning_tokens":5,"messages":[{"role":"user","content":"x"}]}`, "reasoning_tokens"},
		{"coefficient", `{"model":"m","max_coefficient":-1,"messages":[{"role":"user","content":"x"}]}`, "max_coefficient"},
		{"too long", `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 70_000) + `"}]}`, "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(p.ClientURL()+"/v1/chat/completions", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e apiError
			if err := jsonDecode(resp, &e); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 400 || !strings.Contains(e.Error.Message, tc.want) {
				t.Errorf("HTTP %d %q; want 400 mentioning %q", resp.StatusCode, e.Error.Message, tc.want)
			}
		})
	}
	// Content parts are accepted.
	got := postChat(context.Background(), t, p.ClientURL(),
		[]byte(`{"model":"m","max_tokens":3,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`))
	if got.Status != 200 || got.Usage == nil {
		t.Errorf("content parts: %+v", got)
	}
	resp, err := http.Get(p.ClientURL() + "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET chat: HTTP %d", resp.StatusCode)
	}
	resp, err = http.Get(p.ClientURL() + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var models struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := jsonDecode(resp, &models); err != nil || len(models.Data) != 1 || models.Data[0].ID != "stand-in/synthetic-lm" {
		t.Errorf("models: %+v, %v", models, err)
	}
}

func TestProxyRetriesRefusedRequests(t *testing.T) {
	p := startProxy(t, nil)
	a := connectWorker(t, p, workerHello("a"), false)
	b := connectWorker(t, p, workerHello("b"), false)
	if a.welcome.ProxyPublicKey.IsZero() {
		t.Error("welcome without the proxy's public key")
	}
	ch := goChat(t, p.ClientURL(), chatBody("q", true, nil))
	r := a.nextRequest()
	a.send(&Message{Type: TypeDone, ID: r.ID, Done: &Done{Error: "worker is busy"}})
	r2 := b.nextRequest()
	b.done(r2.ID, usageFor(r2.Req), r2.Req.Coefficient)
	if got := recvResponse(t, ch); got.Status != 200 || got.Usage == nil || !got.Done {
		t.Fatalf("after one refusal: %+v", got)
	}
	// Both refuse: 503 with the reason.
	ch = goChat(t, p.ClientURL(), chatBody("q", false, nil))
	for range 2 {
		select {
		case r := <-a.reqs:
			a.send(&Message{Type: TypeDone, ID: r.ID, Done: &Done{Error: "worker is disabled"}})
		case r := <-b.reqs:
			b.send(&Message{Type: TypeDone, ID: r.ID, Done: &Done{Error: "worker is disabled"}})
		case <-time.After(5 * time.Second):
			t.Fatal("request not offered to both workers")
		}
	}
	if got := recvResponse(t, ch); got.Status != http.StatusServiceUnavailable || !strings.Contains(got.Err, "disabled") {
		t.Fatalf("all refused: %+v", got)
	}
	s := p.Snapshot()
	if s.Totals.Succeeded != 1 || s.Totals.Failed != 1 || s.Totals.MaxKnown == 0 {
		t.Errorf("totals %+v", s.Totals)
	}
}

func TestProxyRejectsUnattestedWorkers(t *testing.T) {
	// A proxy that does not accept fake quotes turns the fake-TDX worker
	// away in the RA-TLS handshake.
	p := startProxy(t, func(c *ProxyConfig) { c.Verifier = &attest.Verifier{} })
	if fw, err := dialWorker(t, p, workerHello("w"), false); err == nil {
		fw.close()
		t.Fatal("a fake-TDX worker was welcomed by a proxy that does not allow fake quotes")
	}
	waitFor(t, "handshake failure logged", func() bool { return strings.Contains(p.logs.String(), "handshake failed") })
}
