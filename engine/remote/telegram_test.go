package remote

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/notify"
)

const botToken = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"

// TestTelegramThroughTheClient: the token is set over the unix socket
// only, read back as "set" alone; the test message goes over either
// transport; the server logs no token.
func TestTelegramThroughTheClient(t *testing.T) {
	var logs bytes.Buffer
	api := newAPI()
	srv := NewServer(api, ServerOptions{Token: testToken, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx := context.Background()

	c := clientOver(t, "unix", srv)
	set := engine.DefaultSettings()
	set.TelegramEnabled, set.TelegramChatID = true, "-1001234567890"
	if err := c.SetSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTelegramToken(ctx, "not a token"); !errors.Is(err, engine.ErrInvalidSettings) {
		t.Fatalf("bad token: %v", err)
	}
	if err := c.SetTelegramToken(ctx, botToken); err != nil {
		t.Fatal(err)
	}
	if api.TelegramToken() != botToken {
		t.Fatalf("the engine holds %q", api.TelegramToken())
	}
	got, err := c.Settings(ctx)
	if err != nil || !got.TelegramTokenSet || !got.TelegramEnabled || got.TelegramChatID != "-1001234567890" {
		t.Fatalf("Settings() = %+v, %v", got, err)
	}
	if err := c.TestTelegram(ctx); err != nil {
		t.Fatalf("TestTelegram: %v", err)
	}
	api.FailTelegram(notify.ErrChatNotFound)
	if err := c.TestTelegram(ctx); !errors.Is(err, notify.ErrChatNotFound) || err.Error() != notify.ErrChatNotFound.Error() {
		t.Errorf("chat not found: %v", err)
	}
	api.FailTelegram(notify.ErrBotTokenRefused)
	if err := c.TestTelegram(ctx); !errors.Is(err, notify.ErrBotTokenRefused) {
		t.Errorf("token refused: %v", err)
	}
	api.FailTelegram(nil)

	// Over TCP: the client does not send it, the server refuses it.
	tcp := clientOver(t, "tcp", srv)
	if err := tcp.SetTelegramToken(ctx, "987654321:AAOtherTokenOtherTokenOtherToken"); !errors.Is(err, ErrSecretLocalOnly) {
		t.Errorf("token over TCP: %v", err)
	}
	if err := tcp.TestTelegram(ctx); err != nil {
		t.Errorf("test message over TCP: %v", err)
	}
	if got, err := tcp.Settings(ctx); err != nil || !got.TelegramTokenSet {
		t.Errorf("Settings() over TCP = %+v, %v", got, err)
	}
	hs, _ := httpServer(t, srv)
	req, _ := http.NewRequest(http.MethodPut, hs.URL+"/v1/telegram/token", strings.NewReader(`{"token":"555:AARawTokenRawTokenRawTokenRaw"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || api.TelegramToken() != botToken {
		t.Errorf("raw token over TCP: status %d, engine holds %q", resp.StatusCode, api.TelegramToken())
	}

	// Removing it.
	if err := c.SetTelegramToken(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Settings(ctx); got.TelegramTokenSet {
		t.Error("a removed token is reported as set")
	}
	for _, secret := range []string{botToken, "AARawTokenRawToken", "AAOtherToken"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the server log holds %q:\n%s", secret, logs.String())
		}
	}
}

// TestTelegramTokenBadBody: a body that is no token request is refused
// without quoting it.
func TestTelegramTokenBadBody(t *testing.T) {
	api := newAPI()
	srv := NewServer(api, ServerOptions{})
	h := srv.Handler(false)
	rec := &recorder{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodPut, "/v1/telegram/token", strings.NewReader(`{"tok":"123:AASecretInTheWrongField"}`))
	h.ServeHTTP(rec, req)
	if rec.status != http.StatusBadRequest || strings.Contains(rec.body.String(), "AASecretInTheWrongField") {
		t.Errorf("status %d, body %s", rec.status, rec.body.String())
	}
}

// recorder is a minimal http.ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(s int) { r.status = s }
