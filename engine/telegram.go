package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/notify"
)

// Telegram alerts: with Settings.TelegramEnabled each alert the engine
// publishes (not the Clear ones, which are no notification either) goes
// to the chat Settings.TelegramChatID too, through the bot whose token
// SetTelegramToken sealed into the database (secrets.go). The alert rules
// already limit how often each alert goes out (alertRepeatAfter); the
// sender adds a limit over all messages (notify.MaxPerMinute).
const (
	// telegramQueueSize bounds the alerts waiting to be sent; when it is
	// full the oldest is dropped.
	telegramQueueSize = 32
	// telegramSendTimeout bounds one alert's sending, retries included.
	telegramSendTimeout = 3 * time.Minute
)

// ErrInvalidTelegramToken: what SetTelegramToken got is no bot token. It
// matches ErrInvalidSettings.
var ErrInvalidTelegramToken error = &settingsError{msg: "that is not a Telegram bot token: @BotFather gives one such as 123456789:AAH…, digits, a colon and about 35 letters, digits, - and _"}

// telegramTokenPattern matches a bot token.
var telegramTokenPattern = regexp.MustCompile(`^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$`)

// CheckTelegramToken says whether token looks like a bot token
// (ErrInvalidTelegramToken when not); it never quotes the token.
func CheckTelegramToken(token string) error {
	if !telegramTokenPattern.MatchString(token) {
		return ErrInvalidTelegramToken
	}
	return nil
}

// telegramForwarder sends alerts to Telegram off the engine's lock: a
// bounded queue drained by one goroutine, started when an alert is queued
// and ending once the queue is empty.
type telegramForwarder struct {
	sender *notify.Telegram

	mu      sync.Mutex
	queue   []Alert
	running bool
	drained chan struct{} // closed when the running drain ends (tests)
	// token caches the stored token once read (tokenRead); SetTelegramToken
	// resets it.
	token     string
	tokenRead bool
	// warned is the last error logged about the token, so that a broken
	// setup is reported once rather than with every alert.
	warned string
}

func newTelegramForwarder(s *Service) *telegramForwarder {
	return &telegramForwarder{sender: notify.NewTelegram(s.log.With("component", "telegram"))}
}

// forwarder returns the Service's Telegram forwarder, made on first use.
func (s *Service) forwarder() *telegramForwarder {
	s.telegramOnce.Do(func() { s.telegram = newTelegramForwarder(s) })
	return s.telegram
}

// forwardAlertLocked queues a for Telegram when the settings say so; s.mu
// is held, so it only queues.
func (s *Service) forwardAlertLocked(a Alert) {
	if a.Clear || !s.settings.TelegramEnabled || s.settings.TelegramChatID == "" {
		return
	}
	f := s.forwarder()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) >= telegramQueueSize {
		s.log.Warn("Telegram alert queue full; dropping the oldest alert", "kind", string(f.queue[0].Kind), "title", f.queue[0].Title)
		f.queue = f.queue[1:]
	}
	f.queue = append(f.queue, a)
	if !f.running {
		f.running = true
		f.drained = make(chan struct{})
		go s.drainTelegram(f, f.drained)
	}
}

// drainTelegram sends the queued alerts in order until none is left.
func (s *Service) drainTelegram(f *telegramForwarder, done chan struct{}) {
	defer close(done)
	for {
		f.mu.Lock()
		if len(f.queue) == 0 {
			f.running = false
			f.mu.Unlock()
			return
		}
		a := f.queue[0]
		f.queue = f.queue[1:]
		f.mu.Unlock()

		set := s.currentSettings()
		if !set.TelegramEnabled || set.TelegramChatID == "" {
			continue // turned off meanwhile
		}
		ctx, cancel := context.WithTimeout(context.Background(), telegramSendTimeout)
		err := s.sendTelegram(ctx, f, set.TelegramChatID, telegramText(a))
		cancel()
		if err != nil {
			f.mu.Lock()
			repeat := err.Error() == f.warned
			f.warned = err.Error()
			f.mu.Unlock()
			if !repeat {
				s.log.Warn("Telegram alert not sent", "kind", string(a.Kind), "error", err.Error())
			}
			continue
		}
		f.mu.Lock()
		f.warned = ""
		f.mu.Unlock()
	}
}

// sendTelegram sends text to chatID with the stored token.
func (s *Service) sendTelegram(ctx context.Context, f *telegramForwarder, chatID, text string) error {
	token, err := s.telegramToken(ctx, f)
	if err != nil {
		return err
	}
	return f.sender.Send(ctx, token, chatID, text)
}

// telegramToken returns the stored token, read once.
func (s *Service) telegramToken(ctx context.Context, f *telegramForwarder) (string, error) {
	f.mu.Lock()
	if f.tokenRead {
		defer f.mu.Unlock()
		if f.token == "" {
			return "", errNoTelegramToken
		}
		return f.token, nil
	}
	f.mu.Unlock()
	db := s.currentStore()
	if db == nil {
		return "", errNoStore
	}
	token, err := readTelegramToken(ctx, db, s.opts.DataDir)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.token, f.tokenRead = token, true
	if token == "" {
		return "", errNoTelegramToken
	}
	return token, nil
}

// errNoTelegramToken: alerts are to go to Telegram, but no token is
// stored.
var errNoTelegramToken error = &settingsError{msg: "no Telegram bot token is stored: enter the one @BotFather gave you"}

// telegramText is an alert as a Telegram message, with the machine it
// comes from (a user may run several).
func telegramText(a Alert) string {
	text := "⚠ " + a.Title + "\n" + a.Body
	if h, err := os.Hostname(); err == nil && h != "" {
		text += "\n— Cocoon Provider on " + h
	}
	return text
}

// SetTelegramToken implements API: it seals token into the database
// (secrets.go); "" removes it. The token is never logged.
func (s *Service) SetTelegramToken(ctx context.Context, token string) error {
	token = strings.TrimSpace(token)
	if token != "" {
		if err := CheckTelegramToken(token); err != nil {
			return err
		}
	}
	db := s.currentStore()
	if db == nil {
		return errNoStore
	}
	if err := storeTelegramToken(ctx, db, s.opts.DataDir, token); err != nil {
		return err
	}
	f := s.forwarder()
	f.mu.Lock()
	f.token, f.tokenRead, f.warned = token, true, ""
	f.mu.Unlock()
	if token == "" {
		s.recordEvent("settings.telegram_token", "Telegram bot token removed", nil)
	} else {
		s.recordEvent("settings.telegram_token", "Telegram bot token stored (encrypted)", nil)
	}
	return nil
}

// TestTelegram implements API: it sends a test message to the stored
// chat with the stored token and says why it failed.
func (s *Service) TestTelegram(ctx context.Context) error {
	db := s.currentStore()
	if db == nil {
		return errNoStore
	}
	set, err := ReadSettings(ctx, db)
	if err != nil {
		return err
	}
	if set.TelegramChatID == "" {
		return invalidf("enter the Telegram chat id and save the settings first")
	}
	f := s.forwarder()
	if err := s.sendTelegram(ctx, f, set.TelegramChatID, telegramTestText()); err != nil {
		if errors.Is(err, notify.ErrUnavailable) {
			return fmt.Errorf("the test message was not sent: %w", err)
		}
		return err // a refusal or a token to enter: the sentence says what to do
	}
	s.recordEvent("alerts.telegram_test", "Telegram test message sent", nil)
	return nil
}

func telegramTestText() string {
	text := "✅ Cocoon Provider test message: alerts will arrive in this chat."
	if h, err := os.Hostname(); err == nil && h != "" {
		text += "\n— Cocoon Provider on " + h
	}
	return text
}
