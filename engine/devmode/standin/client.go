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
	FirstToken time.Duration // until the first piece of a streamed answer; 0 if none (or not streamed)
	Usage      worker.Usage
	Bytes      int
	Err        error
}

// CompletionRequest is one chat completion for Complete: an optional
// system message, then Prompt as the user message.
type CompletionRequest struct {
	System          string // the system message; empty sends none
	Prompt          string // the user message
	MaxTokens       int
	ReasoningTokens int    // reasoning_tokens (stand-in extension)
	Seed            uint64 // the sampling seed: same seed, same answer
	MaxCoefficient  int64  // max_coefficient (1000 = 1.0); 0 leaves it out: any worker
	Stream          bool   // ask for server-sent events
}

// SynthRequest is the generation the stand-in worker runs for r: the
// messages rendered into one prompt exactly as the proxy renders them.
// It lets a benchmark run the same work on the host.
func (r CompletionRequest) SynthRequest() synth.Request {
	var b strings.Builder
	if r.System != "" {
		writePromptMessage(&b, "system", r.System)
	}
	writePromptMessage(&b, "user", r.Prompt)
	return synth.Request{Prompt: b.String(), MaxTokens: r.MaxTokens, ReasoningTokens: r.ReasoningTokens, Seed: r.Seed}
}

// body is r as the JSON request body.
func (r CompletionRequest) body() []byte {
	req := clientRequest{Model: synth.ModelName, MaxTokens: r.MaxTokens, Stream: r.Stream,
		ReasoningTokens: r.ReasoningTokens, MaxCoefficient: r.MaxCoefficient, Seed: r.Seed}
	if r.System != "" {
		req.Messages = append(req.Messages, clientMessage{"system", r.System})
	}
	req.Messages = append(req.Messages, clientMessage{"user", r.Prompt})
	b, _ := json.Marshal(&req) // plain strings and numbers: cannot fail
	return b
}

// HTTPError is an answer other than 200 OK: Status is the HTTP status
// (503: no worker can take the request now; retry after a second) and
// Message the error body's message.
type HTTPError struct {
	Status  int
	Message string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

// Complete sends one chat completion to the stand-in proxy at baseURL
// (as Proxy.ClientURL returns it) with hc (nil: http.DefaultClient) and
// reads the whole answer. The error, also in Result.Err, is an
// *HTTPError for a refused request; the timings are filled either way.
func Complete(ctx context.Context, hc *http.Client, baseURL string, r CompletionRequest) (Result, error) {
	endpoint, err := chatEndpoint(baseURL)
	if err != nil {
		return Result{Start: time.Now(), Err: err}, err
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	res := send(ctx, hc, endpoint, r.body(), r.Stream)
	return res, res.Err
}

// chatEndpoint is the chat completions URL under baseURL.
func chatEndpoint(baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("stand-in client: base URL %q: want http://host:port", baseURL)
	}
	return strings.TrimSuffix(baseURL, "/") + "/v1/chat/completions", nil
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
	endpoint, err := chatEndpoint(baseURL)
	if err != nil {
		return err
	}
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
		body := g.next().body()
		wg.Go(func() {
			defer func() { <-sem }()
			r := send(ctx, hc, endpoint, body, true)
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

// next returns the next request (streamed).
func (g *generator) next() CompletionRequest {
	i := g.i
	g.i++
	seed := mixSeed(g.l.Seed, uint64(i))
	req := CompletionRequest{MaxTokens: g.l.MaxTokens, ReasoningTokens: g.l.ReasoningTokens,
		MaxCoefficient: g.l.MaxCoefficient, Seed: seed, Stream: true}
	if g.l.PromptFunc != nil {
		req.Prompt = g.l.PromptFunc(i)
		return req
	}
	if g.rng.Float64() < systemPromptShare {
		req.System = g.system
	}
	req.Prompt = Prompt(seed, g.l.PromptWords)
	return req
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

// send makes one request and reads the answer, a stream of server-sent
// events when stream is set.
func send(ctx context.Context, hc *http.Client, endpoint string, body []byte, stream bool) (r Result) {
	r.Start = time.Now()
	defer func() { r.Latency = time.Since(r.Start) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		r.Err = err
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
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
		r.Err = &HTTPError{Status: resp.StatusCode, Message: msg}
		return r
	}
	if stream {
		r.Err = readStream(resp.Body, &r)
	} else {
		r.Err = readWhole(resp.Body, &r)
	}
	return r
}

// readWhole reads a non-streamed chat.completion, filling r.
func readWhole(body io.Reader, r *Result) error {
	var c struct {
		Choices []struct {
			Message struct {
				Content          string `json:"content"`
				ReasoningContent string `json:"reasoning_content"`
			} `json:"message"`
		} `json:"choices"`
		Usage *usageJSON `json:"usage"`
	}
	if err := json.NewDecoder(io.LimitReader(body, MaxFrame)).Decode(&c); err != nil {
		return fmt.Errorf("bad chat completion: %w", err)
	}
	if c.Usage == nil {
		return errors.New("the answer has no usage")
	}
	for _, ch := range c.Choices {
		r.Bytes += len(ch.Message.Content) + len(ch.Message.ReasoningContent)
	}
	r.Usage = c.Usage.worker()
	return nil
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
			r.Usage = u.worker()
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("the stream ended early (no [DONE])")
}
