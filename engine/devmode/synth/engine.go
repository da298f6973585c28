package synth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// ModelName is the model the stand-in serves. It says "synthetic" so that
// nobody mistakes its output for a real model's.
const ModelName = "stand-in/synthetic-lm"

// Request limits (Request.Validate).
const (
	MaxTokensLimit = 4096     // the most tokens one request may generate
	MaxPromptBytes = 64 << 10 // the longest prompt, in bytes
)

// sampleSeedMix is XORed into Request.Seed to seed a request's sampler.
const sampleSeedMix = 0xC0C0_0000_5A17_0001

// Request is one generation request.
type Request struct {
	Prompt          string // never copied to the output
	MaxTokens       int    // tokens to generate, reasoning included: 1..MaxTokensLimit
	ReasoningTokens int    // how many of them are reasoning, generated first: 0..MaxTokens
	Seed            uint64 // selects the sampling stream; same seed, same text
}

// Validate reports every limit the request breaks.
func (r Request) Validate() error {
	var errs []error
	if r.MaxTokens < 1 || r.MaxTokens > MaxTokensLimit {
		errs = append(errs, fmt.Errorf("synth request: max tokens %d: must be between 1 and %d", r.MaxTokens, MaxTokensLimit))
	}
	if r.ReasoningTokens < 0 || r.ReasoningTokens > max(r.MaxTokens, 0) {
		errs = append(errs, fmt.Errorf("synth request: reasoning tokens %d: must be between 0 and max tokens (%d)",
			r.ReasoningTokens, r.MaxTokens))
	}
	if len(r.Prompt) > MaxPromptBytes {
		errs = append(errs, fmt.Errorf("synth request: prompt is %d bytes, more than the limit of %d (64 KiB): shorten it",
			len(r.Prompt), MaxPromptBytes))
	}
	return errors.Join(errs...)
}

// Piece is one generated token's text, with a leading space where it
// follows a word, and whether it is a reasoning token.
type Piece struct {
	Text      string
	Reasoning bool
}

// Usage is what a request processed and generated, in OpenAI's sense:
// PromptTokens includes CachedTokens, CompletionTokens includes
// ReasoningTokens.
type Usage = worker.Usage

// Engine is the synthetic generator: fixed weights, vocabulary and a
// prefix cache. It is safe for concurrent use.
type Engine struct {
	m     *model
	vocab *vocabulary
	forms [][4]string // per token: the texts textState picks from
	cache *prefixCache
}

// NewEngine builds the weights and vocabulary from the constant seed (a
// few milliseconds) with an empty prefix cache of DefaultCacheSize states.
func NewEngine() *Engine { return newEngine(DefaultCacheSize) }

func newEngine(cacheSize int) *Engine {
	rng := &splitMix{s: weightSeed}
	vocab := newVocabulary(rng)
	e := &Engine{
		m:     newModel(rng),
		vocab: vocab,
		forms: make([][4]string, VocabSize),
		cache: newPrefixCache(cacheSize),
	}
	for i, w := range vocab.words {
		capital := w
		if i >= numPunct {
			capital = strings.ToUpper(w[:1]) + w[1:]
		}
		e.forms[i] = [4]string{w, " " + w, capital, " " + capital}
	}
	return e
}

// Generate runs the prefill over r.Prompt, continuing from the longest
// cached block prefix, then generates r.MaxTokens tokens, the first
// r.ReasoningTokens of them marked as reasoning, and calls emit with each
// (a nil emit discards them).
//
// It stops early with ctx.Err() when ctx ends (checked before every
// generated token and every prompt block) or with the error emit
// returns. The usage always counts what was done: PromptTokens the prompt
// tokens processed so far (cached ones included), CachedTokens those
// taken from the cache (a multiple of BlockSize), CompletionTokens the
// tokens generated, including one whose emit failed. An invalid request
// returns a zero Usage and Validate's error.
func (e *Engine) Generate(ctx context.Context, r Request, emit func(Piece) error) (Usage, error) {
	if err := r.Validate(); err != nil {
		return Usage{}, err
	}
	var u Usage
	h, err := e.prefill(ctx, r.Prompt, &u)
	if err != nil {
		return u, err
	}

	next := make([]float32, Dim)
	logits := make([]float32, VocabSize)
	probs := make([]float64, VocabSize)
	rng := splitMix{s: r.Seed ^ sampleSeedMix}
	var text textState
	for i := range r.MaxTokens {
		if err := ctx.Err(); err != nil {
			return u, err
		}
		reasoning := i < r.ReasoningTokens
		if i == r.ReasoningTokens {
			text = textState{} // the answer starts a fresh text
		}
		e.m.logits(logits, h)
		from := 0
		if text.noPunct() {
			from = numPunct
		}
		tok := sample(logits, probs, from, &rng)
		p := Piece{Text: text.next(e.forms, tok), Reasoning: reasoning}
		u.CompletionTokens++
		if reasoning {
			u.ReasoningTokens++
		}
		if emit != nil {
			if err := emit(p); err != nil {
				return u, err
			}
		}
		if i+1 < r.MaxTokens { // the last token's state is never needed
			e.m.step(next, h, tok)
			h, next = next, h
		}
	}
	return u, nil
}

// prefill tokenizes the prompt and runs every token the cache does not
// cover through the recurrence, storing the state after each new block.
// It returns the final state and counts into u.
func (e *Engine) prefill(ctx context.Context, prompt string, u *Usage) ([]float32, error) {
	tokens := e.vocab.tokenize(prompt, make([]int32, 0, len(prompt)/4+1))
	keys := prefixHashes(tokens)
	h, next := make([]float32, Dim), make([]float32, Dim)
	start := 0
	if n, state, ok := e.cache.longest(keys); ok {
		copy(h, state)
		start = n
	} else {
		copy(h, e.m.h0)
	}
	u.PromptTokens, u.CachedTokens = int64(start), int64(start)
	for i := start; i < len(tokens); i++ {
		if (i-start)%BlockSize == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		e.m.step(next, h, tokens[i])
		h, next = next, h
		u.PromptTokens++
		if (i+1)%BlockSize == 0 {
			e.cache.put(keys[(i+1)/BlockSize-1], h)
		}
	}
	return h, nil
}

// textState turns token ids into text: words after the first get a
// leading space, the first word of a sentence a capital, and punctuation
// may not open the text or follow punctuation (sample enforces that
// through noPunct).
type textState struct {
	started   bool
	lastPunct bool
	lowerNext bool // the zero value capitalizes the first word
}

func (t *textState) noPunct() bool { return !t.started || t.lastPunct }

// next returns tok's text and advances the state.
func (t *textState) next(forms [][4]string, tok int32) string {
	if int(tok) < numPunct {
		t.lastPunct = true
		t.lowerNext = !punctuation[tok].endsSentence
		return forms[tok][0]
	}
	i := 0
	if t.started {
		i++
	}
	if !t.lowerNext {
		i += 2
	}
	t.started, t.lastPunct, t.lowerNext = true, false, true
	return forms[tok][i]
}
