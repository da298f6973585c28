package synth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"
)

// result is one Generate call's outcome.
type result struct {
	pieces []Piece
	usage  Usage
	err    error
}

func (r result) text() string {
	var b strings.Builder
	for _, p := range r.pieces {
		b.WriteString(p.Text)
	}
	return b.String()
}

func generate(t testing.TB, e *Engine, r Request) result {
	t.Helper()
	var res result
	res.usage, res.err = e.Generate(context.Background(), r, func(p Piece) error {
		res.pieces = append(res.pieces, p)
		return nil
	})
	if res.err != nil {
		t.Fatalf("Generate(%+v): %v", r, res.err)
	}
	return res
}

// words returns a prompt of n distinct-looking words (none in the
// vocabulary: they carry digits), so it has exactly n tokens.
func words(prefix string, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return strings.Join(w, " ")
}

// TestGolden pins the output for one request: the weights, the sampler
// and the arithmetic are deterministic on every architecture, so this may
// only change together with the model, on purpose.
func TestGolden(t *testing.T) {
	res := generate(t, NewEngine(), Request{
		Prompt: "The quick brown fox jumps over the lazy dog.", MaxTokens: 16, ReasoningTokens: 4, Seed: 42,
	})
	var texts []string
	for _, p := range res.pieces {
		texts = append(texts, p.Text)
	}
	want := []string{"Bema", " nalesze", " ba", " teem", "Send", " taeestair", ",", " steenvo", " ullo",
		" se", " zeam", " krou", ";", " na", " vou", " brarear"}
	if !reflect.DeepEqual(texts, want) {
		t.Errorf("pieces = %#v\nwant %#v", texts, want)
	}
	if want := (Usage{PromptTokens: 10, CompletionTokens: 16, ReasoningTokens: 4}); res.usage != want {
		t.Errorf("usage = %+v, want %+v", res.usage, want)
	}
}

func TestDeterministic(t *testing.T) {
	long := words("ctx", 100) // six whole blocks: the cache matters
	tests := []Request{
		{Prompt: "", MaxTokens: 50, Seed: 1},
		{Prompt: "Tell me a story.", MaxTokens: 200, ReasoningTokens: 50, Seed: 7},
		{Prompt: long, MaxTokens: 64, Seed: 0},
	}
	shared := NewEngine()
	for i, r := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			first := generate(t, NewEngine(), r)
			for j, e := range []*Engine{NewEngine(), shared, shared} { // shared: cold, then warm cache
				again := generate(t, e, r)
				if !reflect.DeepEqual(again.pieces, first.pieces) {
					t.Errorf("run %d: text differs:\n%q\n%q", j, again.text(), first.text())
				}
			}
			other := r
			other.Seed++
			if generate(t, NewEngine(), other).text() == first.text() {
				t.Errorf("seed %d and %d gave the same text", r.Seed, other.Seed)
			}
		})
	}
}

func TestUsageAndPieces(t *testing.T) {
	tests := []struct {
		name       string
		r          Request
		wantPrompt int64
	}{
		{"empty prompt", Request{MaxTokens: 1}, 0},
		{"punctuation splits", Request{Prompt: "Hello, world! (It's me.)", MaxTokens: 10}, 11},
		{"whitespace only", Request{Prompt: " \t\n ", MaxTokens: 3, ReasoningTokens: 3}, 0},
		{"non-ASCII", Request{Prompt: "Grüße, 世界", MaxTokens: 20, ReasoningTokens: 5}, 3},
		{"long", Request{Prompt: words("w", 300), MaxTokens: 100, ReasoningTokens: 99}, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := generate(t, NewEngine(), tt.r)
			want := Usage{PromptTokens: tt.wantPrompt, CompletionTokens: int64(tt.r.MaxTokens), ReasoningTokens: int64(tt.r.ReasoningTokens)}
			if res.usage != want {
				t.Errorf("usage = %+v, want %+v", res.usage, want)
			}
			if err := res.usage.Validate(); err != nil {
				t.Error(err)
			}
			if len(res.pieces) != tt.r.MaxTokens {
				t.Fatalf("%d pieces, want %d", len(res.pieces), tt.r.MaxTokens)
			}
			for i, p := range res.pieces {
				if p.Reasoning != (i < tt.r.ReasoningTokens) {
					t.Errorf("piece %d: Reasoning = %v", i, p.Reasoning)
				}
			}
			checkText(t, res.pieces[:tt.r.ReasoningTokens])
			checkText(t, res.pieces[tt.r.ReasoningTokens:])
		})
	}
}

// checkText checks the shape of one text (the reasoning or the answer):
// it opens with a capitalized word without a leading space, words after
// the first have one, and punctuation never follows punctuation.
func checkText(t *testing.T, pieces []Piece) {
	t.Helper()
	lastPunct := true
	for i, p := range pieces {
		isPunct := len(p.Text) == 1 && strings.ContainsAny(p.Text, ".,?!;")
		switch {
		case isPunct && lastPunct:
			t.Errorf("piece %d %q: punctuation at the start or after punctuation", i, p.Text)
		case !isPunct && i == 0 && (p.Text == "" || !unicode.IsUpper(rune(p.Text[0]))):
			t.Errorf("first piece %q: want a capitalized word without a space", p.Text)
		case !isPunct && i > 0 && (len(p.Text) < 2 || p.Text[0] != ' '):
			t.Errorf("piece %d %q: want a leading space", i, p.Text)
		}
		lastPunct = isPunct
	}
}

func TestTokenize(t *testing.T) {
	e := NewEngine()
	word := e.vocab.words[numPunct+10]
	tests := []struct {
		in   string
		want []int32
	}{
		{"", nil},
		{word, []int32{int32(numPunct) + 10}},
		{strings.ToUpper(word) + ".", []int32{int32(numPunct) + 10, 0}},
		{"zzq9 zzq9,", []int32{hashID([]byte("zzq9")), hashID([]byte("zzq9")), 1}},
		{"ÄBC", []int32{hashID([]byte("äbc"))}},
		{"a+b", []int32{e.vocab.lookup([]byte("a")), hashID([]byte("+")), e.vocab.lookup([]byte("b"))}},
	}
	for _, tt := range tests {
		if got := e.vocab.tokenize(tt.in, nil); !slices.Equal(got, tt.want) {
			t.Errorf("tokenize(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestVocabulary(t *testing.T) {
	v := NewEngine().vocab
	if len(v.words) != VocabSize || len(v.ids) != VocabSize-numPunct {
		t.Fatalf("%d words, %d ids; want %d and %d", len(v.words), len(v.ids), VocabSize, VocabSize-numPunct)
	}
	for i, w := range v.words[numPunct:] {
		if strings.TrimFunc(w, func(r rune) bool { return r >= 'a' && r <= 'z' }) != "" {
			t.Errorf("word %q: not lowercase ASCII letters", w)
		}
		if id := v.ids[w]; id != int32(numPunct+i) {
			t.Errorf("ids[%q] = %d, want %d", w, id, numPunct+i)
		}
	}
}

func TestPrefixCache(t *testing.T) {
	e := NewEngine()
	long := words("p", 100) // 6 whole blocks + 4 tokens
	r := Request{Prompt: long, MaxTokens: 4}

	if u := generate(t, e, r).usage; u.PromptTokens != 100 || u.CachedTokens != 0 {
		t.Errorf("first: usage %+v, want 100 prompt, 0 cached", u)
	}
	if u := generate(t, e, r).usage; u.PromptTokens != 100 || u.CachedTokens != 96 {
		t.Errorf("repeat: usage %+v, want 100 prompt, 96 cached", u)
	}
	// A prompt sharing the first 40 tokens reuses two blocks.
	branch := words("p", 40) + " " + words("q", 30)
	if u := generate(t, e, Request{Prompt: branch, MaxTokens: 1}).usage; u.PromptTokens != 70 || u.CachedTokens != 32 {
		t.Errorf("shared prefix: usage %+v, want 70 prompt, 32 cached", u)
	}
	// A whole-block prompt is served entirely from the cache.
	exact := words("p", 64)
	if u := generate(t, e, Request{Prompt: exact, MaxTokens: 1}).usage; u.PromptTokens != 64 || u.CachedTokens != 64 {
		t.Errorf("exact blocks: usage %+v, want 64 prompt, 64 cached", u)
	}
	// Short prompts have no whole block to cache.
	for range 2 {
		if u := generate(t, e, Request{Prompt: words("p", 15), MaxTokens: 1}).usage; u.CachedTokens != 0 {
			t.Errorf("short prompt: usage %+v, want 0 cached", u)
		}
	}
	// A different first token shares nothing.
	if u := generate(t, e, Request{Prompt: "x " + long, MaxTokens: 1}).usage; u.CachedTokens != 0 {
		t.Errorf("different start: usage %+v, want 0 cached", u)
	}
}

func TestPrefixCacheBounded(t *testing.T) {
	e := newEngine(4)
	a, b := words("a", 32), words("b", 32) // two blocks each
	generate(t, e, Request{Prompt: a, MaxTokens: 1})
	generate(t, e, Request{Prompt: b, MaxTokens: 1})
	if n := e.cache.len(); n != 4 {
		t.Fatalf("cache holds %d states, want 4", n)
	}
	// Use a's longer block, then add two new ones: the two least
	// recently used states (a's and b's first blocks) go.
	generate(t, e, Request{Prompt: a, MaxTokens: 1})
	generate(t, e, Request{Prompt: words("c", 32), MaxTokens: 1})
	if n := e.cache.len(); n != 4 {
		t.Errorf("cache holds %d states, want 4", n)
	}
	if u := generate(t, e, Request{Prompt: a, MaxTokens: 1}).usage; u.CachedTokens != 32 {
		t.Errorf("a: cached %d, want 32 (kept)", u.CachedTokens)
	}
	if u := generate(t, e, Request{Prompt: words("b", 16), MaxTokens: 1}).usage; u.CachedTokens != 0 {
		t.Errorf("b's first block: cached %d, want 0 (evicted)", u.CachedTokens)
	}

	off := newEngine(0)
	for range 2 {
		if u := generate(t, off, Request{Prompt: a, MaxTokens: 1}).usage; u.CachedTokens != 0 {
			t.Errorf("cache size 0: cached %d, want 0", u.CachedTokens)
		}
	}
}

func TestCancelMidGeneration(t *testing.T) {
	e := NewEngine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pieces []Piece
	u, err := e.Generate(ctx, Request{Prompt: "a b c", MaxTokens: 1000, ReasoningTokens: 20, Seed: 3}, func(p Piece) error {
		pieces = append(pieces, p)
		if len(pieces) == 12 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if want := (Usage{PromptTokens: 3, CompletionTokens: 12, ReasoningTokens: 12}); u != want || len(pieces) != 12 {
		t.Errorf("usage %+v with %d pieces, want %+v", u, len(pieces), want)
	}

	// Cancelled before it starts: nothing beyond the cache is done.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	u, err = e.Generate(ctx, Request{Prompt: words("z", 50), MaxTokens: 5}, func(Piece) error {
		t.Error("emit called after cancellation")
		return nil
	})
	if !errors.Is(err, context.Canceled) || u != (Usage{}) {
		t.Errorf("pre-cancelled: usage %+v, err %v; want zero usage and context.Canceled", u, err)
	}
}

func TestCancelDuringPrefill(t *testing.T) {
	e := NewEngine()
	// A deadline already past ends the prefill at its first check, after
	// the cached blocks.
	generate(t, e, Request{Prompt: words("y", 40), MaxTokens: 1})
	ctx, cancel := context.WithTimeout(context.Background(), -1)
	defer cancel()
	u, err := e.Generate(ctx, Request{Prompt: words("y", 200), MaxTokens: 5}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if want := (Usage{PromptTokens: 32, CachedTokens: 32}); u != want {
		t.Errorf("usage %+v, want %+v", u, want)
	}
}

func TestEmitError(t *testing.T) {
	errStop := errors.New("client went away")
	n := 0
	u, err := NewEngine().Generate(context.Background(), Request{Prompt: "hi", MaxTokens: 50, ReasoningTokens: 2}, func(Piece) error {
		if n++; n == 5 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("err = %v, want %v", err, errStop)
	}
	if want := (Usage{PromptTokens: 1, CompletionTokens: 5, ReasoningTokens: 2}); u != want {
		t.Errorf("usage %+v, want %+v", u, want)
	}
}

func TestRequestValidate(t *testing.T) {
	tests := []struct {
		name string
		r    Request
		want []string
	}{
		{"minimal", Request{MaxTokens: 1}, nil},
		{"limits", Request{Prompt: strings.Repeat("a", MaxPromptBytes), MaxTokens: MaxTokensLimit, ReasoningTokens: MaxTokensLimit}, nil},
		{"zero max tokens", Request{}, []string{"max tokens 0: must be between 1 and 4096"}},
		{"too many tokens", Request{MaxTokens: 4097}, []string{"max tokens 4097"}},
		{"negative reasoning", Request{MaxTokens: 5, ReasoningTokens: -1}, []string{"reasoning tokens -1: must be between 0 and max tokens (5)"}},
		{"reasoning above max", Request{MaxTokens: 5, ReasoningTokens: 6}, []string{"reasoning tokens 6"}},
		{"prompt too long", Request{Prompt: strings.Repeat("a", MaxPromptBytes+1), MaxTokens: 1},
			[]string{"prompt is 65537 bytes, more than the limit of 65536 (64 KiB): shorten it"}},
		{"everything", Request{Prompt: strings.Repeat("a", MaxPromptBytes+1), MaxTokens: -1, ReasoningTokens: 1},
			[]string{"max tokens -1", "reasoning tokens 1", "prompt is 65537 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
			// Generate refuses it without calling emit.
			u, gerr := NewEngine().Generate(context.Background(), tt.r, func(Piece) error {
				t.Error("emit called for an invalid request")
				return nil
			})
			if gerr == nil || gerr.Error() != err.Error() || u != (Usage{}) {
				t.Errorf("Generate: usage %+v, err %v; want zero usage and %v", u, gerr, err)
			}
		})
	}
}

// TestCanary: prompt words never reach the output.
func TestCanary(t *testing.T) {
	e := NewEngine()
	const (
		canary = "Canary7Xq"  // has a digit: may not appear even inside a word
		secret = "xylophonic" // letters only: may not appear as a word
	)
	if _, ok := e.vocab.ids[secret]; ok {
		t.Fatalf("%q is a vocabulary word; pick another", secret)
	}
	prompt := strings.Repeat(canary+" "+secret+", ", 200)
	for seed := range uint64(10) {
		res := generate(t, e, Request{Prompt: prompt, MaxTokens: 300, ReasoningTokens: 100, Seed: seed})
		out := strings.ToLower(res.text())
		if strings.Contains(out, strings.ToLower(canary)) || strings.Contains(out, "7") {
			t.Fatalf("seed %d: output contains the canary: %q", seed, out)
		}
		for _, p := range res.pieces {
			if strings.EqualFold(strings.TrimSpace(p.Text), secret) {
				t.Fatalf("seed %d: output contains the prompt word %q", seed, secret)
			}
			w := strings.ToLower(strings.TrimSpace(p.Text))
			if _, ok := e.vocab.ids[w]; !ok && !strings.ContainsAny(w, ".,?!;") {
				t.Fatalf("seed %d: piece %q is not from the vocabulary", seed, p.Text)
			}
		}
	}
}

// TestConcurrent runs requests that share prompt prefixes from many
// goroutines against one engine; each must match a run on its own.
func TestConcurrent(t *testing.T) {
	var reqs []Request
	for i := range 24 {
		reqs = append(reqs, Request{
			Prompt:          words("shared", 48) + " " + words(fmt.Sprint("own", i%6), 20+i),
			MaxTokens:       40,
			ReasoningTokens: i % 5,
			Seed:            uint64(i),
		})
	}
	want := make([]string, len(reqs))
	for i, r := range reqs {
		want[i] = generate(t, NewEngine(), r).text()
	}

	e := newEngine(16) // small, so eviction runs concurrently too
	var wg sync.WaitGroup
	got := make([]result, len(reqs)*3)
	for i := range got {
		wg.Go(func() {
			r := reqs[i%len(reqs)]
			var res result
			res.usage, res.err = e.Generate(context.Background(), r, func(p Piece) error {
				res.pieces = append(res.pieces, p)
				return nil
			})
			got[i] = res
		})
	}
	wg.Wait()
	for i, res := range got {
		if res.err != nil {
			t.Fatalf("request %d: %v", i, res.err)
		}
		if res.text() != want[i%len(reqs)] {
			t.Errorf("request %d: text differs from a solo run", i)
		}
		if res.usage.CompletionTokens != 40 || res.usage.CachedTokens%BlockSize != 0 {
			t.Errorf("request %d: usage %+v", i, res.usage)
		}
	}
}

func TestExpNegAndTanh(t *testing.T) {
	for x := -80.0; x <= 0; x += 0.0137 {
		if got, want := expNeg(x), math.Exp(x); math.Abs(got-want) > 3e-8*want {
			t.Fatalf("expNeg(%g) = %g, want %g", x, got, want)
		}
	}
	if expNeg(-81) != 0 || expNeg(0) != 1 {
		t.Errorf("expNeg(-81) = %g, expNeg(0) = %g; want 0 and 1", expNeg(-81), expNeg(0))
	}
	for x := float32(-12); x <= 12; x += 0.0093 {
		if got, want := tanh32(x), math.Tanh(float64(x)); math.Abs(float64(got)-want) > 2e-7 {
			t.Fatalf("tanh32(%g) = %g, want %g", x, got, want)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	e := NewEngine()
	r := Request{Prompt: words("bench", 64), MaxTokens: 256, Seed: 1}
	generate(b, e, r) // warm the prefix cache: measure decode
	tokens := 0
	for b.Loop() {
		u, err := e.Generate(context.Background(), r, nil)
		if err != nil {
			b.Fatal(err)
		}
		tokens += int(u.CompletionTokens)
	}
	reportPerToken(b, tokens)
}

func BenchmarkPrefill(b *testing.B) {
	e := newEngine(0) // no cache: every token is computed
	r := Request{Prompt: words("bench", 4000), MaxTokens: 1}
	tokens := 0
	for b.Loop() {
		u, err := e.Generate(context.Background(), r, nil)
		if err != nil {
			b.Fatal(err)
		}
		tokens += int(u.PromptTokens)
	}
	reportPerToken(b, tokens)
}

func reportPerToken(b *testing.B, tokens int) {
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(tokens)/s, "tokens/s")
	b.ReportMetric(s*1e9/float64(tokens), "ns/token")
}
