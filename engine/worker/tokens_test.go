package worker

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// specMultipliers are the multipliers of the §6.5 example document.
var specMultipliers = Multipliers{Prompt: 10000, Cached: 1000, Completion: 40000, Reasoning: 40000}

func TestRootContractConfigMultipliers(t *testing.T) {
	r := RootContractConfig{
		PromptTokensPriceMultiplier:     1,
		CachedTokensPriceMultiplier:     2,
		CompletionTokensPriceMultiplier: 3,
		ReasoningTokensPriceMultiplier:  4,
	}
	if got, want := r.Multipliers(), (Multipliers{1, 2, 3, 4}); got != want {
		t.Errorf("Multipliers() = %+v, want %+v", got, want)
	}
}

func TestAdjustTokens(t *testing.T) {
	identity := Multipliers{10000, 10000, 10000, 10000}
	tests := []struct {
		name string
		u    Usage
		k    int64
		m    Multipliers
		want Adjusted
	}{
		{
			name: "identity",
			u:    Usage{PromptTokens: 1200, CachedTokens: 200, CompletionTokens: 500, ReasoningTokens: 120},
			k:    1000, m: identity,
			want: Adjusted{Prompt: 1000, Cached: 200, Completion: 380, Reasoning: 120, Total: 1700},
		},
		{
			name: "spec example multipliers",
			// 1000 uncached prompt ×1, 200 cached ×0.1, 380 answer ×4, 120 reasoning ×4.
			u: Usage{PromptTokens: 1200, CachedTokens: 200, CompletionTokens: 500, ReasoningTokens: 120},
			k: 1000, m: specMultipliers,
			want: Adjusted{Prompt: 1000, Cached: 20, Completion: 1520, Reasoning: 480, Total: 3020},
		},
		{
			name: "k 1500",
			u:    Usage{PromptTokens: 1200, CachedTokens: 200, CompletionTokens: 500, ReasoningTokens: 120},
			k:    1500, m: specMultipliers,
			want: Adjusted{Prompt: 1500, Cached: 30, Completion: 2280, Reasoning: 720, Total: 4530},
		},
		{
			name: "each part truncated separately",
			// prompt 3·1.5 = 4.5 → 4; cached 4·1.5·0.1 = 0.6 → 0; answer
			// 1·1.5·4 = 6; reasoning 1·1.5·4 = 6. Total 16; truncating the exact
			// sum 17.1 would give 17.
			u: Usage{PromptTokens: 7, CachedTokens: 4, CompletionTokens: 2, ReasoningTokens: 1},
			k: 1500, m: specMultipliers,
			want: Adjusted{Prompt: 4, Cached: 0, Completion: 6, Reasoning: 6, Total: 16},
		},
		{
			name: "truncation, not rounding",
			// 9 cached ×0.1 ×1.999 = 1.7991 → 1; 1 prompt × 1.999 → 1.
			u: Usage{PromptTokens: 10, CachedTokens: 9},
			k: 1999, m: specMultipliers,
			want: Adjusted{Prompt: 1, Cached: 1, Total: 2},
		},
		{
			name: "zero usage",
			k:    1000, m: specMultipliers,
			want: Adjusted{},
		},
		{
			name: "k 0 (local-all)",
			u:    Usage{PromptTokens: 1200, CachedTokens: 200, CompletionTokens: 500, ReasoningTokens: 120},
			k:    0, m: specMultipliers,
			want: Adjusted{},
		},
		{
			name: "zero multipliers",
			u:    Usage{PromptTokens: 1200, CachedTokens: 200, CompletionTokens: 500, ReasoningTokens: 120},
			k:    1000,
			want: Adjusted{},
		},
		{
			name: "negative k counts as 0",
			u:    Usage{PromptTokens: 10, CompletionTokens: 10},
			k:    -1000, m: identity,
			want: Adjusted{},
		},
		{
			name: "negative counts count as 0",
			u:    Usage{PromptTokens: -5, CachedTokens: -3, CompletionTokens: -1, ReasoningTokens: -7},
			k:    1000, m: identity,
			want: Adjusted{},
		},
		{
			name: "negative cached leaves the prompt whole",
			u:    Usage{PromptTokens: 10, CachedTokens: -3},
			k:    1000, m: identity,
			want: Adjusted{Prompt: 10, Total: 10},
		},
		{
			name: "cached above prompt: prompt part 0, not negative",
			u:    Usage{PromptTokens: 5, CachedTokens: 8, CompletionTokens: 3, ReasoningTokens: 9},
			k:    1000, m: identity,
			want: Adjusted{Prompt: 0, Cached: 8, Completion: 0, Reasoning: 9, Total: 17},
		},
		{
			name: "all cached, all reasoning",
			u:    Usage{PromptTokens: 64, CachedTokens: 64, CompletionTokens: 32, ReasoningTokens: 32},
			k:    1000, m: specMultipliers,
			want: Adjusted{Cached: 6, Reasoning: 128, Total: 134},
		},
		{
			name: "product beyond 64 bits, result fits",
			// k just below the proxy's 10^9 limit: n·k·m ≈ 4.4·10^25.
			u: Usage{PromptTokens: 1 << 40},
			k: 999_999_999, m: Multipliers{Prompt: 40000},
			want: Adjusted{Prompt: 4_398_046_506_705_953_488, Total: 4_398_046_506_705_953_488},
		},
		{
			name: "huge identity stays exact",
			u:    Usage{PromptTokens: math.MaxInt64, CompletionTokens: math.MaxInt64},
			k:    1000, m: Multipliers{Prompt: 10000},
			want: Adjusted{Prompt: math.MaxInt64, Total: math.MaxInt64},
		},
		{
			name: "huge values saturate",
			u: Usage{PromptTokens: math.MaxInt64, CachedTokens: math.MaxInt64 / 2,
				CompletionTokens: math.MaxInt64, ReasoningTokens: 1},
			// Even R = 1: 1·(2^63−1)·(2^32−1) / 10^7 is beyond int64.
			k: math.MaxInt64, m: Multipliers{math.MaxUint32, math.MaxUint32, math.MaxUint32, math.MaxUint32},
			want: Adjusted{Prompt: math.MaxInt64, Cached: math.MaxInt64, Completion: math.MaxInt64,
				Reasoning: math.MaxInt64, Total: math.MaxInt64},
		},
		{
			name: "total saturates although the parts fit",
			u:    Usage{PromptTokens: math.MaxInt64, CompletionTokens: math.MaxInt64},
			k:    1000, m: Multipliers{Prompt: 10000, Completion: 10000},
			want: Adjusted{Prompt: math.MaxInt64, Completion: math.MaxInt64, Total: math.MaxInt64},
		},
		{
			name: "total exactly MaxInt64",
			u:    Usage{PromptTokens: math.MaxInt64, CachedTokens: math.MaxInt64 / 2},
			k:    1000, m: Multipliers{Prompt: 10000, Cached: 10000},
			want: Adjusted{Prompt: math.MaxInt64 - math.MaxInt64/2, Cached: math.MaxInt64 / 2, Total: math.MaxInt64},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AdjustTokens(tt.u, tt.k, tt.m)
			if got != tt.want {
				t.Errorf("AdjustTokens(%+v, %d, %+v)\n got %+v\nwant %+v", tt.u, tt.k, tt.m, got, tt.want)
			}
			if ref := adjustBig(tt.u, tt.k, tt.m); got != ref {
				t.Errorf("AdjustTokens disagrees with math/big: got %+v, big %+v", got, ref)
			}
		})
	}
}

// TestAdjustTokensIdentity: k = 1.0 and all multipliers 1.0 return the
// usage split into its four disjoint parts.
func TestAdjustTokensIdentity(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		p := rng.Int64N(1 << 50)
		c := rng.Int64N(p + 1)
		o := rng.Int64N(1 << 50)
		r := rng.Int64N(o + 1)
		u := Usage{PromptTokens: p, CachedTokens: c, CompletionTokens: o, ReasoningTokens: r}
		got := AdjustTokens(u, 1000, Multipliers{10000, 10000, 10000, 10000})
		want := Adjusted{Prompt: p - c, Cached: c, Completion: o - r, Reasoning: r, Total: p + o}
		if got != want {
			t.Fatalf("AdjustTokens(%+v) = %+v, want %+v", u, got, want)
		}
	}
}

// TestAdjustTokensAgainstBig compares with an arbitrary-precision
// reference over random inputs of every magnitude, including negative and
// inconsistent counts.
func TestAdjustTokensAgainstBig(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	// anyInt64 draws a value with a random bit length, so small, medium
	// and huge magnitudes (and some negatives) all occur.
	anyInt64 := func() int64 {
		switch rng.IntN(10) {
		case 0:
			return -rng.Int64N(1000)
		case 1:
			return math.MaxInt64 - rng.Int64N(1000)
		}
		return rng.Int64() >> rng.UintN(64)
	}
	anyMult := func() uint32 {
		switch rng.IntN(4) {
		case 0:
			return 10000
		case 1:
			return math.MaxUint32 - rng.Uint32N(10)
		}
		return rng.Uint32() >> rng.UintN(32)
	}
	for range 200_000 {
		u := Usage{anyInt64(), anyInt64(), anyInt64(), anyInt64()}
		k := anyInt64()
		m := Multipliers{anyMult(), anyMult(), anyMult(), anyMult()}
		if got, want := AdjustTokens(u, k, m), adjustBig(u, k, m); got != want {
			t.Fatalf("AdjustTokens(%+v, %d, %+v)\n got %+v\nwant %+v", u, k, m, got, want)
		}
	}
}

// adjustBig is the reference: §8.1 in math/big with AdjustTokens'
// documented clamping and saturation.
func adjustBig(u Usage, k int64, m Multipliers) Adjusted {
	clamp := func(n int64) *big.Int { return big.NewInt(max(n, 0)) }
	maxInt := big.NewInt(math.MaxInt64)
	sat := func(x *big.Int) int64 {
		if x.Cmp(maxInt) > 0 {
			return math.MaxInt64
		}
		return x.Int64()
	}
	part := func(n *big.Int, mult uint32) *big.Int {
		if n.Sign() < 0 {
			n = new(big.Int)
		}
		x := new(big.Int).Mul(n, clamp(k))
		x.Mul(x, new(big.Int).SetUint64(uint64(mult)))
		x.Quo(x, big.NewInt(10_000_000))
		if x.Cmp(maxInt) > 0 {
			return new(big.Int).Set(maxInt)
		}
		return x
	}
	p, c := clamp(u.PromptTokens), clamp(u.CachedTokens)
	o, r := clamp(u.CompletionTokens), clamp(u.ReasoningTokens)
	parts := [4]*big.Int{
		part(new(big.Int).Sub(p, c), m.Prompt),
		part(c, m.Cached),
		part(new(big.Int).Sub(o, r), m.Completion),
		part(r, m.Reasoning),
	}
	total := new(big.Int)
	for _, x := range parts {
		total.Add(total, x)
	}
	return Adjusted{sat(parts[0]), sat(parts[1]), sat(parts[2]), sat(parts[3]), sat(total)}
}

func TestUsageValidate(t *testing.T) {
	tests := []struct {
		name string
		u    Usage
		want []string // substrings of the error; none: valid
	}{
		{name: "zero", u: Usage{}},
		{name: "typical", u: Usage{PromptTokens: 100, CachedTokens: 64, CompletionTokens: 50, ReasoningTokens: 20}},
		{name: "all cached, all reasoning", u: Usage{PromptTokens: 16, CachedTokens: 16, CompletionTokens: 5, ReasoningTokens: 5}},
		{name: "max", u: Usage{math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64}},
		{name: "negative prompt", u: Usage{PromptTokens: -1},
			want: []string{"prompt tokens -1: must not be negative"}},
		{name: "negative everything", u: Usage{-1, -2, -3, -4},
			want: []string{"prompt tokens -1", "cached tokens -2", "completion tokens -3", "reasoning tokens -4"}},
		{name: "cached above prompt", u: Usage{PromptTokens: 10, CachedTokens: 11},
			want: []string{"cached tokens 11 exceed prompt tokens 10"}},
		{name: "reasoning above completion", u: Usage{CompletionTokens: 3, ReasoningTokens: 4},
			want: []string{"reasoning tokens 4 exceed completion tokens 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.u.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func BenchmarkAdjustTokens(b *testing.B) {
	u := Usage{PromptTokens: 12000, CachedTokens: 4096, CompletionTokens: 800, ReasoningTokens: 300}
	var sink Adjusted
	for b.Loop() {
		sink = AdjustTokens(u, 1500, specMultipliers)
	}
	_ = sink
}
