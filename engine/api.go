package engine

import (
	"context"
	"io"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/diag"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
)

// API is everything the app and the CLI may ask of the engine.
type API interface {
	// State is a cheap snapshot of what the engine knows now.
	State() State
	// Subscribe delivers events until ctx ends; then the channel closes.
	// A slow reader misses events rather than blocking the engine.
	Subscribe(ctx context.Context) <-chan Event
	// Check runs the eligibility doctor.
	Check(ctx context.Context) (hostcheck.Report, error)
	// GPUs lists GPUs with fresh telemetry.
	GPUs(ctx context.Context) (gpu.Inventory, error)
	// StartDev boots the stand-in worker (dev mode); StopDev stops it.
	StartDev(ctx context.Context) error
	StopDev(ctx context.Context) error
	// SetPause pauses every worker (nil resumes): proxies send no new
	// requests, the VMs stay up. A timed pause ends by itself, also across
	// a restart of the app.
	SetPause(ctx context.Context, p *Pause) error
	// Payout asks every worker to pay out what is claimable now.
	Payout(ctx context.Context) ([]TargetResult, error)
	// EarningsSeries sums the ledger per stage over buckets of width
	// bucket from since; buckets with no entries are left out.
	EarningsSeries(ctx context.Context, since time.Time, bucket time.Duration) ([]EarningsBucket, error)
	// ExportLedgerCSV writes the ledger entries from since to w as CSV
	// (LedgerCSVHeader), in time order.
	ExportLedgerCSV(ctx context.Context, w io.Writer, since time.Time) error
	// GPUSeries returns one GPU's telemetry over [q.Since, now) for a
	// chart, oldest first, at most MaxSeriesPoints: the last hour at 1 s
	// from the raw samples, longer windows from the per-minute rollups.
	// A GPU never recorded is ErrUnknownGPU; a bad query ErrBadSeriesQuery.
	GPUSeries(ctx context.Context, q GPUSeriesQuery) ([]GPUPoint, error)
	// ActivitySeries returns one worker instance's requests/s, tokens/s,
	// success rate and concurrency over [since, now) in buckets of width
	// bucket (zero picks one), oldest first, at most MaxSeriesPoints.
	ActivitySeries(ctx context.Context, instance int, since time.Time, bucket time.Duration) ([]ActivityPoint, error)
	// Logs returns the newest lines of the app's log or of a worker VM's
	// console that match q, redacted: keys, recovery phrases and tokens
	// never leave the engine, TON addresses do (they are the user's own).
	Logs(ctx context.Context, q LogQuery) (LogPage, error)
	// DiagBundle writes a redacted diagnostic bundle (a zip) to w and says
	// what it holds; TON addresses are replaced unless includeAddresses.
	DiagBundle(ctx context.Context, w io.Writer, includeAddresses bool) (diag.Manifest, error)
	// Settings returns the stored settings (DefaultSettings before any
	// were saved).
	Settings(ctx context.Context) (Settings, error)
	// SetSettings validates and stores the settings and applies them at
	// once: the GPU alert limit, the automatic pause and the schedule. An
	// invalid value is an error matching ErrInvalidSettings.
	SetSettings(ctx context.Context, s Settings) error
	// Wallet describes the wallet setup, without secrets: where earnings
	// go, the node key and the cocoon wallet.
	Wallet(ctx context.Context) (WalletInfo, error)
	// WalletSetup sets where earnings go (an address, a new wallet or
	// imported words), makes the node wallet key when there is none, and
	// keeps the secrets in the encrypted keystore. A mistake the user can
	// correct is an error matching ErrInvalidWalletSetup. The request's
	// secrets are never logged; a created wallet's words are in the
	// result, once.
	WalletSetup(ctx context.Context, req WalletSetupRequest) (WalletSetupResult, error)
	// SetTelegramToken stores the Telegram bot token that alerts are sent
	// with, encrypted (see SecretsKeyFile); "" removes it. It is write-only:
	// Settings says only whether one is stored (TelegramTokenSet). A
	// string that is no bot token is ErrInvalidTelegramToken. The token is
	// never logged.
	SetTelegramToken(ctx context.Context, token string) error
	// TestTelegram sends a test message to the chat of the stored settings
	// with the stored token. A refusal is an error saying what to fix
	// (notify.ErrBotTokenRefused, notify.ErrChatNotFound).
	TestTelegram(ctx context.Context) error
}

// Mode is how the worker is run.
type Mode string

// The three modes. Dev mode is the default: it runs on any Linux machine.
const (
	ModeProduction Mode = "production"
	ModeTest       Mode = "test"
	ModeDev        Mode = "dev"
)

// State is an immutable snapshot; slices in it are never modified afterwards.
type State struct {
	Mode    Mode
	DataDir string
	// Report is the last doctor report (nil before the first check).
	Report *hostcheck.Report
	// GPUs is the last GPU inventory.
	GPUs gpu.Inventory
	// Dev is the dev-mode worker instance; nil when none was started.
	Dev *Instance
	// Attached are official workers the app monitors (attach).
	Attached []Instance
	// Earnings are the ledger totals; nil before the first read.
	Earnings *Earnings
	// Pause is the pause of all workers; nil when not paused.
	Pause *Pause
	// StoreError says why the database could not be used, if it could not.
	StoreError string
	Updated    time.Time
}

// EventKind says what changed.
type EventKind string

// Event kinds.
const (
	EventReport EventKind = "report"
	EventGPUs   EventKind = "gpus"
	EventError  EventKind = "error"
	// EventInstance: a worker VM changed state or reported new stats.
	EventInstance EventKind = "instance"
	// EventEarnings: the ledger totals or the claimable amount changed.
	EventEarnings EventKind = "earnings"
	// EventPause: workers were paused or resumed.
	EventPause EventKind = "pause"
	// EventAlert: something the user should hear about (Event.Alert);
	// the state did not change since the event before it.
	EventAlert EventKind = "alert"
)

// Event tells a subscriber that the state changed; State holds the new snapshot.
type Event struct {
	Kind    EventKind
	Time    time.Time
	Message string
	State   State
	// Alert is set on EventAlert events only.
	Alert *Alert
}
