package synth

import "math"

// Model shape. The per-token decode cost is about Dim·Dim + VocabSize·Dim
// multiply-adds plus VocabSize exponentials; prefill costs Dim·Dim
// multiply-adds and Dim tanh per prompt token.
const (
	Dim       = 64   // hidden and embedding size
	VocabSize = 1024 // tokens: punctuation marks, then pseudo-words
)

// Temperature is the sampling temperature of every request.
const Temperature = 0.8

// weightSeed seeds the weights and the vocabulary. Changing it changes
// every generated text.
const weightSeed = 0x5EED_C0C0_A1B2_0001

// Scales of the uniform weight distributions (half-widths). A's spectral
// radius is a little above 1, so the state neither dies out nor saturates.
const (
	scaleA    = 1.15 * 1.7320508 / 8 // gain·√3/√Dim
	scaleE    = 1.0
	scaleW    = 0.9
	scaleH0   = 0.5
	zipfScale = 0.12
	invTemp   = 1 / Temperature
	expCutoff = -80.0 // expNeg is 0 below this
)

// model is the fixed network: read-only after newModel, shared by all
// requests.
type model struct {
	a    []float32 // Dim×Dim recurrent matrix, row-major
	emb  []float32 // VocabSize×Dim token embeddings
	w    []float32 // VocabSize×Dim output projection
	bias []float32 // VocabSize logit biases
	h0   []float32 // state before the first token
}

func newModel(rng *splitMix) *model {
	m := &model{
		a:    make([]float32, Dim*Dim),
		emb:  make([]float32, VocabSize*Dim),
		w:    make([]float32, VocabSize*Dim),
		bias: make([]float32, VocabSize),
		h0:   make([]float32, Dim),
	}
	for _, p := range []struct {
		dst   []float32
		scale float32
	}{{m.a, scaleA}, {m.emb, scaleE}, {m.w, scaleW}, {m.h0, scaleH0}} {
		for i := range p.dst {
			p.dst[i] = rng.uniform(p.scale)
		}
	}
	for i, pm := range punctuation {
		m.bias[i] = pm.bias
	}
	for r := range VocabSize - numPunct {
		m.bias[numPunct+r] = zipfBias(r)
	}
	return m
}

// zipfBias is the logit bias of the word of frequency rank r (0 = most
// frequent): −zipfScale·√r, so the commonest word is about a hundred
// times as likely as the rarest, a skew like natural text's. math.Sqrt is
// exact on every architecture, unlike math.Log.
func zipfBias(r int) float32 { return float32(-zipfScale * math.Sqrt(float64(r))) }

// step advances the recurrence by one token: dst = tanh(A·src + E[tok]).
// dst and src must not overlap.
func (m *model) step(dst, src []float32, tok int32) {
	e := m.emb[int(tok)*Dim : int(tok)*Dim+Dim]
	for i := range Dim {
		dst[i] = tanh32(dot(m.a[i*Dim:i*Dim+Dim], src) + e[i])
	}
}

// logits writes W·h + bias into out (len VocabSize).
func (m *model) logits(out, h []float32) {
	for v := range VocabSize {
		out[v] = dot(m.w[v*Dim:v*Dim+Dim], h) + m.bias[v]
	}
}

// sample draws a token from softmax(logits/Temperature) restricted to
// ids ≥ from (from = numPunct forbids punctuation). probs is scratch of
// len VocabSize.
func sample(logits []float32, probs []float64, from int, rng *splitMix) int32 {
	logits, probs = logits[from:], probs[from:len(logits)]
	mx := logits[0]
	for _, l := range logits[1:] {
		mx = max(mx, l)
	}
	var sum float64
	for v, l := range logits {
		p := expNeg(float64(l-mx) * invTemp)
		probs[v] = p
		sum += p
	}
	u := rng.float64() * sum
	for v, p := range probs {
		if u < p {
			return int32(from + v)
		}
		u -= p
	}
	// Rounding left u at or above the remaining mass: take the last
	// token with any.
	for v := len(probs) - 1; ; v-- {
		if probs[v] > 0 || v == 0 {
			return int32(from + v)
		}
	}
}

// dot is a float32 dot product over len(a) elements. The explicit
// conversions round each product, so no architecture fuses the
// multiply-add and the result is the same everywhere.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += float32(a[i] * b[i])
		s1 += float32(a[i+1] * b[i+1])
		s2 += float32(a[i+2] * b[i+2])
		s3 += float32(a[i+3] * b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += float32(a[i] * b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// expNeg returns e^x for x ≤ 0 to about 1e-8 relative error, computed
// the same way on every architecture (math.Exp has per-architecture
// assembly): 2^n · P(f) with x·log₂e = n + f, 0 ≤ f < 1, and P the
// degree-9 Taylor polynomial of e^(f·ln 2).
func expNeg(x float64) float64 {
	if x < expCutoff {
		return 0
	}
	t := x * math.Log2E
	n := math.Floor(t) // exact on every architecture
	y := float64((t - n) * math.Ln2)
	p := 1.0 / 362880
	p = float64(p*y) + 1.0/40320
	p = float64(p*y) + 1.0/5040
	p = float64(p*y) + 1.0/720
	p = float64(p*y) + 1.0/120
	p = float64(p*y) + 1.0/24
	p = float64(p*y) + 1.0/6
	p = float64(p*y) + 1.0/2
	p = float64(p*y) + 1
	p = float64(p*y) + 1
	// 2^n for −116 ≤ n ≤ 0, built from its bits.
	return p * math.Float64frombits(uint64(int64(n)+1023)<<52)
}

// tanh32 is tanh through expNeg: (1−e^(−2|x|)) / (1+e^(−2|x|)), signed.
func tanh32(x float32) float32 {
	ax := math.Abs(float64(x))
	if ax > 9 { // tanh(9) rounds to 1 in float32
		return float32(math.Copysign(1, float64(x)))
	}
	e := expNeg(-2 * ax)
	return float32(math.Copysign((1-e)/(1+e), float64(x)))
}

// splitMix is the SplitMix64 generator: tiny, fast and fully specified,
// so weights and samples are the same on every platform and Go version.
type splitMix struct{ s uint64 }

func (r *splitMix) next() uint64 {
	r.s += 0x9E3779B97F4A7C15
	z := r.s
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// float64 returns a uniform value in [0, 1).
func (r *splitMix) float64() float64 { return float64(r.next()>>11) * 0x1p-53 }

// uniform returns a uniform float32 in [−scale, scale).
func (r *splitMix) uniform(scale float32) float32 {
	return float32(int32(r.next()>>32)) * float32(scale*0x1p-31)
}

// intN returns a uniform value in [0, n) (tiny modulo bias is fine here).
func (r *splitMix) intN(n int) int { return int(r.next() % uint64(n)) }
