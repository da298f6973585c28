//go:build linux && cgo

package main

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
)

func TestRequestSet(t *testing.T) {
	c := config{promptWords: 12, maxTokens: 8, reasoning: 2}
	a, b := requestSet(c, 0, 3), requestSet(c, 0, 3)
	warm := requestSet(c, 3, 2)
	seen := map[string]bool{}
	for i, r := range append(a, warm...) {
		if seen[r.Prompt] {
			t.Errorf("request %d repeats a prompt", i)
		}
		seen[r.Prompt] = true
		if !r.Stream || r.MaxTokens != 8 || r.ReasoningTokens != 2 || len(strings.Fields(r.Prompt)) != 12 {
			t.Errorf("request %d: %+v", i, r)
		}
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("request %d differs between runs", i)
		}
	}
}

func TestRunSet(t *testing.T) {
	reqs := requestSet(config{promptWords: 4, maxTokens: 5}, 0, 10)
	var inflight, most atomic.Int64
	do := func(ctx context.Context, r standin.CompletionRequest) (sample, error) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(time.Millisecond)
		return sample{latency: time.Millisecond, firstToken: time.Microsecond, tokens: int64(r.MaxTokens)}, nil
	}
	rep, err := runSet(context.Background(), reqs, 3, do)
	if err != nil || len(rep.latencies) != 10 || len(rep.firstTokens) != 10 || rep.tokens != 50 || rep.wall <= 0 {
		t.Fatalf("runSet: %+v, %v", rep, err)
	}
	if m := most.Load(); m < 1 || m > 3 {
		t.Errorf("%d requests in flight at once, want 1..3", m)
	}

	var calls atomic.Int64
	boom := errors.New("boom")
	_, err = runSet(context.Background(), reqs, 2, func(ctx context.Context, r standin.CompletionRequest) (sample, error) {
		if calls.Add(1) == 1 {
			return sample{}, boom
		}
		<-ctx.Done() // the failure cancels the others
		return sample{}, ctx.Err()
	})
	if !errors.Is(err, boom) || calls.Load() > 2 {
		t.Errorf("after a failure: %v after %d calls; want boom, the set stopped", err, calls.Load())
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for p, want := range map[int]time.Duration{50: 50, 99: 99, 100: 100, 0: 1} {
		if got := percentile(d, p); got != want {
			t.Errorf("p%d = %d, want %d", p, got, want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

func TestPrintTable(t *testing.T) {
	host := report{wall: time.Second, latencies: []time.Duration{time.Millisecond, 2 * time.Millisecond}, tokens: 1000,
		firstTokens: []time.Duration{time.Microsecond}}
	vmr := report{wall: 10 * time.Second, latencies: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, tokens: 1000}
	info := vmInfo{accel: "tcg", vcpus: "1", boot: 5 * time.Second}
	info.qemu.add(100, 270)
	var b strings.Builder
	printTable(&b, config{requests: 2, concurrency: 2, promptWords: 3, maxTokens: 500}, host, vmr, info)
	for _, want := range []string{
		"VM 1 vCPU under tcg", "completion tokens/s", "1000.0", "100.0", "0.100x", "latency p99", "200ms", "100.0x",
		"app (engine, proxy, bench client)  no samples", "QEMU", "CPU avg 100.0%", "RSS avg  270.0 MiB",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-requests", "0"},
		{"-max-tokens", "4", "-reasoning-tokens", "5"},
		{"-prompt-words", "0"},
		{"-worker-port", "70000"},
		{"extra"},
		{"-nope"},
	} {
		var out, errs strings.Builder
		if code := run(args, &out, &errs); code != 2 || errs.Len() == 0 {
			t.Errorf("run(%q) = %d, stderr %q; want 2 and a message", args, code, errs.String())
		}
	}
}
