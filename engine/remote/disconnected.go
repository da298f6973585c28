package remote

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/diag"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
)

// ErrNotConnected: the app watches no worker host yet.
var ErrNotConnected = errors.New("not connected to a worker host: use Remote host… to connect to one")

// Disconnected is the engine API of an app that watches no host yet (a
// monitor on a system that cannot run workers itself): an empty state that
// says why, and ErrNotConnected for every action.
func Disconnected(why string) engine.API { return disconnected{why: why} }

type disconnected struct{ why string }

func (d disconnected) State() engine.State {
	return engine.State{StoreError: d.why, Updated: time.Now()}
}

func (disconnected) Subscribe(ctx context.Context) <-chan engine.Event {
	ch := make(chan engine.Event)
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}

func (disconnected) Check(context.Context) (hostcheck.Report, error) {
	return hostcheck.Report{}, ErrNotConnected
}
func (disconnected) GPUs(context.Context) (gpu.Inventory, error) {
	return gpu.Inventory{}, ErrNotConnected
}
func (disconnected) StartDev(context.Context) error                { return ErrNotConnected }
func (disconnected) StopDev(context.Context) error                 { return ErrNotConnected }
func (disconnected) SetPause(context.Context, *engine.Pause) error { return ErrNotConnected }
func (disconnected) Payout(context.Context) ([]engine.TargetResult, error) {
	return nil, ErrNotConnected
}
func (disconnected) EarningsSeries(context.Context, time.Time, time.Duration) ([]engine.EarningsBucket, error) {
	return nil, ErrNotConnected
}
func (disconnected) GPUSeries(context.Context, engine.GPUSeriesQuery) ([]engine.GPUPoint, error) {
	return nil, ErrNotConnected
}
func (disconnected) ActivitySeries(context.Context, int, time.Time, time.Duration) ([]engine.ActivityPoint, error) {
	return nil, ErrNotConnected
}
func (disconnected) ExportLedgerCSV(context.Context, io.Writer, time.Time) error {
	return ErrNotConnected
}
func (disconnected) Logs(context.Context, engine.LogQuery) (engine.LogPage, error) {
	return engine.LogPage{}, ErrNotConnected
}
func (disconnected) DiagBundle(context.Context, io.Writer, bool) (diag.Manifest, error) {
	return diag.Manifest{}, ErrNotConnected
}
func (disconnected) Settings(context.Context) (engine.Settings, error) {
	return engine.Settings{}, ErrNotConnected
}
func (disconnected) SetSettings(context.Context, engine.Settings) error { return ErrNotConnected }
func (disconnected) Wallet(context.Context) (engine.WalletInfo, error) {
	return engine.WalletInfo{}, ErrNotConnected
}
func (disconnected) WalletSetup(context.Context, engine.WalletSetupRequest) (engine.WalletSetupResult, error) {
	return engine.WalletSetupResult{}, ErrNotConnected
}
func (disconnected) SetTelegramToken(context.Context, string) error { return ErrNotConnected }
func (disconnected) TestTelegram(context.Context) error             { return ErrNotConnected }
