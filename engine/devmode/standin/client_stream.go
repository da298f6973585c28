package standin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// chunkJSON is a chat.completion.chunk.
type chunkJSON struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	Usage   *usageJSON    `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int     `json:"index"`
	Delta        delta   `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

type delta struct {
	Role             string `json:"role,omitempty"`
	Content          string `json:"content,omitempty"`
	ReasoningContent string `json:"reasoning_content,omitempty"`
}

// clip shortens a worker-supplied text for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// stream writes one response, streamed (SSE) or whole.
type stream struct {
	p         *Proxy
	w         http.ResponseWriter
	streaming bool
	started   time.Time
	id, model string

	headerSent bool
	role       bool // the first delta (with the role) was sent
	content    strings.Builder
	reasoning  strings.Builder
	bytes      int
	broken     bool
}

func (s *stream) empty() bool { return s.bytes == 0 && !s.headerSent }

func (s *stream) base() chunkJSON {
	return chunkJSON{ID: s.id, Object: "chat.completion.chunk", Created: s.started.Unix(), Model: s.model}
}

// event writes one SSE data line.
func (s *stream) event(v any) error {
	if s.broken {
		return errors.New("client connection broken")
	}
	if !s.headerSent {
		h := s.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		s.w.WriteHeader(http.StatusOK)
		s.headerSent = true
	}
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", b); err != nil {
		s.broken = true
		return err
	}
	if fl, ok := s.w.(http.Flusher); ok {
		fl.Flush()
	}
	return nil
}

// chunks relays answer pieces.
func (s *stream) chunks(cs []Chunk) error {
	for _, c := range cs {
		s.bytes += len(c.Text)
		if !s.streaming {
			if c.Reasoning {
				s.reasoning.WriteString(c.Text)
			} else {
				s.content.WriteString(c.Text)
			}
			continue
		}
		ch := s.base()
		d := delta{Content: c.Text}
		if c.Reasoning {
			d = delta{ReasoningContent: c.Text}
		}
		if !s.role {
			d.Role, s.role = "assistant", true
		}
		ch.Choices = []chunkChoice{{Delta: d}}
		if err := s.event(ch); err != nil {
			return err
		}
	}
	return nil
}

// finish writes the end of a successful answer with its usage.
func (s *stream) finish(u worker.Usage, adj worker.Adjusted, maxTokens int) {
	reason := "stop"
	if u.CompletionTokens >= int64(maxTokens) {
		reason = "length"
	}
	usage := s.p.usage(u, adj)
	if s.streaming {
		ch := s.base()
		d := delta{}
		if !s.role {
			d.Role = "assistant"
		}
		ch.Choices = []chunkChoice{{Delta: d, FinishReason: &reason}}
		if s.event(ch) != nil {
			return
		}
		ch = s.base()
		ch.Choices, ch.Usage = []chunkChoice{}, usage
		if s.event(ch) != nil {
			return
		}
		_ = s.event([]byte("[DONE]"))
		return
	}
	type message struct {
		Role             string `json:"role"`
		Content          string `json:"content"`
		ReasoningContent string `json:"reasoning_content,omitempty"`
	}
	type choice struct {
		Index        int     `json:"index"`
		Message      message `json:"message"`
		FinishReason string  `json:"finish_reason"`
	}
	resp := struct {
		ID      string     `json:"id"`
		Object  string     `json:"object"`
		Created int64      `json:"created"`
		Model   string     `json:"model"`
		Choices []choice   `json:"choices"`
		Usage   *usageJSON `json:"usage"`
	}{s.id, "chat.completion", s.started.Unix(), s.model,
		[]choice{{Message: message{"assistant", s.content.String(), s.reasoning.String()}, FinishReason: reason}}, usage}
	s.w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(s.w).Encode(&resp)
}

// fail tells the client a request failed: an HTTP error before any
// output, an SSE error event after.
func (s *stream) fail(f *failure) {
	if f.code == statusClientClosed {
		return // nobody to tell
	}
	if s.headerSent {
		_ = s.event(errorBody(f.typ, f.msg, ""))
		return
	}
	if f.code == http.StatusServiceUnavailable {
		s.w.Header().Set("Retry-After", "1")
	}
	writeError(s.w, f.code, f.typ, f.msg)
}
