package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/synth"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// The OpenAI-compatible client endpoint of the stand-in proxy.
const (
	// DefaultMaxTokens is max_tokens when a request leaves it out.
	DefaultMaxTokens = 128
	// maxBody bounds a request body.
	maxBody = 256 << 10
	// maxAttempts is how many workers a request is offered to when
	// workers refuse it before producing anything.
	maxAttempts = 3
)

// chatRequest is the accepted subset of OpenAI's chat completion request;
// other fields are ignored.
type chatRequest struct {
	Model           string        `json:"model"`
	Messages        []chatMessage `json:"messages"`
	MaxTokens       *int          `json:"max_tokens"`
	Stream          bool          `json:"stream"`
	MaxCoefficient  *int64        `json:"max_coefficient"`
	ReasoningTokens *int          `json:"reasoning_tokens"` // stand-in extension
	Seed            *uint64       `json:"seed"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// usageJSON is the usage object of a response (§8.1: costs in nanoTON).
type usageJSON struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
	PromptTotalCost     int64 `json:"prompt_total_cost"`
	CompletionTotalCost int64 `json:"completion_total_cost"`
	TotalCost           int64 `json:"total_cost"`
}

// worker is the usage as the worker reported it.
func (j *usageJSON) worker() worker.Usage {
	return worker.Usage{PromptTokens: j.PromptTokens, CachedTokens: j.PromptTokensDetails.CachedTokens,
		CompletionTokens: j.CompletionTokens, ReasoningTokens: j.CompletionTokensDetails.ReasoningTokens}
}

func (p *Proxy) usage(u worker.Usage, a worker.Adjusted) *usageJSON {
	price := p.cfg.Root.PricePerToken
	mul := func(n int64) int64 {
		if price != 0 && n > math.MaxInt64/price {
			return math.MaxInt64
		}
		return n * price
	}
	var j usageJSON
	j.PromptTokens, j.CompletionTokens = u.PromptTokens, u.CompletionTokens
	j.TotalTokens = u.PromptTokens + u.CompletionTokens
	j.PromptTokensDetails.CachedTokens = u.CachedTokens
	j.CompletionTokensDetails.ReasoningTokens = u.ReasoningTokens
	j.PromptTotalCost = mul(a.Prompt + a.Cached)
	j.CompletionTotalCost = mul(a.Completion + a.Reasoning)
	j.TotalCost = mul(a.Total)
	return &j
}

// clientHandler serves /v1/chat/completions and /v1/models.
func (p *Proxy) clientHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", p.handleChat)
	mux.HandleFunc("/v1/models", p.handleModels)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found",
			fmt.Sprintf("no such endpoint %s; the stand-in proxy serves POST /v1/chat/completions and GET /v1/models", r.URL.Path))
	})
	return mux
}

// apiError is OpenAI's error body.
type apiError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Param   string `json:"param,omitempty"`
	} `json:"error"`
}

func errorBody(typ, msg, param string) []byte {
	var e apiError
	e.Error.Message, e.Error.Type, e.Error.Param = msg, typ, param
	b, _ := json.Marshal(&e)
	return b
}

func writeError(w http.ResponseWriter, code int, typ, msg string) {
	writeParamError(w, code, typ, msg, "")
}

func writeParamError(w http.ResponseWriter, code int, typ, msg, param string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(errorBody(typ, msg, param), '\n'))
}

func (p *Proxy) handleModels(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "use GET /v1/models")
		return
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	seen := map[string]bool{}
	var data []model
	p.mu.Lock()
	for _, s := range p.sessions {
		if m := s.hello.Model; m != "" && !seen[m] {
			seen[m] = true
			data = append(data, model{ID: m, Object: "model", OwnedBy: "cocoon-provider stand-in (synthetic)"})
		}
	}
	p.mu.Unlock()
	if len(data) == 0 {
		data = append(data, model{ID: synth.ModelName, Object: "model", OwnedBy: "cocoon-provider stand-in (synthetic)"})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

// badRequest is a 400 with the parameter at fault.
type badRequest struct{ param, msg string }

func (e *badRequest) Error() string { return e.msg }

// parseChat reads and checks a chat completion request.
func parseChat(w http.ResponseWriter, r *http.Request) (chatRequest, Request, int64, error) {
	var cr chatRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return cr, Request{}, 0, &badRequest{"", fmt.Sprintf("request body over %d bytes: send a shorter prompt", maxBody)}
		}
		return cr, Request{}, 0, &badRequest{"", "read the request body: " + err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&cr); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return cr, Request{}, 0, &badRequest{te.Field, fmt.Sprintf("field %q: a JSON %s cannot be a %s", te.Field, te.Value, te.Type)}
		}
		return cr, Request{}, 0, &badRequest{"", "the body is not valid JSON (" + err.Error() + "): send a chat completion request object"}
	}
	if dec.More() {
		return cr, Request{}, 0, &badRequest{"", "trailing data after the JSON request object"}
	}
	if strings.TrimSpace(cr.Model) == "" {
		return cr, Request{}, 0, &badRequest{"model", "model is required (any name: the stand-in serves " + synth.ModelName + ")"}
	}
	if len(cr.Messages) == 0 {
		return cr, Request{}, 0, &badRequest{"messages", "messages must hold at least one {\"role\", \"content\"} message"}
	}
	var prompt strings.Builder
	for i, m := range cr.Messages {
		switch m.Role {
		case "system", "developer", "user", "assistant", "tool":
		default:
			return cr, Request{}, 0, &badRequest{fmt.Sprintf("messages[%d].role", i),
				fmt.Sprintf("messages[%d].role %.40q: use system, user or assistant", i, m.Role)}
		}
		text, err := messageText(m.Content)
		if err != nil {
			return cr, Request{}, 0, &badRequest{fmt.Sprintf("messages[%d].content", i), fmt.Sprintf("messages[%d].content: %v", i, err)}
		}
		writePromptMessage(&prompt, m.Role, text)
	}
	if prompt.Len() > synth.MaxPromptBytes {
		return cr, Request{}, 0, &badRequest{"messages", fmt.Sprintf("the prompt is %d bytes; the stand-in accepts at most %d", prompt.Len(), synth.MaxPromptBytes)}
	}
	req := Request{Prompt: prompt.String(), MaxTokens: DefaultMaxTokens}
	if cr.MaxTokens != nil {
		req.MaxTokens = *cr.MaxTokens
	}
	if req.MaxTokens < 1 || req.MaxTokens > synth.MaxTokensLimit {
		return cr, Request{}, 0, &badRequest{"max_tokens", fmt.Sprintf("max_tokens %d: must be 1..%d", req.MaxTokens, synth.MaxTokensLimit)}
	}
	if cr.ReasoningTokens != nil {
		req.ReasoningTokens = *cr.ReasoningTokens
	}
	if req.ReasoningTokens < 0 || req.ReasoningTokens > req.MaxTokens {
		return cr, Request{}, 0, &badRequest{"reasoning_tokens", fmt.Sprintf("reasoning_tokens %d: must be 0..max_tokens (%d)", req.ReasoningTokens, req.MaxTokens)}
	}
	maxCoef := int64(math.MaxInt64)
	if cr.MaxCoefficient != nil {
		maxCoef = *cr.MaxCoefficient
		if maxCoef < 0 {
			return cr, Request{}, 0, &badRequest{"max_coefficient", fmt.Sprintf("max_coefficient %d: must not be negative (1000 = 1.0)", maxCoef)}
		}
	}
	if cr.Seed != nil {
		req.Seed = *cr.Seed
	}
	return cr, req, maxCoef, nil
}

// writePromptMessage renders one message into the worker's prompt.
func writePromptMessage(b *strings.Builder, role, text string) {
	b.WriteString(role)
	b.WriteString(": ")
	b.WriteString(text)
	b.WriteString("\n")
}

// messageText is a message's content: a string, or an array of text parts.
func messageText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("must be a string or an array of {\"type\": \"text\", \"text\": …} parts")
	}
	var b strings.Builder
	for i, pt := range parts {
		if pt.Type != "text" {
			return "", fmt.Errorf("part %d has type %.20q: the stand-in takes text parts only", i, pt.Type)
		}
		b.WriteString(pt.Text)
	}
	return b.String(), nil
}

// statusClientClosed marks a request whose client went away (nginx's 499;
// never sent).
const statusClientClosed = 499

// outcome classes of a request, for the client's error and the totals.
type failure struct {
	code int
	typ  string
	msg  string
}

// handleChat serves POST /v1/chat/completions.
func (p *Proxy) handleChat(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "use POST /v1/chat/completions")
		return
	}
	cr, req, maxCoef, err := parseChat(w, r)
	if err != nil {
		var br *badRequest
		errors.As(err, &br)
		writeParamError(w, http.StatusBadRequest, "invalid_request_error", err.Error(), br.param)
		return
	}
	p.mu.Lock()
	p.totals.Requests++
	p.mu.Unlock()
	st := &stream{p: p, w: w, streaming: cr.Stream, started: p.now()}
	f := p.serveChat(r, req, maxCoef, st)
	p.mu.Lock()
	switch {
	case f == nil:
		p.totals.Succeeded++
	case f.code == http.StatusServiceUnavailable && f.typ == "no_worker":
		p.totals.Unrouted++
	default:
		p.totals.Failed++
	}
	p.mu.Unlock()
	if f != nil {
		st.fail(f)
	}
	p.log.Debug("client request", "stream", cr.Stream, "prompt_bytes", len(req.Prompt), "max_tokens", req.MaxTokens,
		"answer_bytes", st.bytes, "took", p.now().Sub(st.started).Round(time.Millisecond).String(), "ok", f == nil)
}

// serveChat routes the request and relays the answer; it returns nil on
// success, or what to tell the client.
func (p *Proxy) serveChat(r *http.Request, req Request, maxCoef int64, st *stream) *failure {
	ctx := r.Context()
	skip := map[*workerSession]bool{}
	var lastRefusal string
	for attempt := 0; attempt < maxAttempts; attempt++ {
		c, err := p.dispatch(req, maxCoef, skip)
		if err != nil {
			if lastRefusal != "" {
				return &failure{http.StatusServiceUnavailable, "worker_refused", "the workers refused the request: " + lastRefusal}
			}
			return &failure{http.StatusServiceUnavailable, "no_worker", err.Error()}
		}
		st.id = "chatcmpl-standin-" + strconv.FormatUint(c.id, 10)
		st.model = c.s.hello.Model
		if st.model == "" {
			st.model = synth.ModelName
		}
		timer := time.NewTimer(p.cfg.WorkerTimeout)
		f, retry := p.follow(ctx, c, req, st, timer)
		timer.Stop()
		if !retry {
			return f
		}
		skip[c.s] = true
		lastRefusal = f.msg
	}
	return &failure{http.StatusServiceUnavailable, "worker_refused", "the workers refused the request: " + lastRefusal}
}

// follow relays one call's answer. retry is true when the worker refused
// the request before any output, so another worker may take it.
func (p *Proxy) follow(ctx context.Context, c *call, req Request, st *stream, timer *time.Timer) (f *failure, retry bool) {
	for {
		select {
		case <-ctx.Done():
			if c.s.abandon(c) {
				if p.stopping() {
					return &failure{http.StatusServiceUnavailable, "shutting_down", "the stand-in proxy is shutting down"}, false
				}
				return &failure{statusClientClosed, "client_closed", "the client went away"}, false
			}
		case <-timer.C:
			if c.s.abandon(c) {
				return &failure{http.StatusGatewayTimeout, "worker_timeout",
					fmt.Sprintf("the worker sent nothing for %s; the request was cancelled", p.cfg.WorkerTimeout)}, false
			}
		case <-c.notify:
		}
		chunks, ended, d, adj, err := c.take()
		if len(chunks) > 0 {
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			timer.Reset(p.cfg.WorkerTimeout)
			if werr := st.chunks(chunks); werr != nil {
				// The client's connection broke; its context ends next.
				continue
			}
		}
		if !ended {
			continue
		}
		switch {
		case err != nil:
			return &failure{http.StatusBadGateway, "worker_error", err.Error()}, false
		case d.Error != "" && st.empty() && d.Usage == (worker.Usage{}):
			return &failure{http.StatusServiceUnavailable, "worker_refused", "the worker refused it: " + clip(d.Error, 200)}, true
		case d.Error != "":
			return &failure{http.StatusBadGateway, "worker_error", "the worker failed the request: " + clip(d.Error, 200)}, false
		}
		st.finish(d.Usage, adj, req.MaxTokens)
		return nil, false
	}
}
