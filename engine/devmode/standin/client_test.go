package standin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func jsonDecode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func TestPrompt(t *testing.T) {
	a, b := Prompt(1, 50), Prompt(2, 50)
	if a != Prompt(1, 50) || a == b {
		t.Fatal("Prompt is not deterministic per seed")
	}
	if n := len(strings.Fields(a)); n != 50 {
		t.Errorf("Prompt(1, 50) has %d words", n)
	}
	if !strings.HasSuffix(a, ".") || Prompt(1, 0) != "" {
		t.Errorf("Prompt ends %q", a[len(a)-5:])
	}
}

func TestLoadValidate(t *testing.T) {
	ok := Load{Pattern: "steady", Rate: 1, Concurrency: 2, PromptWords: 10, MaxTokens: 8, ReasoningTokens: 2}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Load){
		"pattern":     func(l *Load) { l.Pattern = "random" },
		"rate":        func(l *Load) { l.Rate = 0 },
		"concurrency": func(l *Load) { l.Concurrency = 0 },
		"prompt":      func(l *Load) { l.PromptWords = 0 },
		"max tokens":  func(l *Load) { l.MaxTokens = 0 },
		"reasoning":   func(l *Load) { l.ReasoningTokens = 9 },
		"coefficient": func(l *Load) { l.MaxCoefficient = -1 },
	} {
		l := ok
		mod(&l)
		err := l.Validate()
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v; want an error naming it", name, err)
		}
	}
	l := ok
	l.PromptWords, l.PromptFunc = 0, func(int) string { return "x" }
	if err := l.Validate(); err != nil {
		t.Errorf("PromptFunc without words: %v", err)
	}
}

// collect runs the client until n results arrived.
func collect(t *testing.T, base string, l Load, n int) []Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	var rs []Result
	err := RunClient(ctx, base, l, func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		rs = append(rs, r)
		if len(rs) == n {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(rs) < n {
		t.Fatalf("%d results within 20 s, want %d", len(rs), n)
	}
	return rs
}

func TestRunClient(t *testing.T) {
	p := startProxy(t, nil)
	fw := connectWorker(t, p, workerHello("w"), true)
	fw.delay = 5 * time.Millisecond
	for _, pattern := range []string{PatternSteady, PatternBursty, PatternIdle} {
		t.Run(pattern, func(t *testing.T) {
			// Requests the last subtest's client abandoned may still be on
			// their way to the worker: wait until proxy and worker are quiet
			// for a moment before counting.
			quiet := func() bool { return fw.inflight.Load() == 0 && p.Snapshot().Totals.Running == 0 }
			for range 2 {
				waitFor(t, "the last test's requests finished", quiet)
				time.Sleep(50 * time.Millisecond)
			}
			waitFor(t, "the last test's requests finished", quiet)
			fw.maxInflight.Store(0)
			l := Load{Pattern: pattern, Rate: 400, Concurrency: 3, PromptWords: 20, MaxTokens: 6, ReasoningTokens: 2,
				MaxCoefficient: 1000, Seed: 7, IdlePhase: 30 * time.Millisecond}
			rs := collect(t, p.ClientURL(), l, 12)
			for _, r := range rs {
				if r.Err != nil {
					t.Fatalf("result error: %v", r.Err)
				}
				if r.Usage.CompletionTokens != 6 || r.Usage.ReasoningTokens != 2 || r.Bytes == 0 || r.FirstToken <= 0 || r.Latency < r.FirstToken {
					t.Errorf("result %+v", r)
				}
			}
			if m := fw.maxInflight.Load(); m > 3 || m < 1 {
				t.Errorf("%d requests in flight at once, want 1..3", m)
			}
		})
	}
	// Most generated prompts share the system prompt prefix.
	fw.mu.Lock()
	shared := 0
	sys := "system: " + systemPrompt(7)
	for _, pr := range fw.prompts {
		if strings.HasPrefix(pr, sys) {
			shared++
		}
	}
	n := len(fw.prompts)
	fw.mu.Unlock()
	if shared < n/2 || shared == n {
		t.Errorf("%d of %d prompts start with the system prompt; want most, not all", shared, n)
	}
}

func TestRunClientPromptFuncAndErrors(t *testing.T) {
	p := startProxy(t, nil)
	// No worker: every result is a 503 error.
	l := Load{Pattern: PatternSteady, Rate: 500, Concurrency: 2, MaxTokens: 4,
		PromptFunc: func(i int) string { return "CANARY injected prompt" }}
	rs := collect(t, p.ClientURL(), l, 3)
	for _, r := range rs {
		if r.Err == nil || !strings.Contains(r.Err.Error(), "503") {
			t.Errorf("without a worker: %v; want HTTP 503", r.Err)
		}
	}
	fw := connectWorker(t, p, workerHello("w"), true)
	collect(t, p.ClientURL(), l, 3)
	fw.mu.Lock()
	for _, pr := range fw.prompts {
		if pr != "user: CANARY injected prompt\n" {
			t.Errorf("worker got prompt %q", pr)
		}
	}
	fw.mu.Unlock()
	if strings.Contains(p.logs.String(), "CANARY") {
		t.Error("the proxy logged job content")
	}
	if err := RunClient(context.Background(), "localhost:1", l, nil); err == nil {
		t.Error("a base URL without a scheme was accepted")
	}
	l.Rate = 0
	if err := RunClient(context.Background(), p.ClientURL(), l, nil); err == nil {
		t.Error("an invalid load was accepted")
	}
}

func TestComplete(t *testing.T) {
	p := startProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := CompletionRequest{System: "Be brief.", Prompt: "Describe the weather.", MaxTokens: 6, ReasoningTokens: 2, Seed: 3}

	// No worker: a typed 503 with the proxy's message.
	_, err := Complete(ctx, nil, p.ClientURL(), req)
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable || he.Message == "" || !strings.Contains(err.Error(), "503") {
		t.Fatalf("without a worker: %v; want an *HTTPError with status 503", err)
	}
	if _, err := Complete(ctx, nil, "localhost:1", req); err == nil || errors.As(err, &he) {
		t.Errorf("a base URL without a scheme: %v", err)
	}

	fw := connectWorker(t, p, workerHello("w"), true)
	for _, stream := range []bool{false, true} {
		req.Stream = stream
		r, err := Complete(ctx, nil, p.ClientURL()+"/", req)
		if err != nil || r.Err != nil {
			t.Fatalf("stream %v: %v", stream, err)
		}
		if want := usageFor(Request{Prompt: req.SynthRequest().Prompt, MaxTokens: 6, ReasoningTokens: 2}); r.Usage != want {
			t.Errorf("stream %v: usage %+v, want %+v", stream, r.Usage, want)
		}
		if r.Bytes != len("thinking synthetic answer") || r.Latency <= 0 || (r.FirstToken > 0) != stream {
			t.Errorf("stream %v: result %+v", stream, r)
		}
	}
	// SynthRequest renders the prompt exactly as the worker receives it.
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if want := req.SynthRequest().Prompt; len(fw.prompts) != 2 || fw.prompts[0] != want || fw.prompts[1] != want {
		t.Errorf("worker got %q, want twice %q", fw.prompts, want)
	}
	if sr := req.SynthRequest(); sr.MaxTokens != 6 || sr.ReasoningTokens != 2 || sr.Seed != 3 {
		t.Errorf("SynthRequest %+v", sr)
	}
}
