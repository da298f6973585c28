// Package notify sends the engine's alerts to places outside the app:
// a Telegram chat, through a bot the user made with @BotFather.
//
// The bot token is a secret. It is part of every Bot API address
// (https://api.telegram.org/bot<token>/sendMessage), and net/http puts
// the address into its errors, so every error this package returns has
// the token replaced, and it logs no address at all.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// DefaultTelegramAPI is the Bot API's address.
const DefaultTelegramAPI = "https://api.telegram.org"

// Limits of a Telegram sender.
const (
	// DefaultTimeout bounds one request to the Bot API.
	DefaultTimeout = 10 * time.Second
	// DefaultAttempts is how many times a message is tried when the Bot
	// API is busy (429) or failing (5xx, no answer).
	DefaultAttempts = 4
	// DefaultBackoff is the wait before the second attempt; it doubles
	// with each further one.
	DefaultBackoff = time.Second
	// MaxPerMinute is the most messages a sender posts in a minute; more
	// wait for a free slot. Telegram allows a bot about 20 messages a
	// minute to one group.
	MaxPerMinute = 20
	// maxRetryAfter is the longest wait a 429's retry_after is honoured
	// for; a longer one fails the message.
	maxRetryAfter = 5 * time.Minute
	// maxText is the Bot API's limit on a message's length, in characters.
	maxText = 4096
	// maxAnswer bounds the Bot API answer read.
	maxAnswer = 64 << 10
)

// Errors a message can fail with. Their texts are sentences for the user.
var (
	// ErrBotTokenRefused: the Bot API answered 401 (or 404, its answer to
	// a token that names no bot).
	ErrBotTokenRefused = errors.New("the bot token was refused: check it with @BotFather")
	// ErrChatNotFound: the bot cannot write to the chat id.
	ErrChatNotFound = errors.New("chat not found: send /start to the bot from that chat first")
	// ErrRefused wraps the other answers that no retry changes (4xx).
	ErrRefused = errors.New("Telegram refused the message")
	// ErrUnavailable wraps a message that still failed after the last
	// attempt: Telegram busy or failing, or not reachable.
	ErrUnavailable = errors.New("Telegram could not be reached")
)

// Telegram posts messages to chats through the Bot API. The zero value
// is not usable; make one with NewTelegram. It is safe for concurrent
// use; the rate limit (MaxPerMinute) is shared by all its messages.
type Telegram struct {
	// BaseURL is the Bot API's address, DefaultTelegramAPI; tests point
	// it at a fake.
	BaseURL string
	// Client makes the requests.
	Client *http.Client
	// Timeout bounds each request; Attempts and Backoff are the retries.
	Timeout  time.Duration
	Attempts int
	Backoff  time.Duration
	// Log gets a line for each retry; never the token or an address.
	Log *slog.Logger
	// Now and Sleep are the clock; tests replace them.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	mu   sync.Mutex
	sent []time.Time // the times of the messages of the last minute
}

// NewTelegram returns a sender for the real Bot API with the default
// limits; log may be nil.
func NewTelegram(log *slog.Logger) *Telegram {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Telegram{BaseURL: DefaultTelegramAPI, Client: &http.Client{}, Timeout: DefaultTimeout,
		Attempts: DefaultAttempts, Backoff: DefaultBackoff, Log: log, Now: time.Now, Sleep: sleep}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// apiAnswer is the Bot API's answer.
type apiAnswer struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// Send posts text to chatID (a number, or @ and a channel's name) with
// the bot whose token is given. A busy Bot API (429) is asked again after
// the wait it names, a failing one (5xx, no answer) after a growing
// backoff; a refusal (other 4xx) is not retried. The error never holds
// the token.
func (t *Telegram) Send(ctx context.Context, token, chatID, text string) error {
	token, chatID = strings.TrimSpace(token), strings.TrimSpace(chatID)
	if token == "" {
		return errors.New("no bot token is set")
	}
	if chatID == "" {
		return errors.New("no chat id is set")
	}
	if err := t.reserve(ctx); err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{"chat_id": chatID, "text": clip(text), "disable_web_page_preview": true})
	if err != nil {
		return err
	}
	attempts := max(t.Attempts, 1)
	backoff := t.Backoff
	var last error
	for attempt := 1; ; attempt++ {
		wait, err := t.post(ctx, token, body)
		if err == nil {
			return nil
		}
		last = err
		if wait < 0 || attempt >= attempts || ctx.Err() != nil {
			break
		}
		if wait == 0 {
			wait = backoff
			backoff *= 2
		}
		if wait > maxRetryAfter {
			break
		}
		t.Log.Info("Telegram message not sent yet; retrying", "attempt", attempt, "wait", wait.String(), "error", err.Error())
		if err := t.Sleep(ctx, wait); err != nil {
			break
		}
	}
	if errors.Is(last, ErrBotTokenRefused) || errors.Is(last, ErrChatNotFound) || errors.Is(last, ErrRefused) {
		return last
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, last)
}

// post makes one request. wait says what to do after an error: negative
// never retry, zero retry after the backoff, positive retry after it.
func (t *Telegram) post(ctx context.Context, token string, body []byte) (time.Duration, error) {
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	endpoint := strings.TrimRight(t.BaseURL, "/") + "/bot" + token + "/sendMessage"
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return -1, redact(err, token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.Client.Do(req)
	if err != nil {
		return 0, redact(err, token)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, redact(err, token)
	}
	var a apiAnswer
	_ = json.Unmarshal(raw, &a) // a page from a proxy: the status says enough
	if resp.StatusCode == http.StatusOK && a.OK {
		return 0, nil
	}
	desc := strings.ReplaceAll(strings.TrimSpace(a.Description), token, redacted)
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests:
		wait := time.Duration(a.Parameters.RetryAfter) * time.Second
		if wait <= 0 {
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
		}
		return wait, fmt.Errorf("Telegram is busy (429), retry after %s", wait)
	case code == http.StatusUnauthorized || code == http.StatusNotFound:
		return -1, ErrBotTokenRefused
	case code == http.StatusBadRequest && strings.Contains(strings.ToLower(desc), "chat not found"),
		code == http.StatusForbidden && strings.Contains(strings.ToLower(desc), "bot was blocked"):
		return -1, ErrChatNotFound
	case code >= 500 || code == http.StatusOK:
		return 0, fmt.Errorf("Telegram answered %d %s", code, orStatus(desc, code))
	default:
		return -1, fmt.Errorf("%w: %d %s", ErrRefused, code, orStatus(desc, code))
	}
}

func orStatus(desc string, code int) string {
	if desc != "" {
		return desc
	}
	return http.StatusText(code)
}

// redacted stands for the token in an error.
const redacted = "<bot-token>"

// redact returns err with the token taken out: a *url.Error (which
// net/http returns, with the whole address) keeps its kind and inner
// error, so errors.Is still finds a timeout.
func redact(err error, token string) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return &url.Error{Op: ue.Op, URL: strings.ReplaceAll(ue.URL, token, redacted), Err: redact(ue.Err, token)}
	}
	if strings.Contains(err.Error(), token) {
		return errors.New(strings.ReplaceAll(err.Error(), token, redacted))
	}
	return err
}

// reserve waits for one of the minute's MaxPerMinute slots and takes it.
func (t *Telegram) reserve(ctx context.Context) error {
	for {
		t.mu.Lock()
		now := t.Now()
		keep := t.sent[:0]
		for _, s := range t.sent {
			if now.Sub(s) < time.Minute {
				keep = append(keep, s)
			}
		}
		t.sent = keep
		if len(t.sent) < MaxPerMinute {
			t.sent = append(t.sent, now)
			t.mu.Unlock()
			return nil
		}
		wait := time.Minute - now.Sub(t.sent[0])
		t.mu.Unlock()
		if err := t.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("more than %d Telegram messages a minute: %w", MaxPerMinute, err)
		}
	}
}

// clip cuts text to the Bot API's limit.
func clip(text string) string {
	if utf8.RuneCountInString(text) <= maxText {
		return text
	}
	r := []rune(text)
	return string(r[:maxText-1]) + "…"
}
