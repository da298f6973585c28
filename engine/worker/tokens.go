package worker

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Usage is a request's OpenAI-style usage: P, C, O and R of §8.1. As in
// OpenAI's usage object, PromptTokens includes CachedTokens and
// CompletionTokens includes ReasoningTokens.
type Usage struct {
	PromptTokens     int64 // P: usage.prompt_tokens
	CachedTokens     int64 // C: usage.prompt_tokens_details.cached_tokens
	CompletionTokens int64 // O: usage.completion_tokens
	ReasoningTokens  int64 // R: usage.completion_tokens_details.reasoning_tokens
}

// Validate reports impossible usage: a negative count, more cached than
// prompt tokens, or more reasoning than completion tokens. All problems
// are reported together.
func (u Usage) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		n    int64
	}{
		{"prompt", u.PromptTokens},
		{"cached", u.CachedTokens},
		{"completion", u.CompletionTokens},
		{"reasoning", u.ReasoningTokens},
	} {
		if f.n < 0 {
			errs = append(errs, fmt.Errorf("usage: %s tokens %d: must not be negative", f.name, f.n))
		}
	}
	if u.CachedTokens > u.PromptTokens {
		errs = append(errs, fmt.Errorf("usage: cached tokens %d exceed prompt tokens %d: prompt tokens must include cached ones",
			u.CachedTokens, u.PromptTokens))
	}
	if u.ReasoningTokens > u.CompletionTokens {
		errs = append(errs, fmt.Errorf("usage: reasoning tokens %d exceed completion tokens %d: completion tokens must include reasoning ones",
			u.ReasoningTokens, u.CompletionTokens))
	}
	return errors.Join(errs...)
}

// Multipliers are the root contract's per-kind price multipliers (§8.2),
// 10000 = 1.0.
type Multipliers struct {
	Prompt, Cached, Completion, Reasoning uint32
}

// Multipliers returns the contract's four token price multipliers.
func (r RootContractConfig) Multipliers() Multipliers {
	return Multipliers{
		Prompt:     r.PromptTokensPriceMultiplier,
		Cached:     r.CachedTokensPriceMultiplier,
		Completion: r.CompletionTokensPriceMultiplier,
		Reasoning:  r.ReasoningTokensPriceMultiplier,
	}
}

// Adjusted are a request's adjusted tokens (§8.1): what the proxy credits
// the worker with and charges the client for.
type Adjusted struct {
	Prompt, Cached, Completion, Reasoning int64
	Total                                 int64 // sum of the four
}

// adjustDivisor is the scale of k (1000) times the scale of a multiplier
// (10000).
const adjustDivisor = 1000 * 10000

// AdjustTokens applies the worker coefficient k (1000 = 1.0) and the root
// multipliers m (10000 = 1.0) to u as §8.1 describes. Each part is
//
//	part = floor(n·k·m_part / 10^7)
//
// with n = P−C, C, O−R and R for the prompt, cached, completion and
// reasoning parts, computed exactly in integer arithmetic (192-bit
// intermediates), so the result does not depend on floating-point
// rounding. Total is the sum of the four parts.
//
// AdjustTokens never fails; it clamps what Usage.Validate rejects:
//   - a negative count counts as 0;
//   - n is never below 0: with C > P the prompt part is 0 while the
//     cached part is still computed from C (likewise R > O for the
//     completion and reasoning parts), so no part is ever negative;
//   - a negative k counts as 0 (the proxy rejects k < 0, §8.2).
//
// A part or the total that does not fit in int64 saturates at
// math.MaxInt64.
func AdjustTokens(u Usage, k int64, m Multipliers) Adjusted {
	p, c := nonNeg(u.PromptTokens), nonNeg(u.CachedTokens)
	o, r := nonNeg(u.CompletionTokens), nonNeg(u.ReasoningTokens)
	kk := uint64(nonNeg(k))
	a := Adjusted{
		Prompt:     adjustPart(nonNeg(p-c), kk, m.Prompt),
		Cached:     adjustPart(c, kk, m.Cached),
		Completion: adjustPart(nonNeg(o-r), kk, m.Completion),
		Reasoning:  adjustPart(r, kk, m.Reasoning),
	}
	a.Total = addSat(addSat(a.Prompt, a.Cached), addSat(a.Completion, a.Reasoning))
	return a
}

// nonNeg returns n, or 0 when n is negative. p−c cannot overflow after
// both were clamped to [0, MaxInt64].
func nonNeg(n int64) int64 { return max(n, 0) }

// adjustPart returns floor(n·k·m / 10^7), saturated at MaxInt64; n ≥ 0.
func adjustPart(n int64, k uint64, m uint32) int64 {
	// n·k fits in 128 bits; multiplying by a 32-bit m needs up to 160,
	// so the product is held in three 64-bit words (w2, w1, w0).
	hi, lo := bits.Mul64(uint64(n), k)
	c1, w0 := bits.Mul64(lo, uint64(m))
	c2, t := bits.Mul64(hi, uint64(m))
	w1, carry := bits.Add64(t, c1, 0)
	w2 := c2 + carry // c2 < 2^32, cannot overflow

	// Long division by 10^7, most significant word first. Each step's
	// remainder is < 10^7, so Div64 never panics.
	q2, rem := bits.Div64(0, w2, adjustDivisor)
	q1, rem := bits.Div64(rem, w1, adjustDivisor)
	q0, _ := bits.Div64(rem, w0, adjustDivisor)
	if q2 != 0 || q1 != 0 || q0 > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q0)
}

// addSat adds two non-negative values, saturating at MaxInt64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
