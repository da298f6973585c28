//go:build integration

package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// chatUsage is the usage object of a non-streamed chat completion.
type chatUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

// chat sends one non-streamed chat completion to the stand-in proxy.
func chat(ctx context.Context, base, prompt string, maxTokens, reasoning int) (worker.Usage, int, error) {
	body, _ := json.Marshal(map[string]any{"model": "any", "max_tokens": maxTokens, "reasoning_tokens": reasoning,
		"stream": false, "messages": []map[string]string{{"role": "user", "content": prompt}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return worker.Usage{}, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return worker.Usage{}, 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return worker.Usage{}, resp.StatusCode, fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	var out struct {
		Usage chatUsage `json:"usage"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return worker.Usage{}, resp.StatusCode, err
	}
	u := out.Usage
	return worker.Usage{PromptTokens: u.PromptTokens, CachedTokens: u.PromptTokensDetails.CachedTokens,
		CompletionTokens: u.CompletionTokens, ReasoningTokens: u.CompletionTokensDetails.ReasoningTokens}, resp.StatusCode, nil
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// TestDevModeJobFlow is dev mode's main job end to end under QEMU: the
// worker in the VM connects to the stand-in proxy over RA-TLS, serves
// requests, and the ledger follows every settlement stage exactly; pause
// stops requests while the VM stays up; payout lands on the owner's
// address; a worker restart leaves the ledger exact; and a canary prompt
// appears nowhere the app writes.
func TestDevModeJobFlow(t *testing.T) {
	if _, err := vm.Inspect(context.Background(), ""); err != nil {
		t.Skipf("needs QEMU: %v", err)
	}
	src, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(Options{DataDir: dataDir, NVML: noNVML(), ImageCacheDir: imageCache(t), SourceDir: src, Logger: log, SettleInterval: time.Second,
		DevLoad: &standin.Load{}}) // no built-in client: the test sends every request
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := s.Subscribe(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()
	if err := s.StartDev(ctx); err != nil {
		t.Fatalf("start dev mode: %v", err)
	}
	in := waitInstance(t, s, events, 5*time.Minute, "ready", func(in *Instance) bool { return in.State == vm.StateRunning })
	t.Logf("ready after %s under %s", in.BootTime.Round(time.Millisecond), in.Accel)
	_, cport := s.devPorts()
	base := "http://127.0.0.1:" + strconv.Itoa(cport)

	canaryBytes := make([]byte, 12)
	_, _ = rand.Read(canaryBytes)
	canary := "CANARY" + hex.EncodeToString(canaryBytes)
	root := DevRoot("", "")
	var expected int64 // adjusted tokens the proxy must credit
	send := func(n int, what string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for i := 0; i < n; {
			cctx, ccancel := context.WithTimeout(ctx, time.Minute)
			prompt := fmt.Sprintf("You are a careful assistant. %s Request %d of %s: summarise the weather in a few words please.", canary, i, what)
			u, code, err := chat(cctx, base, prompt, 24, 4)
			ccancel()
			if err != nil {
				// The worker connects to the proxy shortly after /jsonstats answers.
				if code == http.StatusServiceUnavailable && time.Now().Before(deadline) {
					time.Sleep(500 * time.Millisecond)
					continue
				}
				t.Fatalf("%s request %d: %v", what, i, err)
			}
			expected += worker.AdjustTokens(u, 1000, root.Multipliers()).Total
			i++
		}
	}
	client := worker.NewClient((&net.Dialer{}).DialContext, in.StatsAddr)
	workerStats := func() worker.Stats {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		st, err := client.Stats(cctx)
		if err != nil {
			t.Fatalf("jsonstats: %v", err)
		}
		return st
	}
	db := s.currentStore()
	ledger := func() map[string]int64 {
		m, err := db.LedgerTotals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	waitFor := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s (ledger %v)", what, d, ledger())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	const n = 8
	send(n, "first batch")
	fee := root.WorkerFeePerToken
	waitFor("earned recorded", 30*time.Second, func() bool { return ledger()[store.StageEarned] == expected*fee })
	st := workerStats()
	if got := int64(st.Counters.TotalAdjustedTokens.Total()); got != expected {
		t.Errorf("worker total_adjusted_tokens_used = %d, want %d", got, expected)
	}
	if st.Counters.Success.Total() != n || len(st.Proxies) != 1 {
		t.Fatalf("worker counters: %v successes, %d proxies", st.Counters.Success.Total(), len(st.Proxies))
	}
	a, err := db.ActivitySummary(ctx, 0, time.Time{})
	if err != nil || a.Queries != n || int64(a.TokensTotal) != expected {
		t.Errorf("activity samples: %+v, %v; want %d requests, %d tokens", a, err, n, expected)
	}
	waitFor("committed to the blockchain", 60*time.Second, func() bool { return ledger()[store.StageClaimable] == expected*fee })

	// Payout: claimable → paid → in the owner's wallet.
	res, err := s.Payout(ctx)
	if err != nil || len(res) != 1 || res[0].Err != nil || res[0].Amount != expected*fee {
		t.Fatalf("payout: %+v, %v", res, err)
	}
	waitFor("paid and in the wallet", 60*time.Second, func() bool {
		m := ledger()
		return m[store.StagePaid] == expected*fee && m[store.StageWallet] == expected*fee
	})

	// Pause: no new requests within one poll; the VM stays up.
	if err := s.SetPause(ctx, &Pause{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if _, code, err := chat(ctx, base, "paused "+canary, 8, 0); err == nil || code != http.StatusServiceUnavailable {
		t.Fatalf("request while paused: HTTP %d, %v; want 503", code, err)
	}
	if s.State().Dev.State != vm.StateRunning {
		t.Fatalf("VM not running while paused: %s", s.State().Dev.State)
	}
	if err := s.SetPause(ctx, nil); err != nil {
		t.Fatal(err)
	}

	// A worker restart mid-run: kill QEMU; the supervisor restarts it, the
	// worker gets its counters back from the proxy, and the ledger stays exact.
	before := ledger()
	old := s.State().Dev.PID
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitInstance(t, s, events, 5*time.Minute, "restarted", func(in *Instance) bool {
		return in.State == vm.StateRunning && in.Restarts == 1 && in.PID != old
	})
	if after := ledger(); after[store.StageEarned] != before[store.StageEarned] {
		t.Fatalf("ledger moved across the restart: %v → %v", before, after)
	}
	send(4, "after the restart")
	waitFor("earned after the restart", 30*time.Second, func() bool { return ledger()[store.StageEarned] == expected*fee })

	if err := s.StopDev(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}

	// Confidentiality: the canary is nowhere the app wrote.
	found := 0
	_ = filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(canary)) {
			t.Errorf("the canary prompt is in %s", path)
			found++
		}
		return nil
	})
	if bytes.Contains(logs.Bytes(), []byte(canary)) {
		t.Error("the canary prompt is in the app's log")
		found++
	}
	t.Logf("served %d requests, %d adjusted tokens, %s earned; canary found %d times", n+4, expected, worker.FormatTON(expected*fee), found)
}
