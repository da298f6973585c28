package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// Settings are the user's settings the engine enforces. They are stored
// as one JSON value (SettingApp); SettingAlertGPUTempC and
// SettingUpdateFeedURL are written in step with it for older versions of
// the app, but the engine and the CLI read them only while SettingApp is
// not stored yet.
type Settings struct {
	// GPUTempLimitC is the GPU temperature alert limit in °C (40–120).
	GPUTempLimitC int `json:"gpu_temp_limit_c"`
	// PauseAboveC pauses the workers while a GPU is at or above it (°C);
	// 0 turns the automatic pause off.
	PauseAboveC int `json:"pause_above_c"`
	// ResumeBelowC resumes them once every GPU stayed at or below it for
	// a minute; at least ResumeMarginC under PauseAboveC.
	ResumeBelowC int `json:"resume_below_c"`
	// Schedule says when the workers may work; nil is always.
	Schedule *Schedule `json:"schedule,omitempty"`
	// UpdateFeedURL is the release feed's address (a mirror); empty is
	// the project's releases.
	UpdateFeedURL string `json:"update_feed_url,omitempty"`
	// WorkerCoefficient is the worker's price coefficient k (1000 = 1.0×,
	// worker_coefficient of worker.conf): proxies charge clients and pay
	// the worker k/1000 times the base price; a proxy prefers cheaper
	// workers. 0 is the default, DefaultWorkerCoefficient.
	WorkerCoefficient int64 `json:"worker_coefficient,omitempty"`
	// GPUs are the keys (gpu.GPU.Key: a UUID or "pci:" and a bus id) of
	// the GPUs the workers may use; empty is all of them. A key of a GPU
	// not present now is kept (the UI flags it): it may come back.
	GPUs []string `json:"gpus,omitempty"`
	// IdleAfterMin runs the workers only while nobody uses the computer:
	// they pause on input and go on once there was none for this many
	// minutes (1–MaxIdleAfterMin); 0 is off.
	IdleAfterMin int `json:"idle_after_min,omitempty"`
	// PauseWhenGPUBusy pauses the workers while a program other than
	// ours (a game) runs on a GPU in use; they go on a minute after the
	// last one ended.
	PauseWhenGPUBusy bool `json:"pause_when_gpu_busy,omitempty"`
	// PauseAboveW pauses the workers while a GPU in use draws at least
	// this many watts; 0 turns it off.
	PauseAboveW int `json:"pause_above_w,omitempty"`
	// ResumeBelowW resumes them once every GPU in use stayed at or below
	// it for a minute; at least ResumeMarginW under PauseAboveW.
	ResumeBelowW int `json:"resume_below_w,omitempty"`
	// LiteserverConfig is the TON global config (an absolute file path or
	// an http(s) URL) the liteserver check uses; empty is the worker's or
	// the wallet's.
	LiteserverConfig string `json:"liteserver_config,omitempty"`
	// TelegramEnabled sends each alert to the Telegram chat TelegramChatID
	// too, through the bot whose token SetTelegramToken stored.
	TelegramEnabled bool `json:"telegram_enabled,omitempty"`
	// TelegramChatID is the chat the alerts go to: a number (negative for
	// a group) or @ and a public channel's name.
	TelegramChatID string `json:"telegram_chat_id,omitempty"`
	// TelegramTokenSet says whether a bot token is stored. Settings fills
	// it in; SetSettings ignores it, and it is never stored with the
	// settings: the token itself is sealed on its own (secrets.go) and
	// never leaves the engine.
	TelegramTokenSet bool `json:"-"`
}

// Schedule is a weekly working time, in local time.
type Schedule struct {
	// Days are the days the working time starts on; Sunday is 0.
	Days [7]bool `json:"days"`
	// From and To are "HH:MM". To before From runs over midnight into the
	// next day.
	From string `json:"from"`
	To   string `json:"to"`
}

// Settings keys and limits.
const (
	// SettingApp holds Settings as JSON.
	SettingApp = "app.settings"
	// SettingUpdateFeedURL is the release feed's address, kept in step
	// with Settings.UpdateFeedURL.
	SettingUpdateFeedURL = "update.feed_url"
	// ResumeMarginC is the least gap between PauseAboveC and ResumeBelowC.
	ResumeMarginC = 3
	minTempC      = 40
	maxTempC      = 120
	minResumeC    = 20
	// ResumeMarginW is the least gap between PauseAboveW and ResumeBelowW.
	ResumeMarginW = 10
	minPowerW     = 10
	maxPowerW     = 5000
	// MaxIdleAfterMin is the longest idle time Settings.IdleAfterMin takes
	// (a day).
	MaxIdleAfterMin = 24 * 60
)

// ErrInvalidSettings is wrapped by the errors of Settings.Validate.
var ErrInvalidSettings = errors.New("invalid settings")

// settingsError is a validation error: its text is the sentence alone,
// and it matches ErrInvalidSettings.
type settingsError struct{ msg string }

func (e *settingsError) Error() string        { return e.msg }
func (e *settingsError) Is(target error) bool { return target == ErrInvalidSettings }

func invalidf(format string, args ...any) error {
	return &settingsError{msg: fmt.Sprintf(format, args...)}
}

// DefaultSettings are the settings before the user changed any.
func DefaultSettings() Settings {
	return Settings{GPUTempLimitC: DefaultGPUTempLimitC}
}

// Coefficient is the price coefficient in force: WorkerCoefficient, or
// the default when it is 0.
func (s Settings) Coefficient() int64 {
	if s.WorkerCoefficient == 0 {
		return worker.DefaultWorkerCoefficient
	}
	return s.WorkerCoefficient
}

// Validate says what is wrong with s, in a sentence for the user.
func (s Settings) Validate() error {
	if s.GPUTempLimitC < minTempC || s.GPUTempLimitC > maxTempC {
		return invalidf("the GPU temperature alert limit must be %d to %d °C, not %d", minTempC, maxTempC, s.GPUTempLimitC)
	}
	if s.PauseAboveC != 0 {
		if s.PauseAboveC < minTempC || s.PauseAboveC > maxTempC {
			return invalidf("pause above must be %d to %d °C (or off), not %d", minTempC, maxTempC, s.PauseAboveC)
		}
		if s.ResumeBelowC < minResumeC {
			return invalidf("resume below must be at least %d °C, not %d", minResumeC, s.ResumeBelowC)
		}
		if s.ResumeBelowC > s.PauseAboveC-ResumeMarginC {
			return invalidf("resume below must be at least %d °C under pause above (%d °C), not %d", ResumeMarginC, s.PauseAboveC, s.ResumeBelowC)
		}
	}
	if sc := s.Schedule; sc != nil {
		if sc.Days == [7]bool{} {
			return invalidf("the schedule needs at least one day (or no schedule: always work)")
		}
		from, err := parseClock(sc.From)
		if err != nil {
			return invalidf("schedule from: %v", err)
		}
		to, err := parseClock(sc.To)
		if err != nil {
			return invalidf("schedule to: %v", err)
		}
		if from == to {
			return invalidf("the schedule's from and to are both %s; for all day, leave the schedule off", sc.From)
		}
	}
	if k := s.WorkerCoefficient; k < 0 || k >= worker.MaxWorkerCoefficient {
		return invalidf("the price coefficient must be above 0 and below %d (1000 = 1.0×), not %d", worker.MaxWorkerCoefficient, k)
	}
	if u := strings.TrimSpace(s.UpdateFeedURL); u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return invalidf("the update feed URL %q must be an address such as https://example.org/releases.json", u)
		}
	}
	return s.validateAdded()
}

// validateAdded checks the GPU choice, the idle, busy and power pauses
// and the liteserver config.
func (s Settings) validateAdded() error {
	seen := make(map[string]bool, len(s.GPUs))
	for _, k := range s.GPUs {
		switch {
		case strings.TrimSpace(k) == "" || strings.TrimSpace(k) != k:
			return invalidf("a GPU to use is given as %q; give its UUID or pci: and its bus id, such as pci:0000:17:00.0", k)
		case seen[k]:
			return invalidf("the GPU %s is listed twice among the GPUs to use", k)
		}
		seen[k] = true
	}
	if m := s.IdleAfterMin; m < 0 || m > MaxIdleAfterMin {
		return invalidf("the idle time must be 1 to %d minutes (or off), not %d", MaxIdleAfterMin, m)
	}
	if s.PauseAboveW != 0 {
		if s.PauseAboveW < minPowerW || s.PauseAboveW > maxPowerW {
			return invalidf("the power limit to pause above must be %d to %d W (or off), not %d", minPowerW, maxPowerW, s.PauseAboveW)
		}
		if s.ResumeBelowW < minPowerW {
			return invalidf("the power to resume below must be at least %d W, not %d", minPowerW, s.ResumeBelowW)
		}
		if s.ResumeBelowW > s.PauseAboveW-ResumeMarginW {
			return invalidf("the power to resume below must be at least %d W under the power limit (%d W), not %d", ResumeMarginW, s.PauseAboveW, s.ResumeBelowW)
		}
	} else if s.ResumeBelowW != 0 {
		return invalidf("the power to resume below is %d W, but the power limit is off; set both or neither", s.ResumeBelowW)
	}
	if c := strings.TrimSpace(s.LiteserverConfig); c != "" {
		if strings.Contains(c, "://") {
			p, err := url.Parse(c)
			if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
				return invalidf("the TON config %q must be a file path or an address such as https://ton.org/global.config.json", c)
			}
		} else if !strings.HasPrefix(c, "/") && !filepath.IsAbs(c) {
			return invalidf("the TON config file %q must be an absolute path, such as /etc/ton/global.config.json", c)
		}
	}
	return s.validateTelegram()
}

// validateTelegram checks the Telegram chat id.
func (s Settings) validateTelegram() error {
	id := s.TelegramChatID
	switch {
	case id == "" && s.TelegramEnabled:
		return invalidf("Telegram alerts need the chat id to send them to")
	case id == "":
		return nil
	case strings.TrimSpace(id) != id:
		return invalidf("the Telegram chat id %q has spaces around it", id)
	case !telegramChatID.MatchString(id):
		return invalidf("the Telegram chat id %q must be a number such as 123456789 (-100… for a group) or @ and a channel's name", id)
	}
	return nil
}

// telegramChatID matches a chat id: a number, or a public channel's
// @name.
var telegramChatID = regexp.MustCompile(`^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$`)

// UsesGPU reports whether the workers may use the GPU with this key
// (gpu.GPU.Key): any GPU when GPUs is empty.
func (s Settings) UsesGPU(key string) bool {
	return len(s.GPUs) == 0 || slices.Contains(s.GPUs, key)
}

// parseClock reads "HH:MM" as minutes after midnight.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%q is not a time of day such as 08:00 or 22:30", s)
	}
	return hh*60 + mm, nil
}

// Inside reports whether t (in its own location) is in the working time.
// A time from To onwards is outside; a working time over midnight belongs
// to the day it starts on.
func (sc Schedule) Inside(t time.Time) bool {
	from, err1 := parseClock(sc.From)
	to, err2 := parseClock(sc.To)
	if err1 != nil || err2 != nil {
		return true // Validate refuses these; never pause on a broken schedule
	}
	now := t.Hour()*60 + t.Minute()
	day := int(t.Weekday())
	if from < to {
		return sc.Days[day] && now >= from && now < to
	}
	// Over midnight: the evening of a working day, or the morning after one.
	return (sc.Days[day] && now >= from) || (sc.Days[(day+6)%7] && now < to)
}

// ReadSettings returns the stored settings: SettingApp, or before it was
// first written the defaults with the older single settings read in.
func ReadSettings(ctx context.Context, st *store.Store) (Settings, error) {
	v, ok, err := st.Setting(ctx, SettingApp)
	if err != nil {
		return Settings{}, err
	}
	if ok && strings.TrimSpace(v) != "" {
		s := DefaultSettings()
		if err := json.Unmarshal([]byte(v), &s); err != nil {
			return Settings{}, fmt.Errorf("the stored settings are not readable (%v); save them again in the Settings tab", err)
		}
		return s, nil
	}
	s := DefaultSettings()
	if v, ok, err := st.Setting(ctx, SettingAlertGPUTempC); err != nil {
		return Settings{}, err
	} else if c, cerr := strconv.Atoi(strings.TrimSpace(v)); ok && cerr == nil && c >= minTempC && c <= maxTempC {
		s.GPUTempLimitC = c
	}
	if v, ok, err := st.Setting(ctx, SettingUpdateFeedURL); err != nil {
		return Settings{}, err
	} else if ok {
		s.UpdateFeedURL = strings.TrimSpace(v)
	}
	return s, nil
}

// WriteSettings validates s and stores it, with the older single
// settings in step, in one transaction.
func WriteSettings(ctx context.Context, st *store.Store, s Settings) error {
	s.UpdateFeedURL = strings.TrimSpace(s.UpdateFeedURL)
	s.LiteserverConfig = strings.TrimSpace(s.LiteserverConfig)
	s.TelegramChatID = strings.TrimSpace(s.TelegramChatID)
	s.TelegramTokenSet = false
	if err := s.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return st.SetSettings(ctx, map[string]string{
		SettingApp:           string(b),
		SettingAlertGPUTempC: strconv.Itoa(s.GPUTempLimitC),
		SettingUpdateFeedURL: s.UpdateFeedURL,
	})
}

// Settings implements API.
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	db := s.currentStore()
	if db == nil {
		return Settings{}, errNoStore
	}
	set, err := ReadSettings(ctx, db)
	if err != nil {
		return set, err
	}
	set.TelegramTokenSet, err = telegramTokenStored(ctx, db)
	return set, err
}

// SetSettings implements API: it stores the settings and applies them at
// once (the alert limit; the automatic pause at the next sample).
func (s *Service) SetSettings(ctx context.Context, set Settings) error {
	set.TelegramChatID = strings.TrimSpace(set.TelegramChatID)
	set.TelegramTokenSet = false
	if err := set.Validate(); err != nil {
		return err
	}
	db := s.currentStore()
	if db == nil {
		return errNoStore
	}
	if err := WriteSettings(ctx, db, set); err != nil {
		return err
	}
	s.applySettings(set)
	s.recordEvent("settings.changed", "settings saved", nil)
	return nil
}

// applySettings makes set the settings in force.
func (s *Service) applySettings(set Settings) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settings = set
	s.alerts.gpuLimitC = set.GPUTempLimitC
}

// currentSettings are the settings in force.
func (s *Service) currentSettings() Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settings
}
