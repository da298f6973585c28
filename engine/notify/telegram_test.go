package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

// fakeBot is a Bot API that answers from a list, one answer a request
// (the last one repeated), and keeps what it was sent.
type fakeBot struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter)
	got     []map[string]any
	paths   []string
}

func (f *fakeBot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	f.mu.Lock()
	f.got = append(f.got, m)
	f.paths = append(f.paths, r.Method+" "+r.URL.Path)
	a := f.answers[min(len(f.got), len(f.answers))-1]
	f.mu.Unlock()
	a(w)
}

func answer(status int, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

var okAnswer = answer(200, `{"ok":true,"result":{"message_id":1}}`)

// newTestSender returns a sender for srv whose sleeps are recorded, not
// waited, and whose log goes to logBuf.
func newTestSender(srv *httptest.Server, logBuf *bytes.Buffer) (*Telegram, *[]time.Duration) {
	t := NewTelegram(slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.BaseURL = srv.URL
	t.Client = srv.Client()
	var slept []time.Duration
	var mu sync.Mutex
	t.Sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		slept = append(slept, d)
		mu.Unlock()
		return ctx.Err()
	}
	return t, &slept
}

func TestTelegramSendsMessage(t *testing.T) {
	bot := &fakeBot{answers: []func(http.ResponseWriter){okAnswer}}
	srv := httptest.NewServer(bot)
	defer srv.Close()
	var logBuf bytes.Buffer
	s, slept := newTestSender(srv, &logBuf)
	if err := s.Send(context.Background(), testToken, "-1001234567890", "GPU too hot: 91 °C\nGPU 0 is at 91 °C"); err != nil {
		t.Fatal(err)
	}
	if len(bot.got) != 1 || len(*slept) != 0 {
		t.Fatalf("%d requests, slept %v", len(bot.got), *slept)
	}
	if want := "POST /bot" + testToken + "/sendMessage"; bot.paths[0] != want {
		t.Errorf("request %q, want %q", bot.paths[0], want)
	}
	if bot.got[0]["chat_id"] != "-1001234567890" || bot.got[0]["text"] != "GPU too hot: 91 °C\nGPU 0 is at 91 °C" {
		t.Errorf("message %v", bot.got[0])
	}
}

func TestTelegramHonoursRetryAfter(t *testing.T) {
	bot := &fakeBot{answers: []func(http.ResponseWriter){
		answer(429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}`),
		okAnswer,
	}}
	srv := httptest.NewServer(bot)
	defer srv.Close()
	var logBuf bytes.Buffer
	s, slept := newTestSender(srv, &logBuf)
	if err := s.Send(context.Background(), testToken, "42", "hello"); err != nil {
		t.Fatal(err)
	}
	if len(bot.got) != 2 || len(*slept) != 1 || (*slept)[0] != 7*time.Second {
		t.Fatalf("%d requests, slept %v; want 2 and [7s]", len(bot.got), *slept)
	}
}

func TestTelegramRetries5xxWithBackoff(t *testing.T) {
	bot := &fakeBot{answers: []func(http.ResponseWriter){answer(502, `bad gateway`), answer(500, `{"ok":false}`), okAnswer}}
	srv := httptest.NewServer(bot)
	defer srv.Close()
	var logBuf bytes.Buffer
	s, slept := newTestSender(srv, &logBuf)
	if err := s.Send(context.Background(), testToken, "42", "hello"); err != nil {
		t.Fatal(err)
	}
	if len(bot.got) != 3 || len(*slept) != 2 || (*slept)[0] != time.Second || (*slept)[1] != 2*time.Second {
		t.Fatalf("%d requests, slept %v", len(bot.got), *slept)
	}

	// Failing for good: DefaultAttempts tries, then ErrUnavailable.
	bot2 := &fakeBot{answers: []func(http.ResponseWriter){answer(503, `{"ok":false,"description":"Service Unavailable"}`)}}
	srv2 := httptest.NewServer(bot2)
	defer srv2.Close()
	s2, _ := newTestSender(srv2, &logBuf)
	err := s2.Send(context.Background(), testToken, "42", "hello")
	if !errors.Is(err, ErrUnavailable) || len(bot2.got) != DefaultAttempts {
		t.Fatalf("err %v after %d requests", err, len(bot2.got))
	}
	if strings.Contains(err.Error(), testToken) || strings.Contains(logBuf.String(), testToken) {
		t.Errorf("the token leaked: %v / %s", err, logBuf.String())
	}
}

func TestTelegramRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   error
		text   string
	}{
		{"401", 401, `{"ok":false,"error_code":401,"description":"Unauthorized"}`, ErrBotTokenRefused,
			"the bot token was refused: check it with @BotFather"},
		{"chat not found", 400, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`, ErrChatNotFound,
			"chat not found: send /start to the bot from that chat first"},
		{"other 400", 400, `{"ok":false,"error_code":400,"description":"Bad Request: message text is empty"}`, ErrRefused,
			"Telegram refused the message: 400 Bad Request: message text is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bot := &fakeBot{answers: []func(http.ResponseWriter){answer(tc.status, tc.body)}}
			srv := httptest.NewServer(bot)
			defer srv.Close()
			var logBuf bytes.Buffer
			s, slept := newTestSender(srv, &logBuf)
			err := s.Send(context.Background(), testToken, "42", "hello")
			if !errors.Is(err, tc.want) || err.Error() != tc.text {
				t.Fatalf("err %v, want %q", err, tc.text)
			}
			if len(bot.got) != 1 || len(*slept) != 0 {
				t.Errorf("a refusal was retried: %d requests, slept %v", len(bot.got), *slept)
			}
		})
	}
}

// TestTelegramTokenNotInErrors: net/http's errors quote the address,
// which holds the token.
func TestTelegramTokenNotInErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Close() // nothing listens: every attempt is a connection error
	var logBuf bytes.Buffer
	s, slept := newTestSender(srv, &logBuf)
	s.Client = &http.Client{}
	err := s.Send(context.Background(), testToken, "42", "hello")
	if err == nil || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw") {
		t.Errorf("the token is in the error: %v", err)
	}
	if !strings.Contains(err.Error(), "bot<bot-token>/sendMessage") {
		t.Errorf("the error does not say which address failed: %v", err)
	}
	if len(*slept) != DefaultAttempts-1 || logBuf.Len() == 0 || strings.Contains(logBuf.String(), testToken) {
		t.Errorf("slept %v; log %s", *slept, logBuf.String())
	}

	// A timeout stays a timeout once redacted.
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)
	s2, _ := newTestSender(slow, &logBuf)
	s2.Timeout, s2.Attempts = 50*time.Millisecond, 1
	err = s2.Send(context.Background(), testToken, "42", "hello")
	if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), testToken) {
		t.Errorf("err %v", err)
	}
}

func TestTelegramRateLimit(t *testing.T) {
	bot := &fakeBot{answers: []func(http.ResponseWriter){okAnswer}}
	srv := httptest.NewServer(bot)
	defer srv.Close()
	var logBuf bytes.Buffer
	s, _ := newTestSender(srv, &logBuf)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	var waits []time.Duration
	s.Sleep = func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		now = now.Add(d)
		return nil
	}
	for i := range MaxPerMinute + 1 {
		if i == 5 {
			now = now.Add(10 * time.Second)
		}
		if err := s.Send(context.Background(), testToken, "42", "hello"); err != nil {
			t.Fatal(err)
		}
	}
	if len(waits) != 1 || waits[0] != 50*time.Second {
		t.Fatalf("waits %v; want one of 50s (a minute after the first message)", waits)
	}

	// A context that ends while waiting for a slot fails the message.
	s.Sleep = func(ctx context.Context, d time.Duration) error { return context.Canceled }
	for range MaxPerMinute {
		_ = s.Send(context.Background(), testToken, "42", "hello")
	}
	if err := s.Send(context.Background(), testToken, "42", "hello"); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}

func TestTelegramClipsLongText(t *testing.T) {
	if got := clip(strings.Repeat("é", maxText+10)); len([]rune(got)) != maxText || !strings.HasSuffix(got, "…") {
		t.Errorf("clip: %d characters", len([]rune(got)))
	}
}
