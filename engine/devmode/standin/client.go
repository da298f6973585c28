package standin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/synth"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// Load patterns.
const (
	PatternSteady = "steady" // Poisson arrivals at Rate
	PatternBursty = "bursty" // Concurrency requests at once, every Concurrency/Rate seconds
	PatternIdle   = "idle"   // steady, in alternating on and off phases (20 s each)
)

// Load limits (Load.Validate).
const (
	maxLoadRate        = 1000
	maxLoadConcurrency = 1000
	maxPromptWords     = 5000
	// DefaultIdlePhase is the length of the on and off phases of the
	// "idle" pattern.
	DefaultIdlePhase = 20 * time.Second
	// systemPromptWords is the length of the shared system prompt.
	systemPromptWords = 64
	// systemPromptShare is the share of requests that start with the
	// shared system prompt, so the worker's prefix cache has hits.
	systemPromptShare = 0.8
)

// Load is what the built-in client sends.
type Load struct {
	Pattern         string  // PatternSteady, PatternBursty or PatternIdle
	Rate            float64 // requests per second, on average (during on phases for "idle")
	Concurrency     int     // the most requests in flight
	PromptWords     int     // words in a request's own (user) prompt
	MaxTokens       int     // max_tokens of each request
	ReasoningTokens int     // reasoning_tokens of each request (stand-in extension)
	MaxCoefficient  int64   // max_coefficient (1000 = 1.0); 0 leaves it out: any worker
	Seed            uint64  // the prompts and answers follow from it

	// PromptFunc, when set, gives request i's prompt (i counts from 0), sent
	// as the only message; the generated prompts are not used. For tests.
	PromptFunc func(i int) string `json:"-"`
	// IdlePhase is the on and off phase length of "idle"; 0 means 20 s.
	IdlePhase time.Duration `json:"-"`
}

// Validate reports every setting of l that is out of range, with the
// range.
func (l Load) Validate() error {
	var errs []error
	switch l.Pattern {
	case PatternSteady, PatternBursty, PatternIdle:
	default:
		errs = append(errs, fmt.Errorf("pattern %q: use steady, bursty or idle", l.Pattern))
	}
	if !(l.Rate > 0 && l.Rate <= maxLoadRate) {
		errs = append(errs, fmt.Errorf("rate %g: must be above 0 and at most %d requests per second", l.Rate, maxLoadRate))
	}
	if l.Concurrency < 1 || l.Concurrency > maxLoadConcurrency {
		errs = append(errs, fmt.Errorf("concurrency %d: must be 1..%d", l.Concurrency, maxLoadConcurrency))
	}
	if l.PromptFunc == nil && (l.PromptWords < 1 || l.PromptWords > maxPromptWords) {
		errs = append(errs, fmt.Errorf("prompt words %d: must be 1..%d", l.PromptWords, maxPromptWords))
	}
	if l.MaxTokens < 1 || l.MaxTokens > synth.MaxTokensLimit {
		errs = append(errs, fmt.Errorf("max tokens %d: must be 1..%d", l.MaxTokens, synth.MaxTokensLimit))
	}
	if l.ReasoningTokens < 0 || l.ReasoningTokens > max(l.MaxTokens, 0) {
		errs = append(errs, fmt.Errorf("reasoning tokens %d: must be 0..max tokens (%d)", l.ReasoningTokens, l.MaxTokens))
	}
	if l.MaxCoefficient < 0 {
		errs = append(errs, fmt.Errorf("max coefficient %d: must not be negative (0: any worker; 1000 = 1.0)", l.MaxCoefficient))
	}
	if l.IdlePhase < 0 {
		errs = append(errs, fmt.Errorf("idle phase %s: must not be negative", l.IdlePhase))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stand-in client load: %w", err)
	}
	return nil
}

// Result is one request's outcome. It holds no content: Bytes is the
// answer's size.
type Result struct {
	Start      time.Time
	Latency    time.Duration // until the answer ended
	FirstToken time.Duration // until the first piece of the answer; 0 if none
	Usage      worker.Usage
	Bytes      int
	Err        error
}

// RunClient sends l's requests to the stand-in proxy at baseURL (as
// Proxy.ClientURL returns it) until ctx ends, never with more than
// l.Concurrency in flight (an arrival waits for a free slot), and reports
// each finished request to onResult. onResult calls do not overlap.
// Requests cut short because ctx ended are not reported. RunClient
// returns nil once ctx ended and every request finished, or an error for
// an invalid l or baseURL.
func RunClient(ctx context.Context, baseURL string, l Load, onResult func(Result)) error {
	if err := l.Validate(); err != nil {
		return err
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("stand-in client: base URL %q: want http://host:port", baseURL)
	}
	endpoint := strings.TrimSuffix(baseURL, "/") + "/v1/chat/completions"
	tr := &http.Transport{MaxIdleConnsPerHost: l.Concurrency, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	if onResult == nil {
		onResult = func(Result) {}
	}

	g := &generator{l: l, rng: rand.New(rand.NewPCG(l.Seed, 0x636c69656e74)), system: systemPrompt(l.Seed)}
	sem := make(chan struct{}, l.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	var resMu sync.Mutex
	fire := func() bool {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		body := g.next()
		wg.Go(func() {
			defer func() { <-sem }()
			r := send(ctx, hc, endpoint, body)
			if ctx.Err() != nil {
				return
			}
			resMu.Lock()
			defer resMu.Unlock()
			onResult(r)
		})
		return true
	}
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	exp := func() time.Duration { return time.Duration(g.rng.ExpFloat64() / l.Rate * float64(time.Second)) }

	switch l.Pattern {
	case PatternSteady:
		for wait(exp()) && fire() {
		}
	case PatternBursty:
		period := time.Duration(float64(l.Concurrency) / l.Rate * float64(time.Second))
		for {
			for range l.Concurrency {
				if !fire() {
					return nil
				}
			}
			if !wait(period) {
				return nil
			}
		}
	case PatternIdle:
		phase := l.IdlePhase
		if phase == 0 {
			phase = DefaultIdlePhase
		}
		start := time.Now()
		for {
			if !wait(exp()) {
				return nil
			}
			// In an off phase, wait for the next on phase.
			if el := time.Since(start) % (2 * phase); el >= phase {
				if !wait(2*phase - el) {
					return nil
				}
			}
			if !fire() {
				return nil
			}
		}
	}
	return nil
}

// generator makes the request bodies; it is used by one goroutine.
type generator struct {
	l      Load
	rng    *rand.Rand
	system string
	i      int
}

type clientMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type clientRequest struct {
	Model           string          `json:"model"`
	Messages        []clientMessage `json:"messages"`
	MaxTokens       int             `json:"max_tokens"`
	Stream          bool            `json:"stream"`
	ReasoningTokens int             `json:"reasoning_tokens,omitempty"`
	MaxCoefficient  int64           `json:"max_coefficient,omitempty"`
	Seed            uint64          `json:"seed"`
}

// next returns the next request body.
func (g *generator) next() []byte {
	i := g.i
	g.i++
	seed := mixSeed(g.l.Seed, uint64(i))
	req := clientRequest{Model: synth.ModelName, MaxTokens: g.l.MaxTokens, Stream: true,
		ReasoningTokens: g.l.ReasoningTokens, MaxCoefficient: g.l.MaxCoefficient, Seed: seed}
	if g.l.PromptFunc != nil {
		req.Messages = []clientMessage{{"user", g.l.PromptFunc(i)}}
	} else {
		if g.rng.Float64() < systemPromptShare {
			req.Messages = append(req.Messages, clientMessage{"system", g.system})
		}
		req.Messages = append(req.Messages, clientMessage{"user", Prompt(seed, g.l.PromptWords)})
	}
	b, _ := json.Marshal(&req) // plain strings and numbers: cannot fail
	return b
}

// mixSeed derives request i's seed (SplitMix64 finalizer).
func mixSeed(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// systemPrompt is the shared prefix of a load's requests.
func systemPrompt(seed uint64) string {
	return "You are a helpful assistant of the cocoon-provider dev mode. " + Prompt(seed^0x53595354454d, systemPromptWords)
}

// promptWords is the vocabulary of generated prompts.
var promptWords = strings.Fields(`
the a an of to and in on for with about from by at over under between after before during
weather river mountain city garden market library window kitchen station harbour forest valley
bridge tower engine signal network ledger wallet token proxy worker contract payment request
answer question summary report letter story recipe journey morning evening winter summer
describe explain compare list summarise translate suggest outline review estimate plan check
quick careful simple detailed short long bright quiet busy early late local remote green blue
red old new small large warm cold calm steady sudden gentle strong light heavy clear rough
please kindly briefly exactly roughly mostly often rarely never always sometimes together
three seven twelve twenty hundred first second third last next every each other some many
is are was were will would can could should might must has have had does did makes takes gives`)

// Prompt returns deterministic pseudo-text of the given number of words:
// the same seed gives the same text.
func Prompt(seed uint64, words int) string {
	if words <= 0 {
		return ""
	}
	rng := rand.New(rand.NewPCG(seed, 0x70726f6d7074))
	var b strings.Builder
	sentence := 0
	for w := range words {
		word := promptWords[rng.IntN(len(promptWords))]
		if sentence == 0 {
			if w > 0 {
				b.WriteByte(' ')
			}
			word = strings.ToUpper(word[:1]) + word[1:]
			sentence = 6 + rng.IntN(10)
		} else {
			b.WriteByte(' ')
		}
		b.WriteString(word)
		sentence--
		if sentence == 0 || w == words-1 {
			b.WriteByte('.')
			sentence = 0
		}
	}
	return b.String()
}

// send makes one streamed request and reads the answer.
func send(ctx context.Context, hc *http.Client, endpoint string, body []byte) (r Result) {
	r.Start = time.Now()
	defer func() { r.Latency = time.Since(r.Start) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		r.Err = err
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		r.Err = err
		return r
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var e apiError
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		r.Err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
		return r
	}
	r.Err = readStream(resp.Body, &r)
	return r
}

// streamChunk is what the client reads of a chat.completion.chunk or an
// error event.
type streamChunk struct {
	Choices []struct {
		Delta struct {
			Content          string `json:"content"`
			ReasoningContent string `json:"reasoning_content"`
		} `json:"delta"`
	} `json:"choices"`
	Usage *usageJSON `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// readStream reads SSE events up to "[DONE]", filling r.
func readStream(body io.Reader, r *Result) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), MaxFrame)
	gotUsage := false
	for sc.Scan() {
		line := sc.Bytes()
		data, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			continue // blank separators, comments
		}
		data = bytes.TrimSpace(data)
		if string(data) == "[DONE]" {
			if !gotUsage {
				return errors.New("the stream ended without usage")
			}
			return nil
		}
		var c streamChunk
		if err := json.Unmarshal(data, &c); err != nil {
			return fmt.Errorf("bad stream event: %w", err)
		}
		if c.Error != nil {
			return fmt.Errorf("proxy: %s", c.Error.Message)
		}
		for _, ch := range c.Choices {
			n := len(ch.Delta.Content) + len(ch.Delta.ReasoningContent)
			if n > 0 && r.FirstToken == 0 {
				r.FirstToken = max(time.Since(r.Start), time.Nanosecond)
			}
			r.Bytes += n
		}
		if u := c.Usage; u != nil {
			gotUsage = true
			r.Usage = worker.Usage{PromptTokens: u.PromptTokens, CachedTokens: u.PromptTokensDetails.CachedTokens,
				CompletionTokens: u.CompletionTokens, ReasoningTokens: u.CompletionTokensDetails.ReasoningTokens}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("the stream ended early (no [DONE])")
}
