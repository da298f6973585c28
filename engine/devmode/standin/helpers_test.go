package standin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/internal/syncbuf"
)

// testRoot is the stand-in root of the tests: DevRoot's prices and
// multipliers.
func testRoot() worker.RootContractConfig {
	return worker.RootContractConfig{OwnerAddress: DevAddress("root owner"), ParamsVersion: 1, IsTest: true,
		PricePerToken: 20, WorkerFeePerToken: 16,
		PromptTokensPriceMultiplier: 10_000, CachedTokensPriceMultiplier: 1_000,
		CompletionTokensPriceMultiplier: 40_000, ReasoningTokensPriceMultiplier: 40_000}
}

func testVerifier() *attest.Verifier {
	return &attest.Verifier{AllowFake: true, AllowedImageHashes: [][32]byte{attest.FakeTDXImageHash}}
}

func fakeCert(t *testing.T) tls.Certificate {
	t.Helper()
	cert, err := attest.NewCertificate(attest.FakeTDX{}, attest.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// syncbuf.Buffer collects log output from several goroutines.

// testProxy is a running proxy and what the test sees of it.
type testProxy struct {
	*Proxy
	chain *MemChain
	logs  *syncbuf.Buffer
	stop  func() // stops the proxy and waits for Run
}

// startProxy runs a proxy on loopback with short intervals; mod adjusts
// the configuration first.
func startProxy(t *testing.T, mod func(*ProxyConfig)) *testProxy {
	t.Helper()
	logs := &syncbuf.Buffer{}
	chain := NewMemChain()
	cfg := ProxyConfig{WorkerListen: "127.0.0.1:0", ClientListen: "127.0.0.1:0", Root: testRoot(), Chain: chain,
		CommitInterval: time.Hour, BlockchainCommitInterval: time.Hour, Certificate: fakeCert(t), Verifier: testVerifier(),
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if mod != nil {
		mod(&cfg)
	}
	if mc, ok := cfg.Chain.(*MemChain); ok {
		chain = mc
	}
	p, err := NewProxy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10 s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return &testProxy{Proxy: p, chain: chain, logs: logs, stop: stop}
}

// gotRequest is a request a fake worker received.
type gotRequest struct {
	ID  uint64
	Req Request
}

// fakeWorker speaks the worker side of wire.go over RA-TLS. In auto mode
// it answers every request itself; otherwise the test answers.
type fakeWorker struct {
	t       *testing.T
	hello   Hello
	raw     *tls.Conn
	conn    *Conn
	welcome Welcome
	mult    worker.Multipliers

	auto     bool
	delay    time.Duration // auto: before answering
	badTotal bool          // report one adjusted token too many

	reqs    chan gotRequest
	cancels chan uint64
	results chan PayoutResult
	closed  chan struct{}

	mu       sync.Mutex
	payments []Payment
	wallet   *WalletInfo
	prompts  []string

	inflight, maxInflight atomic.Int64
}

// workerHello is a valid Hello for the worker called name.
func workerHello(name string) Hello {
	return Hello{OwnerAddress: DevAddress("owner " + name), WalletAddress: DevAddress("wallet " + name),
		Model: "stand-in/synthetic-lm", Coefficient: 1000, Enabled: true, MaxActive: 8, ParamsVersion: 1}
}

// connectWorker dials the proxy as a worker, sends h and waits for the
// Welcome.
func connectWorker(t *testing.T, p *testProxy, h Hello, auto bool) *fakeWorker {
	t.Helper()
	fw, err := dialWorker(t, p, h, auto)
	if err != nil {
		t.Fatal(err)
	}
	return fw
}

func dialWorker(t *testing.T, p *testProxy, h Hello, auto bool) (*fakeWorker, error) {
	t.Helper()
	var lastID uint64
	for _, w := range p.Snapshot().Workers {
		lastID = max(lastID, w.ID)
	}
	raw, err := net.DialTimeout("tcp", p.WorkerAddr(), 5*time.Second)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, attest.ClientConfig(fakeCert(t), testVerifier()))
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	fw := &fakeWorker{t: t, hello: h, raw: tc, conn: NewConn(tc), mult: testRoot().Multipliers(), auto: auto,
		reqs: make(chan gotRequest, 100), cancels: make(chan uint64, 100), results: make(chan PayoutResult, 10),
		closed: make(chan struct{})}
	if err := fw.conn.Send(&Message{Type: TypeHello, Hello: &h}); err != nil {
		tc.Close()
		return nil, err
	}
	m, err := fw.conn.Recv()
	if err != nil {
		tc.Close()
		return nil, err
	}
	if m.Type != TypeWelcome || m.Welcome == nil {
		tc.Close()
		return nil, errors.New("first frame is " + m.Type)
	}
	_ = tc.SetDeadline(time.Time{})
	fw.welcome = *m.Welcome
	go fw.readLoop()
	t.Cleanup(fw.close)
	// Wait until the proxy routes to it.
	waitFor(t, "worker registered", func() bool {
		for _, w := range p.Snapshot().Workers {
			if w.Wallet == h.WalletAddress && w.ID > lastID {
				return true
			}
		}
		return false
	})
	return fw, nil
}

func (fw *fakeWorker) close() { _ = fw.raw.Close() }

func (fw *fakeWorker) readLoop() {
	defer close(fw.closed)
	for {
		m, err := fw.conn.Recv()
		if err != nil {
			return
		}
		switch m.Type {
		case TypeRequest:
			fw.mu.Lock()
			fw.prompts = append(fw.prompts, m.Request.Prompt)
			fw.mu.Unlock()
			if fw.auto {
				go fw.answer(m.ID, *m.Request)
			} else {
				fw.reqs <- gotRequest{m.ID, *m.Request}
			}
		case TypeCancel:
			fw.cancels <- m.ID
		case TypePayment:
			fw.mu.Lock()
			fw.payments = append(fw.payments, *m.Payment)
			fw.mu.Unlock()
		case TypePayoutResult:
			fw.results <- *m.PayoutResult
		case TypeWallet:
			fw.mu.Lock()
			w := *m.Wallet
			fw.wallet = &w
			fw.mu.Unlock()
		}
	}
}

// usageFor is the usage the fake worker reports for a request.
func usageFor(r Request) worker.Usage {
	p := int64(len(strings.Fields(r.Prompt)))
	return worker.Usage{PromptTokens: p, CachedTokens: p / 3, CompletionTokens: int64(r.MaxTokens),
		ReasoningTokens: int64(r.ReasoningTokens)}
}

// answer streams two chunks and the Done of request id.
func (fw *fakeWorker) answer(id uint64, r Request) {
	n := fw.inflight.Add(1)
	for {
		m := fw.maxInflight.Load()
		if n <= m || fw.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	if fw.delay > 0 {
		time.Sleep(fw.delay)
	}
	if r.ReasoningTokens > 0 {
		fw.chunk(id, "thinking ", true)
	}
	fw.chunk(id, "synthetic ", false)
	fw.chunk(id, "answer", false)
	fw.inflight.Add(-1) // before the Done: the client may send the next request at once
	fw.done(id, usageFor(r), r.Coefficient)
}

func (fw *fakeWorker) chunk(id uint64, text string, reasoning bool) {
	_ = fw.conn.Send(&Message{Type: TypeChunk, ID: id, Chunk: &Chunk{Text: text, Reasoning: reasoning}})
}

func (fw *fakeWorker) done(id uint64, u worker.Usage, k int64) {
	adj := worker.AdjustTokens(u, k, fw.mult)
	if fw.badTotal {
		adj.Total++
	}
	_ = fw.conn.Send(&Message{Type: TypeDone, ID: id, Done: &Done{Usage: u, Adjusted: adj}})
}

func (fw *fakeWorker) send(m *Message) {
	fw.t.Helper()
	if err := fw.conn.Send(m); err != nil {
		fw.t.Fatal(err)
	}
}

// lastPayment is the latest Payment pushed (or the Welcome's).
func (fw *fakeWorker) lastPayment() Payment {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if len(fw.payments) == 0 {
		return fw.welcome.Payment
	}
	return fw.payments[len(fw.payments)-1]
}

func (fw *fakeWorker) allPayments() []Payment {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return append([]Payment(nil), fw.payments...)
}

func (fw *fakeWorker) lastWallet() *WalletInfo {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return fw.wallet
}

// nextRequest waits for the next request routed to fw.
func (fw *fakeWorker) nextRequest() gotRequest {
	fw.t.Helper()
	select {
	case r := <-fw.reqs:
		return r
	case <-time.After(5 * time.Second):
		fw.t.Fatal("no request reached the worker within 5 s")
		return gotRequest{}
	}
}

// noRequest checks that fw has no request waiting.
func (fw *fakeWorker) noRequest() {
	fw.t.Helper()
	select {
	case r := <-fw.reqs:
		fw.t.Fatalf("worker %s got request %d", fw.hello.WalletAddress, r.ID)
	default:
	}
}

func (fw *fakeWorker) payoutResult() PayoutResult {
	fw.t.Helper()
	select {
	case r := <-fw.results:
		return r
	case <-time.After(5 * time.Second):
		fw.t.Fatal("no payout result within 5 s")
		return PayoutResult{}
	}
}

// waitFor polls cond until it holds, failing after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// chatBody is a chat completion request body.
func chatBody(prompt string, stream bool, extra map[string]any) []byte {
	m := map[string]any{"model": "any", "stream": stream, "max_tokens": 16, "reasoning_tokens": 4,
		"messages": []map[string]string{{"role": "user", "content": prompt}}}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// chatResponse is a parsed answer: status, usage and error text.
type chatResponse struct {
	Status  int
	Usage   *usageJSON
	Text    string
	Err     string
	Done    bool // streaming: [DONE] seen
	Events  int
	ErrType string
}

// postChat sends a chat completion and parses the answer, streamed or not.
func postChat(ctx context.Context, t *testing.T, base string, body []byte) chatResponse {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return chatResponse{Err: err.Error()}
	}
	defer resp.Body.Close()
	out := chatResponse{Status: resp.StatusCode}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			out.Events++
			if data == "[DONE]" {
				out.Done = true
				continue
			}
			var c struct {
				streamChunk
				Error *struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(data), &c); err != nil {
				t.Errorf("bad event %q: %v", data, err)
				continue
			}
			if c.Error != nil {
				out.Err, out.ErrType = c.Error.Message, c.Error.Type
			}
			for _, ch := range c.Choices {
				out.Text += ch.Delta.ReasoningContent + ch.Delta.Content
			}
			if c.Usage != nil {
				out.Usage = c.Usage
			}
		}
		return out
	}
	raw, _ := io.ReadAll(resp.Body)
	var r struct {
		Choices []struct {
			Message struct {
				Content          string `json:"content"`
				ReasoningContent string `json:"reasoning_content"`
			} `json:"message"`
		} `json:"choices"`
		Usage *usageJSON `json:"usage"`
		Error *struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Errorf("bad response body %q: %v", raw, err)
	}
	out.Usage = r.Usage
	if r.Error != nil {
		out.Err, out.ErrType = r.Error.Message, r.Error.Type
	}
	for _, c := range r.Choices {
		out.Text += c.Message.ReasoningContent + c.Message.Content
	}
	return out
}

// usageOf converts a response usage back to worker.Usage.
func usageOf(u *usageJSON) worker.Usage {
	return worker.Usage{PromptTokens: u.PromptTokens, CachedTokens: u.PromptTokensDetails.CachedTokens,
		CompletionTokens: u.CompletionTokens, ReasoningTokens: u.CompletionTokensDetails.ReasoningTokens}
}

// goChat sends a chat completion in the background.
func goChat(t *testing.T, base string, body []byte) <-chan chatResponse {
	ch := make(chan chatResponse, 1)
	go func() { ch <- postChat(context.Background(), t, base, body) }()
	return ch
}

func recvResponse(t *testing.T, ch <-chan chatResponse) chatResponse {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no response within 5 s")
		return chatResponse{}
	}
}
