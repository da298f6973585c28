package engine

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/diag"
	"github.com/cocoon-provider/cocoon-provider/engine/notify"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
)

const tgToken = "987654321:AAFakeTelegramBotTokenCanary_xyz-0123"

// syncBuffer is a log sink the drain goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tgBot is a fake Bot API: it keeps each message's chat and text and
// answers with status and body (200 ok by default); gate, when set, holds
// each answer until it is closed.
type tgBot struct {
	mu       sync.Mutex
	chats    []string
	texts    []string
	status   int
	body     string
	gate     chan struct{}
	received chan struct{}
}

func (b *tgBot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m struct {
		ChatID string `json:"chat_id"`
		Text   string `json:"text"`
	}
	_ = json.NewDecoder(r.Body).Decode(&m)
	b.mu.Lock()
	b.chats = append(b.chats, m.ChatID)
	b.texts = append(b.texts, m.Text)
	status, body, gate, received := b.status, b.body, b.gate, b.received
	b.mu.Unlock()
	if received != nil {
		select {
		case received <- struct{}{}:
		default:
		}
	}
	if gate != nil {
		<-gate
	}
	if status == 0 {
		status, body = 200, `{"ok":true,"result":{}}`
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (b *tgBot) messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.texts...)
}

// newTelegramService returns a Service on a fresh data directory with its
// database open, its Telegram sender pointed at bot, and its log in logs.
func newTelegramService(t *testing.T, bot http.Handler) (*Service, *store.Store, string, *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	logs := &syncBuffer{}
	s := New(Options{Root: t.TempDir(), DataDir: dir, NVML: noNVML(),
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	t.Cleanup(func() { s.Close() })
	db, err := store.Open(context.Background(), filepath.Join(dir, store.DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s.mu.Lock()
	s.store = db
	s.mu.Unlock()
	if bot != nil {
		srv := httptest.NewServer(bot)
		t.Cleanup(srv.Close)
		f := s.forwarder()
		f.sender.BaseURL, f.sender.Client = srv.URL, srv.Client()
		f.sender.Sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	}
	return s, db, dir, logs
}

// waitTelegram waits until the forwarder's queue is drained.
func waitTelegram(t *testing.T, s *Service) {
	t.Helper()
	f := s.forwarder()
	f.mu.Lock()
	done := f.drained
	f.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the Telegram queue was never drained")
	}
}

func publish(s *Service, alerts ...Alert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.publishAlertsLocked(alerts)
}

func TestTelegramTokenSealedAtRest(t *testing.T) {
	ctx := context.Background()
	s, db, dir, logs := newTelegramService(t, nil)

	err := s.SetTelegramToken(ctx, "not a token "+tgToken[:12])
	if !errors.Is(err, ErrInvalidTelegramToken) || !errors.Is(err, ErrInvalidSettings) || strings.Contains(err.Error(), tgToken[:12]) {
		t.Fatalf("SetTelegramToken(bad) = %v", err)
	}
	if err := s.SetTelegramToken(ctx, " "+tgToken+"\n"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, SecretsKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", SecretsKeyFile, fi.Mode().Perm())
	}
	if fi.Size() != 32 {
		t.Errorf("%s holds %d bytes", SecretsKeyFile, fi.Size())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".secrets.key.*")); len(left) != 0 {
		t.Errorf("temporary key files left: %v", left)
	}
	sealed, ok, err := db.Setting(ctx, SettingTelegramTokenSealed)
	if err != nil || !ok || !strings.HasPrefix(sealed, sealedPrefix) || strings.Contains(sealed, tgToken) {
		t.Fatalf("stored %q, %v, %v", sealed, ok, err)
	}
	if v, _, _ := db.Setting(ctx, SettingApp); strings.Contains(v, tgToken) || strings.Contains(v, "token") {
		t.Errorf("the settings JSON holds the token: %s", v)
	}
	got, err := readTelegramToken(ctx, db, dir)
	if err != nil || got != tgToken {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	set, err := s.Settings(ctx)
	if err != nil || !set.TelegramTokenSet {
		t.Fatalf("Settings() = %+v, %v; want the token reported as set", set, err)
	}

	// The database files hold no token, whatever is in the WAL.
	if err := db.SetSetting(ctx, "probe", "x"); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, store.DefaultFileName+"*"))
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(tgToken)) || bytes.Contains(raw, []byte(tgToken[10:])) {
			t.Errorf("%s holds the token in clear", filepath.Base(f))
		}
	}

	// A second token reuses the key; a sealed value moved to another
	// setting does not open.
	key1, _ := os.ReadFile(filepath.Join(dir, SecretsKeyFile))
	if err := s.SetTelegramToken(ctx, tgToken); err != nil {
		t.Fatal(err)
	}
	key2, _ := os.ReadFile(filepath.Join(dir, SecretsKeyFile))
	if !bytes.Equal(key1, key2) {
		t.Error("the secrets key was replaced")
	}
	if _, err := openSecret(key1, "other.setting", sealed); !errors.Is(err, ErrSecretUnreadable) {
		t.Errorf("opened under another name: %v", err)
	}

	if strings.Contains(logs.String(), tgToken) {
		t.Errorf("the log holds the token: %s", logs.String())
	}
	evs, err := db.Events(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	{
		for _, e := range evs {
			if strings.Contains(e.Message, tgToken) || strings.Contains(string(e.Attrs), tgToken) {
				t.Errorf("event %q holds the token", e.Message)
			}
		}
	}

	// Removing it.
	if err := s.SetTelegramToken(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if set, _ := s.Settings(ctx); set.TelegramTokenSet {
		t.Error("a removed token is reported as set")
	}
	if got, err := readTelegramToken(ctx, db, dir); got != "" || err != nil {
		t.Errorf("after removal: %q, %v", got, err)
	}
}

func TestTelegramTokenWrongKey(t *testing.T) {
	ctx := context.Background()
	s, db, dir, _ := newTelegramService(t, nil)
	if err := s.SetTelegramToken(ctx, tgToken); err != nil {
		t.Fatal(err)
	}
	other := make([]byte, 32)
	_, _ = rand.Read(other)
	path := filepath.Join(dir, SecretsKeyFile)
	if err := os.WriteFile(path, other, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := readTelegramToken(ctx, db, dir)
	const want = "the stored Telegram token cannot be decrypted (secrets.key changed?): enter it again"
	if !errors.Is(err, ErrSecretUnreadable) || err.Error() != want {
		t.Fatalf("wrong key: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := readTelegramToken(ctx, db, dir); !errors.Is(err, ErrSecretUnreadable) {
		t.Fatalf("no key: %v", err)
	}
	if runtime.GOOS != "windows" {
		if err := os.WriteFile(path, other, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readTelegramToken(ctx, db, dir); !errors.Is(err, ErrSecretUnreadable) || !strings.Contains(err.Error(), "0600") {
			t.Fatalf("readable key: %v", err)
		}
	}
	// Entering it again works once the key is sound.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTelegramToken(ctx, tgToken); err != nil {
		t.Fatal(err)
	}
	if got, err := readTelegramToken(ctx, db, dir); got != tgToken || err != nil {
		t.Fatalf("entered again: %q, %v", got, err)
	}
}

func TestTelegramForwardsAlerts(t *testing.T) {
	ctx := context.Background()
	bot := &tgBot{}
	s, _, _, logs := newTelegramService(t, bot)
	hot := Alert{Kind: AlertGPUHot, Instance: NoInstance, Title: "GPU too hot: 91 °C", Body: "GPU 0 (H100) is at 91 °C."}

	// Off: nothing goes out.
	publish(s, hot)
	waitTelegram(t, s)
	if n := len(bot.messages()); n != 0 {
		t.Fatalf("%d messages with Telegram off", n)
	}

	if err := s.SetTelegramToken(ctx, tgToken); err != nil {
		t.Fatal(err)
	}
	set := DefaultSettings()
	set.TelegramEnabled, set.TelegramChatID = true, "-1001234567890"
	if err := s.SetSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	publish(s, hot, Alert{Kind: AlertWorkerDown, Clear: true, Title: "Worker running again", Body: "It runs."})
	waitTelegram(t, s)
	msgs := bot.messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0], hot.Title+"\n"+hot.Body) || bot.chats[0] != "-1001234567890" {
		t.Fatalf("messages %q to %v; want the hot GPU alert alone", msgs, bot.chats)
	}

	// A refused token: logged once, without the token.
	bot.mu.Lock()
	bot.status, bot.body = 401, `{"ok":false,"error_code":401,"description":"Unauthorized"}`
	bot.mu.Unlock()
	publish(s, hot)
	waitTelegram(t, s)
	publish(s, hot)
	waitTelegram(t, s)
	out := logs.String()
	if strings.Count(out, "the bot token was refused: check it with @BotFather") != 1 {
		t.Errorf("want the refusal logged once:\n%s", out)
	}
	if strings.Contains(out, tgToken) || strings.Contains(out, tgToken[10:]) {
		t.Errorf("the log holds the token:\n%s", out)
	}
}

func TestTelegramQueueDropsOldest(t *testing.T) {
	ctx := context.Background()
	bot := &tgBot{gate: make(chan struct{}), received: make(chan struct{}, 1)}
	s, _, _, logs := newTelegramService(t, bot)
	if err := s.SetTelegramToken(ctx, tgToken); err != nil {
		t.Fatal(err)
	}
	set := DefaultSettings()
	set.TelegramEnabled, set.TelegramChatID = true, "42"
	if err := s.SetSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	var minutes atomic.Int64 // each message a minute later: no rate limit wait
	s.forwarder().sender.Now = func() time.Time { return time.Unix(minutes.Add(1)*60, 0) }
	publish(s, Alert{Kind: AlertPayout, Title: "first", Body: "in flight"})
	select {
	case <-bot.received:
	case <-time.After(10 * time.Second):
		t.Fatal("the first alert never reached the bot")
	}
	for i := range telegramQueueSize + 1 {
		publish(s, Alert{Kind: AlertPayout, Title: "queued", Body: string(rune('A' + i))})
	}
	close(bot.gate)
	waitTelegram(t, s)
	msgs := bot.messages()
	if len(msgs) != telegramQueueSize+1 {
		t.Fatalf("%d messages, want %d", len(msgs), telegramQueueSize+1)
	}
	if !strings.Contains(msgs[1], "queued\nB") {
		t.Errorf("the oldest queued alert was not the one dropped: %q", msgs[1])
	}
	if !strings.Contains(logs.String(), "Telegram alert queue full; dropping the oldest alert") {
		t.Errorf("no log line for the dropped alert:\n%s", logs.String())
	}
}

func TestTestTelegram(t *testing.T) {
	ctx := context.Background()
	bot := &tgBot{}
	s, _, _, _ := newTelegramService(t, bot)
	if err := s.TestTelegram(ctx); !errors.Is(err, ErrInvalidSettings) {
		t.Fatalf("no chat id: %v", err)
	}
	set := DefaultSettings()
	set.TelegramChatID = "@my_alerts"
	if err := s.SetSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	if err := s.TestTelegram(ctx); !errors.Is(err, ErrInvalidSettings) || !strings.Contains(err.Error(), "no Telegram bot token") {
		t.Fatalf("no token: %v", err)
	}
	if err := s.SetTelegramToken(ctx, tgToken); err != nil {
		t.Fatal(err)
	}
	if err := s.TestTelegram(ctx); err != nil {
		t.Fatal(err)
	}
	if msgs := bot.messages(); len(msgs) != 1 || !strings.Contains(msgs[0], "test message") || bot.chats[0] != "@my_alerts" {
		t.Fatalf("messages %q to %v", msgs, bot.chats)
	}
	bot.mu.Lock()
	bot.status, bot.body = 400, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`
	bot.mu.Unlock()
	if err := s.TestTelegram(ctx); !errors.Is(err, notify.ErrChatNotFound) ||
		err.Error() != "chat not found: send /start to the bot from that chat first" {
		t.Fatalf("chat not found: %v", err)
	}
}

func TestTelegramSettingsValidate(t *testing.T) {
	for id, ok := range map[string]bool{"": true, "123456789": true, "-1001234567890": true, "@my_channel": true,
		"abc": false, " 42": false, "@ab": false, "42; drop": false} {
		s := DefaultSettings()
		s.TelegramChatID = id
		if err := s.Validate(); (err == nil) != ok {
			t.Errorf("chat id %q: %v", id, err)
		}
	}
	s := DefaultSettings()
	s.TelegramEnabled = true
	if err := s.Validate(); !errors.Is(err, ErrInvalidSettings) {
		t.Errorf("enabled without a chat id: %v", err)
	}
}

// TestDiagBundleHasNoTelegramSecret: neither the token, nor its sealed
// form, nor the key enters a diagnostic bundle.
func TestDiagBundleHasNoTelegramSecret(t *testing.T) {
	ctx := context.Background()
	s, db, dir, _ := newTelegramService(t, nil)
	if err := s.SetTelegramToken(ctx, tgToken); err != nil {
		t.Fatal(err)
	}
	set := DefaultSettings()
	set.TelegramEnabled, set.TelegramChatID = true, "42"
	if err := s.SetSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	sealed, _, _ := db.Setting(ctx, SettingTelegramTokenSealed)
	key, err := os.ReadFile(filepath.Join(dir, SecretsKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := diag.Write(ctx, &buf, diag.Options{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	sawSettings := false
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if strings.HasSuffix(f.Name, SecretsKeyFile) {
			t.Errorf("the bundle holds %s", f.Name)
		}
		for what, secret := range map[string][]byte{"token": []byte(tgToken), "sealed token": []byte(sealed[len(sealedPrefix):]), "key": key} {
			if bytes.Contains(b, secret) {
				t.Errorf("%s holds the %s", f.Name, what)
			}
		}
		if f.Name == "settings.json" {
			sawSettings = true
			if !strings.Contains(string(b), SettingTelegramTokenSealed) {
				t.Errorf("settings.json does not list the (removed) sealed token:\n%s", b)
			}
		}
	}
	if !sawSettings {
		t.Error("no settings.json in the bundle")
	}
}
