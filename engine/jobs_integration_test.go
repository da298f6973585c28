//go:build integration

package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/internal/syncbuf"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// unavailable reports whether err is the proxy's 503: no worker can take
// the request now.
func unavailable(err error) bool {
	var he *standin.HTTPError
	return errors.As(err, &he) && he.Status == http.StatusServiceUnavailable
}

// sendRequests sends n completions with the given prompts through the
// stand-in proxy's client port at base, waiting out the moments the worker
// is not connected yet, and returns the adjusted tokens the proxy credits.
func sendRequests(t *testing.T, ctx context.Context, base string, root worker.RootContractConfig, n int, prompt func(i int) string) int64 {
	t.Helper()
	var tokens int64
	deadline := time.Now().Add(3 * time.Minute)
	for i := 0; i < n; {
		cctx, ccancel := context.WithTimeout(ctx, time.Minute)
		r, err := standin.Complete(cctx, nil, base, standin.CompletionRequest{Prompt: prompt(i), MaxTokens: 24, ReasoningTokens: 4})
		ccancel()
		if err != nil {
			// The worker connects to the proxy shortly after /jsonstats answers.
			if unavailable(err) && time.Now().Before(deadline) {
				time.Sleep(500 * time.Millisecond)
				continue
			}
			t.Fatalf("request %d: %v", i, err)
		}
		tokens += worker.AdjustTokens(r.Usage, 1000, root.Multipliers()).Total
		i++
	}
	return tokens
}

// TestDevModeJobFlow is dev mode's main job end to end under QEMU: the
// worker in the VM connects to the stand-in proxy over RA-TLS, serves
// requests, and the ledger follows every settlement stage exactly; pause
// stops requests while the VM stays up; payout lands on the owner's
// address; a worker restart leaves the ledger exact; and a canary prompt
// appears nowhere the app writes.
func TestDevModeJobFlow(t *testing.T) {
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := bootDev(t, Options{Logger: log, SettleInterval: time.Second,
		DevLoad: &standin.Load{}}) // no built-in client: the test sends every request
	s, ctx, cancel, events, runDone, in, dataDir := b.s, b.ctx, b.cancel, b.events, b.runDone, b.in, b.opts.DataDir
	_, cport := s.devPorts()
	base := "http://127.0.0.1:" + strconv.Itoa(cport)

	canaryBytes := make([]byte, 12)
	_, _ = rand.Read(canaryBytes)
	canary := "CANARY" + hex.EncodeToString(canaryBytes)
	root := DevRoot("", "")
	var expected int64 // adjusted tokens the proxy must credit
	send := func(n int, what string) {
		t.Helper()
		expected += sendRequests(t, ctx, base, root, n, func(i int) string {
			return fmt.Sprintf("You are a careful assistant. %s Request %d of %s: summarise the weather in a few words please.", canary, i, what)
		})
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
	if tr := s.State().Dev.Trust; tr == nil || !tr.Accepted || !tr.Verified || !tr.FakeTDX || tr.CertNotAfter.Sub(tr.CertNotBefore) != 24*time.Hour {
		t.Errorf("trust verdict: %+v", tr)
	} else {
		t.Logf("trust: %s (%s)", tr.Verdict(), tr.Source)
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
	if _, err := standin.Complete(ctx, nil, base, standin.CompletionRequest{Prompt: "paused " + canary, MaxTokens: 8}); !unavailable(err) {
		t.Fatalf("request while paused: %v; want HTTP 503", err)
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
	found, files := 0, 0
	_ = filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		files++
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
	t.Logf("served %d requests, %d adjusted tokens, %s earned; canary found %d times", n+4, expected, wallet.TONString(expected*fee), found)
	t.Logf("RELIABILITY canary-prompt: %d requests carried a canary through the VM; occurrences on the app's side %d (%d files of the data directory incl. database, logs and console capture, and the app's log)",
		n+5, found, files)
}
