package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sigurn/crc16"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/internal/syncbuf"
)

func TestJobFlowHandshake(t *testing.T) {
	proxy := newTestProxy(t, "127.0.0.1:0", testWelcome())
	h := startFlow(t, testRootFile(proxy.Addr()), nil, nil)
	pp := proxy.accept()

	wantHello := standin.Hello{
		OwnerAddress:  "UQowner",
		WalletAddress: devWalletAddress("UQowner", h.state.cfg.WalletKey),
		Model:         "Qwen/Qwen3-0.6B",
		Coefficient:   1500,
		Enabled:       true,
		MaxActive:     60,
		ParamsVersion: 4,
	}
	if pp.hello != wantHello {
		t.Errorf("hello = %+v\nwant %+v", pp.hello, wantHello)
	}
	if !pp.worker.Fake || pp.worker.ImageHash != attest.FakeTDXImageHash {
		t.Errorf("worker attested as fake=%v image %x, want fake TDX", pp.worker.Fake, pp.worker.ImageHash)
	}

	// The relationship from the Welcome, in /jsonstats proxies.
	want := worker.ProxyInfo{
		ProxySCAddress:                    "EQproxySC",
		ProxyPublicKey:                    worker.Hash{0x3f, 31: 0x10},
		SCAddress:                         "EQworkerSC",
		EarnedTokensCommittedToBlockchain: 3,
		EarnedTokensCommittedToProxyDB:    5,
		EarnedTokensMaxKnown:              7,
		CachedOutTokens:                   1,
		ExpectedCachedOutTokens:           1,
		ParamsVersion:                     4,
	}
	h.eventually("proxies entry from the welcome", func() bool { return len(h.jsonStats().Proxies) == 1 })
	if got := h.jsonStats().Proxies[0]; got != want {
		t.Errorf("proxies[0] = %+v\nwant %+v", got, want)
	}
	page := h.get("/stats")
	for _, s := range []string{"<td>" + proxy.Addr() + "</td><td><span style=\"background-color:Green;\">YES</span></td><td>EQproxySC</td>",
		"<h2>PROXY EQproxySC</h2>", "<tr><td>model connection</td><td><span style=\"background-color:Green;\">connected</span>"} {
		if !strings.Contains(page, s) {
			t.Errorf("/stats lacks %q:\n%s", s, page)
		}
	}

	// Wallet and payment updates from the proxy.
	pp.send(&standin.Message{Type: standin.TypeWallet, Wallet: &standin.WalletInfo{Address: wantHello.WalletAddress, Balance: 3_000_000_000, Seqno: 2}})
	pp.send(&standin.Message{Type: standin.TypePayment, Payment: &standin.Payment{SCInited: true, MaxKnown: 100, CommittedToDB: 90,
		CommittedToBlockchain: 80, Paid: 10, ExpectedPaid: 20, Running: true, ParamsVersion: 4}})
	h.eventually("wallet and payment applied", func() bool {
		st := h.jsonStats()
		return st.Wallet != nil && len(st.Proxies) == 1 && st.Proxies[0].EarnedTokensMaxKnown == 100
	})
	st := h.jsonStats()
	if w := *st.Wallet; w != (worker.Wallet{Address: wantHello.WalletAddress, Balance: 3_000_000_000, Seqno: 2}) {
		t.Errorf("wallet = %+v", w)
	}
	if !st.Status.HasWalletBalance || st.Status.WalletBalance != 3_000_000_000 {
		t.Errorf("status wallet_balance = %v %d", st.Status.HasWalletBalance, st.Status.WalletBalance)
	}
	want = worker.ProxyInfo{SCInited: true, ProxySCAddress: "EQproxySC", ProxyPublicKey: want.ProxyPublicKey, SCAddress: "EQworkerSC",
		EarnedTokensCommittedToBlockchain: 80, EarnedTokensCommittedToProxyDB: 90, EarnedTokensMaxKnown: 100,
		CachedOutTokens: 10, ExpectedCachedOutTokens: 20, RunningRequest: true, ParamsVersion: 4}
	if st.Proxies[0] != want {
		t.Errorf("after payment: %+v\nwant %+v", st.Proxies[0], want)
	}
	if n := h.logCount("proxy connected"); n != 1 {
		t.Errorf("%d \"proxy connected\" lines, want 1", n)
	}
}

func TestJobFlowRequests(t *testing.T) {
	proxy := newTestProxy(t, "127.0.0.1:0", testWelcome())
	rf := testRootFile(proxy.Addr())
	h := startFlow(t, rf, nil, nil)
	pp := proxy.accept()

	const n = 5
	var promptBytes, answerBytes int
	var sum worker.Adjusted
	for i := range n {
		// The proxy's stored k (2000) differs from the local coefficient
		// (1500): the request's value is the one to account with.
		r := standin.Request{Prompt: fmt.Sprintf("request %d: tell me about stand-in workers", i),
			MaxTokens: 20 + i, ReasoningTokens: i, Seed: uint64(i + 1), Coefficient: 2000}
		text, chunks, done := pp.request(uint64(i+1), r)
		wantText, wantUsage := reference(t, r)
		if text != wantText || chunks != r.MaxTokens {
			t.Errorf("request %d: %d chunks %q, want %d chunks %q", i, chunks, text, r.MaxTokens, wantText)
		}
		if done.Error != "" || done.Usage != wantUsage {
			t.Errorf("request %d: done %+v, want usage %+v", i, done, wantUsage)
		}
		if want := worker.AdjustTokens(wantUsage, 2000, rf.Config.Multipliers()); done.Adjusted != want || want.Total == 0 {
			t.Errorf("request %d: adjusted %+v, want %+v", i, done.Adjusted, want)
		}
		promptBytes += len(r.Prompt)
		answerBytes += len(text)
		sum.Total += done.Adjusted.Total
		sum.Prompt += done.Adjusted.Prompt
		sum.Cached += done.Adjusted.Cached
		sum.Completion += done.Adjusted.Completion
		sum.Reasoning += done.Adjusted.Reasoning
	}

	h.eventually("every request counted", func() bool { return h.jsonStats().Counters.Success.Total() == n })
	c := h.jsonStats().Counters
	for _, chk := range []struct {
		name string
		got  worker.AmortCounter
		want float64
	}{
		{"queries", c.Queries, n},
		{"success", c.Success, n},
		{"failed", c.Failed, 0},
		{"bytes_received", c.BytesReceived, float64(promptBytes)},
		{"bytes_sent", c.BytesSent, float64(answerBytes)},
		{"total_adjusted_tokens_used", c.TotalAdjustedTokens, float64(sum.Total)},
		{"prompt_adjusted_tokens_used", c.PromptAdjustedTokens, float64(sum.Prompt)},
		{"cached_adjusted_tokens_used", c.CachedAdjustedTokens, float64(sum.Cached)},
		{"completion_adjusted_tokens_used", c.CompletionAdjustedTokens, float64(sum.Completion)},
		{"reasoning_adjusted_tokens_used", c.ReasoningAdjustedTokens, float64(sum.Reasoning)},
	} {
		if chk.got.Total() != chk.want {
			t.Errorf("%s = %v, want total %v", chk.name, chk.got, chk.want)
		}
	}
	if c.Time.Total() <= 0 || c.Queries.Rate(worker.Window1m) <= 0 {
		t.Errorf("time %v, queries %v: want a positive duration and rate", c.Time, c.Queries)
	}
	snap := h.state.Snapshot(time.Now())
	if snap.ActiveRequests != 0 || len(snap.Stats.Proxies) != 1 {
		t.Errorf("active %d, proxies %d; want 0 and 1", snap.ActiveRequests, len(snap.Stats.Proxies))
	}
}

func TestJobFlowCancelAndLimit(t *testing.T) {
	proxy := newTestProxy(t, "127.0.0.1:0", testWelcome())
	rf := testRootFile(proxy.Addr())
	g := newGatedGen()
	h := startFlow(t, rf, g, func(h *flowHarness) { h.state.maxActive = 1 })
	pp := proxy.accept()
	if pp.hello.MaxActive != 1 {
		t.Errorf("hello max_active = %d, want 1", pp.hello.MaxActive)
	}

	pp.send(&standin.Message{Type: standin.TypeRequest, ID: 1, Request: &standin.Request{
		Prompt: "a long prompt to be cancelled halfway through", MaxTokens: 50, ReasoningTokens: 5, Seed: 9, Coefficient: 1000}})
	g.waitStarted(t)
	h.eventually("one active request", func() bool { return h.state.Snapshot(time.Now()).ActiveRequests == 1 })
	if page := h.get("/stats"); !strings.Contains(page, "<tr><td>active_requests</td><td>1</td></tr>") {
		t.Errorf("/stats does not show the active request:\n%s", page)
	}

	// Over max_active: refused at once.
	pp.send(&standin.Message{Type: standin.TypeRequest, ID: 2, Request: &standin.Request{Prompt: "one too many", MaxTokens: 5, Seed: 1, Coefficient: 1000}})
	busy := pp.waitFor("done of request 2", isType(standin.TypeDone, 2)).Done
	if busy.Error != "too many requests" || busy.Usage != (worker.Usage{}) {
		t.Errorf("request over the limit: %+v", busy)
	}

	pp.send(&standin.Message{Type: standin.TypeCancel, ID: 1})
	done := pp.waitFor("done of request 1", isType(standin.TypeDone, 1)).Done
	_, chunks := pp.chunks(1)
	u := done.Usage
	if done.Error != "cancelled" || u.PromptTokens == 0 || u.CompletionTokens < 1 || u.CompletionTokens >= 50 || chunks < 1 {
		t.Errorf("cancelled request: %+v after %d chunks; want error \"cancelled\" and partial usage", done, chunks)
	}
	if want := worker.AdjustTokens(u, 1000, rf.Config.Multipliers()); done.Adjusted != want {
		t.Errorf("cancelled request adjusted %+v, want %+v", done.Adjusted, want)
	}
	h.eventually("both requests counted", func() bool { return h.jsonStats().Counters.Failed.Total() == 2 })
	c := h.jsonStats().Counters
	if c.Queries.Total() != 2 || c.Success.Total() != 0 || c.TotalAdjustedTokens.Total() != float64(done.Adjusted.Total) {
		t.Errorf("counters: queries %v success %v total adjusted %v", c.Queries, c.Success, c.TotalAdjustedTokens)
	}
	if a := h.state.Snapshot(time.Now()).ActiveRequests; a != 0 {
		t.Errorf("active requests %d after both ended", a)
	}
	close(g.release)
	// The slot is free again.
	_, _, d := pp.request(3, standin.Request{Prompt: "after the cancel", MaxTokens: 3, Seed: 3, Coefficient: 1000})
	if d.Error != "" {
		t.Errorf("request after the cancel: %+v", d)
	}
}

func TestJobFlowDisable(t *testing.T) {
	proxy := newTestProxy(t, "127.0.0.1:0", testWelcome())
	h := startFlow(t, testRootFile(proxy.Addr()), nil, nil)
	pp := proxy.accept()
	h.eventually("connected", func() bool { return h.state.Snapshot(time.Now()).Connections[0].Ready })

	start := time.Now()
	if r := h.reply("/request/disable"); r != "state updated" {
		t.Errorf("/request/disable: %q", r)
	}
	p := pp.waitFor("params after disable", func(m *standin.Message) bool { return m.Type == standin.TypeParams }).Params
	if took := time.Since(start); took > time.Second || *p != (standin.Params{Enabled: false, Coefficient: 1500}) {
		t.Errorf("disable: params %+v after %v; want enabled=false within 1s", *p, took)
	}
	_, chunks, done := pp.request(1, standin.Request{Prompt: "while disabled", MaxTokens: 5, Seed: 1, Coefficient: 1500})
	if done.Error != "worker disabled" || chunks != 0 {
		t.Errorf("request while disabled: %d chunks, %+v", chunks, done)
	}

	h.reply("/request/enable")
	p = pp.waitFor("params after enable", func(m *standin.Message) bool { return m.Type == standin.TypeParams }).Params
	if *p != (standin.Params{Enabled: true, Coefficient: 1500}) {
		t.Errorf("enable: params %+v", *p)
	}
	if r := h.reply("/request/change_coefficient?coefficient=2.5"); r != "coefficient set to 2.500000" {
		t.Errorf("change_coefficient: %q", r)
	}
	p = pp.waitFor("params after change_coefficient", func(m *standin.Message) bool { return m.Type == standin.TypeParams }).Params
	if *p != (standin.Params{Enabled: true, Coefficient: 2500}) {
		t.Errorf("change_coefficient: params %+v", *p)
	}
	if _, _, done := pp.request(2, standin.Request{Prompt: "enabled again", MaxTokens: 5, Seed: 1, Coefficient: 2500}); done.Error != "" {
		t.Errorf("request after enable: %+v", done)
	}
}

func TestJobFlowPayout(t *testing.T) {
	proxy := newTestProxy(t, "127.0.0.1:0", testWelcome())
	h := startFlow(t, testRootFile(proxy.Addr()), nil, nil)
	pp := proxy.accept()
	h.eventually("connected", func() bool { return len(h.jsonStats().Proxies) == 1 })

	if r := h.reply("/request/payout?proxy=EQnope"); r != "proxy not found" {
		t.Errorf("unknown proxy: %q", r)
	}
	if r := h.reply("/request/payout?proxy=EQproxySC"); r != "proxy is not inited" {
		t.Errorf("not inited: %q", r)
	}
	pay := standin.Payment{SCInited: true, MaxKnown: 1000, CommittedToDB: 900, CommittedToBlockchain: 800, Paid: 100, ExpectedPaid: 100, ParamsVersion: 4}
	pp.send(&standin.Message{Type: standin.TypePayment, Payment: &pay})
	h.eventually("payment applied", func() bool { return h.jsonStats().Proxies[0].SCInited })
	if page := h.get("/stats"); !strings.Contains(page, "700 (0.000000700 TON) <a href=\"/request/payout?proxy=EQproxySC\">take now</a>") {
		t.Errorf("/stats lacks the claimable amount with its take-now link:\n%s", page)
	}

	if r := h.reply("/request/payout?proxy=EQproxySC"); r != "request sent" {
		t.Fatalf("payout: %q", r)
	}
	po := pp.waitFor("payout", func(m *standin.Message) bool { return m.Type == standin.TypePayout }).Payout
	if po.Tokens != 800 {
		t.Errorf("payout of %d tokens, want the committed-to-blockchain 800", po.Tokens)
	}
	if r := h.reply("/request/payout?proxy=EQproxySC"); r != "request is already running" {
		t.Errorf("second payout: %q", r)
	}
	if p := h.jsonStats().Proxies[0]; !p.RunningRequest || p.ExpectedCachedOutTokens != 800 || p.ClaimableTokens() != 0 {
		t.Errorf("while the payout runs: %+v", p)
	}
	pp.send(&standin.Message{Type: standin.TypePayoutResult, PayoutResult: &standin.PayoutResult{Tokens: 800, NanoTON: 700, TxHash: "ABCDEF0123"}})
	pay.Paid, pay.ExpectedPaid = 800, 800
	pp.send(&standin.Message{Type: standin.TypePayment, Payment: &pay})
	h.eventually("payout settled", func() bool {
		p := h.jsonStats().Proxies[0]
		return !p.RunningRequest && p.CachedOutTokens == 800
	})
	if h.logCount("payout done") != 1 || h.logCount("tx_hash=ABCDEF0123") != 1 || h.logCount("nanoton=700") != 1 {
		t.Errorf("payout outcome not logged with its amounts and tx hash:\n%s", h.console.String())
	}

	// A failed payout: the flag clears, the claimable amount comes back.
	pay.CommittedToBlockchain = 950
	pp.send(&standin.Message{Type: standin.TypePayment, Payment: &pay})
	h.eventually("more committed", func() bool { return h.jsonStats().Proxies[0].EarnedTokensCommittedToBlockchain == 950 })
	if r := h.reply("/request/payout?proxy=EQproxySC"); r != "request sent" {
		t.Fatalf("payout: %q", r)
	}
	pp.waitFor("second payout", func(m *standin.Message) bool { return m.Type == standin.TypePayout && m.Payout.Tokens == 950 })
	pp.send(&standin.Message{Type: standin.TypePayoutResult, PayoutResult: &standin.PayoutResult{Tokens: 950, Error: "cocoon wallet balance too low"}})
	h.eventually("failed payout cleared", func() bool {
		p := h.jsonStats().Proxies[0]
		return !p.RunningRequest && p.ClaimableTokens() == 150
	})
	if h.logCount("payout failed") != 1 {
		t.Errorf("failed payout not logged:\n%s", h.console.String())
	}

	// Connection down: "proxy is closed", and the entry stays.
	proxy.Close()
	h.eventually("disconnected", func() bool { return !h.state.Snapshot(time.Now()).Connections[0].Ready })
	if r := h.reply("/request/payout?proxy=EQproxySC"); r != "proxy is closed" {
		t.Errorf("payout with the proxy down: %q", r)
	}
	if len(h.jsonStats().Proxies) != 1 {
		t.Error("the proxies entry did not survive the disconnect")
	}
}

func TestJobFlowAutoPayout(t *testing.T) {
	w := testWelcome()
	w.Payment = standin.Payment{SCInited: true, MaxKnown: 400, CommittedToDB: 400, CommittedToBlockchain: 400, ParamsVersion: 4}
	proxy := newTestProxy(t, "127.0.0.1:0", w)
	rf := testRootFile(proxy.Addr())
	rf.AutoPayoutTokens, rf.AutoPayoutCheckSeconds = 500, 1
	h := startFlow(t, rf, nil, nil)
	pp := proxy.accept()
	h.eventually("connected", func() bool { return len(h.jsonStats().Proxies) == 1 })
	pay := w.Payment
	pay.MaxKnown, pay.CommittedToDB, pay.CommittedToBlockchain = 1000, 1000, 1000
	pp.send(&standin.Message{Type: standin.TypePayment, Payment: &pay})
	// The first payout is for 1000: 400 was below the threshold.
	po := pp.waitFor("automatic payout", func(m *standin.Message) bool { return m.Type == standin.TypePayout }).Payout
	if po.Tokens != 1000 {
		t.Errorf("automatic payout of %d tokens, want 1000", po.Tokens)
	}
	// Logged right after the frame is written.
	h.eventually("automatic payout logged", func() bool { return h.logCount("why=automatic") == 1 })
}

func TestJobFlowReconnect(t *testing.T) {
	proxy := newTestProxy(t, "127.0.0.1:0", testWelcome())
	addr := proxy.Addr()
	h := startFlow(t, testRootFile(addr), nil, nil)
	proxy.accept()
	h.eventually("connected", func() bool { return h.state.Snapshot(time.Now()).Connections[0].Ready })

	proxy.Close()
	h.eventually("three failed attempts", func() bool { return h.state.Snapshot(time.Now()).Connections[0].Failures >= 3 })
	// Logged once per state change, not per attempt.
	if lost, failing := h.logCount("proxy connection lost"), h.logCount("cannot connect to proxy"); lost != 1 || failing != 1 {
		t.Errorf("%d \"lost\" and %d \"cannot connect\" lines, want 1 and 1:\n%s", lost, failing, h.console.String())
	}
	// A change made while disconnected reaches the proxy in the next Hello.
	h.reply("/request/disable")

	proxy2 := newTestProxy(t, addr, testWelcome())
	pp := proxy2.accept()
	if pp.hello.Enabled {
		t.Error("hello after reconnect says enabled although the worker was disabled meanwhile")
	}
	h.eventually("reconnected", func() bool { return h.state.Snapshot(time.Now()).Connections[0].Ready })
	if c := h.state.Snapshot(time.Now()).Connections[0]; c.Failures != 0 || c.ProxySC != "EQproxySC" {
		t.Errorf("connection after reconnect: %+v", c)
	}
	h.reply("/request/enable")
	pp.waitFor("params", func(m *standin.Message) bool { return m.Type == standin.TypeParams && m.Params.Enabled })
	if _, _, d := pp.request(1, standin.Request{Prompt: "after the restart", MaxTokens: 4, Seed: 1, Coefficient: 1000}); d.Error != "" {
		t.Errorf("request after reconnect: %+v", d)
	}
	if n := len(h.jsonStats().Proxies); n != 1 {
		t.Errorf("%d proxies entries after reconnecting to the same proxy, want 1", n)
	}
	if n := h.logCount("proxy connected"); n != 2 {
		t.Errorf("%d \"proxy connected\" lines, want 2", n)
	}
}

func TestJobFlowProxyHashChecked(t *testing.T) {
	proxy := newTestProxy(t, "127.0.0.1:0", testWelcome())
	rf := testRootFile(proxy.Addr())
	rf.Config.ProxyHashes = []worker.Hash{{0x01}} // not the fake-TDX hash
	h := startFlow(t, rf, nil, nil)
	h.eventually("two refused attempts", func() bool { return h.state.Snapshot(time.Now()).Connections[0].Failures >= 2 })
	select {
	case <-proxy.peers:
		t.Fatal("the worker said hello to a proxy whose image hash is not allowed")
	default:
	}
	if h.logCount("cannot connect to proxy") != 1 || h.logCount("image hash") == 0 {
		t.Errorf("refusal not logged once with its reason:\n%s", h.console.String())
	}
}

func TestJobFlowCanary(t *testing.T) {
	const canary = "CANARY-5f0c2e9a-do-not-log"
	proxy := newTestProxy(t, "127.0.0.1:0", testWelcome())
	h := startFlow(t, testRootFile(proxy.Addr()), nil, nil)
	pp := proxy.accept()

	prompt := "Summarise this secret: " + canary + " and answer at length."
	answer, _, done := pp.request(1, standin.Request{Prompt: prompt, MaxTokens: 40, ReasoningTokens: 5, Seed: 7, Coefficient: 1000})
	if done.Error != "" || len(answer) < 20 {
		t.Fatalf("request: %+v, answer %d bytes", done, len(answer))
	}
	// An invalid, a cancelled and a refused request with the canary too.
	if _, _, d := pp.request(2, standin.Request{Prompt: prompt, MaxTokens: 0, Coefficient: 1000}); !strings.HasPrefix(d.Error, "invalid request") {
		t.Errorf("invalid request: %+v", d)
	}
	pp.send(&standin.Message{Type: standin.TypeRequest, ID: 3, Request: &standin.Request{Prompt: prompt, MaxTokens: 4000, Seed: 3, Coefficient: 1000}})
	pp.send(&standin.Message{Type: standin.TypeCancel, ID: 3})
	pp.waitFor("done of the cancelled request", isType(standin.TypeDone, 3))
	h.reply("/request/disable")
	if _, _, d := pp.request(4, standin.Request{Prompt: prompt, MaxTokens: 5, Coefficient: 1000}); d.Error != "worker disabled" {
		t.Errorf("disabled: %+v", d)
	}
	// Every request's own log line is written (after its Done).
	h.eventually("all logged", func() bool {
		return h.logCount("request finished") == 3 && h.logCount("request refused") == 1
	})

	places := map[string]string{
		"console":    h.console.String(),
		"log tail":   strings.Join(h.sink.Tail(100000), "\n"),
		"/jsonstats": h.get("/jsonstats"),
		"/stats":     h.get("/stats"),
		"/perf":      h.get("/perf"),
	}
	for where, text := range places {
		if strings.Contains(text, canary) {
			t.Errorf("the canary prompt leaked into %s", where)
		}
		if strings.Contains(text, answer) {
			t.Errorf("the answer leaked into %s", where)
		}
	}
}

// TestStartWorkerJobFlow checks the wiring in main.go: the root file in the
// spec share starts the job flow; without it the worker runs alone.
func TestStartWorkerJobFlow(t *testing.T) {
	proxy := newTestProxy(t, "127.0.0.1:0", testWelcome())
	for _, withRoot := range []bool{true, false} {
		t.Run(fmt.Sprint("root=", withRoot), func(t *testing.T) {
			dir := t.TempDir()
			vars := "MODEL_NAME=Qwen/Qwen3-0.6B\nOWNER_ADDRESS=UQowner\nROOT_CONTRACT_ADDRESS=EQroot\nWORKER_COEFFICIENT=1500\nNODE_WALLET_KEY=" + testKey + "\n"
			if err := os.MkdirAll(filepath.Join(dir, "runtime"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, runtimeVarsPath), []byte(vars), 0o600); err != nil {
				t.Fatal(err)
			}
			if withRoot {
				if err := standin.WriteRoot(dir, testRootFile(proxy.Addr())); err != nil {
					t.Fatal(err)
				}
			}
			console := &syncbuf.Buffer{}
			a := newAgent(options{httpAddr: "127.0.0.1:0", healthAddr: "127.0.0.1:0", specDir: dir}, console)
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); a.wg.Wait() }()
			a.startWorker(ctx)
			if !withRoot {
				if n := strings.Count(console.String(), "no stand-in proxies"); n != 1 {
					t.Errorf("%d \"no stand-in proxies\" lines, want 1:\n%s", n, console.String())
				}
				return
			}
			pp := proxy.accept()
			if pp.hello.OwnerAddress != "UQowner" || pp.hello.ParamsVersion != 4 {
				t.Errorf("hello %+v", pp.hello)
			}
		})
	}
}

func TestCertSourceRenewsHourly(t *testing.T) {
	now := time.Unix(1_764_000_000, 0)
	made := 0
	c := newCertSource(func() (tls.Certificate, error) { made++; return newFakeTDXCert() }, certMaxAge, func() time.Time { return now })
	first, err := c.get()
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(59 * time.Minute)
	again, _ := c.get()
	now = now.Add(2 * time.Minute)
	fresh, _ := c.get()
	if made != 2 || !reflect.DeepEqual(first.Certificate, again.Certificate) || reflect.DeepEqual(first.Certificate, fresh.Certificate) {
		t.Errorf("made %d certificates; want one reused for 59 min and a new one after an hour", made)
	}
	if _, err := (&attest.Verifier{AllowFake: true}).Verify(fresh.Certificate); err != nil {
		t.Errorf("fresh certificate does not verify: %v", err)
	}
}

func TestDevWalletAddress(t *testing.T) {
	key, err := configFromVars(validVars(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	a := devWalletAddress("UQowner", key.WalletKey)
	if a != devWalletAddress("UQowner", key.WalletKey) {
		t.Error("not deterministic")
	}
	if a == devWalletAddress("UQother", key.WalletKey) {
		t.Error("does not depend on the owner")
	}
	other := newSecret(make([]byte, 32))
	if a == devWalletAddress("UQowner", other) {
		t.Error("does not depend on the node key")
	}
	raw, err := base64.URLEncoding.DecodeString(a)
	if len(a) != 48 || !strings.HasPrefix(a, "UQ") || err != nil || len(raw) != 36 {
		t.Fatalf("%q is not a 48-character non-bounceable workchain-0 address (%v)", a, err)
	}
	if crc := crc16.Checksum(raw[:34], xmodem); raw[34] != byte(crc>>8) || raw[35] != byte(crc) {
		t.Errorf("%q has a wrong CRC", a)
	}
	// The test's own CRC-16/XMODEM, checked against the standard value.
	if got := crc16.Checksum([]byte("123456789"), xmodem); got != 0x31C3 {
		t.Errorf("crc16.Checksum(123456789, xmodem) = %#x, want 0x31c3", got)
	}
	if strings.Contains(a, testKey) {
		t.Error("address contains the key")
	}
}

// xmodem is CRC-16/XMODEM, the checksum of user-friendly TON addresses.
var xmodem = crc16.MakeTable(crc16.CRC16_XMODEM)
