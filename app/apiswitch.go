package app

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/diag"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
)

// apiSwitch is the engine API the UI holds: the local engine, or a remote
// host's once the user connects to one. Switching re-subscribes every
// subscriber to the new target and hands each of them the new state, so
// the views never hold on to a target.
type apiSwitch struct {
	mu      sync.Mutex
	target  engine.API
	label   string    // "" for this machine, else the remote host
	closer  io.Closer // closes a remote target when switched away
	changed chan struct{}
}

var _ engine.API = (*apiSwitch)(nil)

func newAPISwitch(target engine.API, label string) *apiSwitch {
	return &apiSwitch{target: target, label: label, changed: make(chan struct{})}
}

// current returns the target and the channel that closes when it changes.
func (s *apiSwitch) current() (engine.API, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.target, s.changed
}

// Label is the remote host shown ("" for this machine).
func (s *apiSwitch) Label() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.label
}

// use switches to target; closer (may be nil) is closed when the UI
// switches away from it.
func (s *apiSwitch) use(target engine.API, label string, closer io.Closer) {
	s.mu.Lock()
	old := s.closer
	s.target, s.label, s.closer = target, label, closer
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
}

// close closes a remote target, if one is in use.
func (s *apiSwitch) close() {
	s.mu.Lock()
	c := s.closer
	s.closer = nil
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// switchKinds are the events a switch replays so every view redraws.
var switchKinds = []engine.EventKind{engine.EventGPUs, engine.EventError, engine.EventInstance, engine.EventEarnings, engine.EventPause}

func (s *apiSwitch) Subscribe(ctx context.Context) <-chan engine.Event {
	out := make(chan engine.Event, 64)
	go func() {
		defer close(out)
		first := true
		for ctx.Err() == nil {
			target, changed := s.current()
			subCtx, cancel := context.WithCancel(ctx)
			in := target.Subscribe(subCtx)
			if !first {
				st := target.State()
				for _, k := range switchKinds {
					select {
					case out <- engine.Event{Kind: k, Time: time.Now(), State: st, Message: ""}:
					default:
					}
				}
			}
			first = false
		forward:
			for {
				select {
				case ev, ok := <-in:
					if !ok {
						break forward
					}
					select {
					case out <- ev:
					default: // a slow reader misses events, as with the engine
					}
				case <-changed:
					break forward
				case <-ctx.Done():
					break forward
				}
			}
			cancel()
			// A target whose stream ended without a switch (an engine that
			// stopped): wait for a switch rather than spin.
			select {
			case <-changed:
			case <-ctx.Done():
			}
		}
	}()
	return out
}

func (s *apiSwitch) get() engine.API { t, _ := s.current(); return t }

func (s *apiSwitch) State() engine.State { return s.get().State() }
func (s *apiSwitch) Check(ctx context.Context) (hostcheck.Report, error) {
	return s.get().Check(ctx)
}
func (s *apiSwitch) GPUs(ctx context.Context) (gpu.Inventory, error) { return s.get().GPUs(ctx) }
func (s *apiSwitch) StartDev(ctx context.Context) error              { return s.get().StartDev(ctx) }
func (s *apiSwitch) StopDev(ctx context.Context) error               { return s.get().StopDev(ctx) }
func (s *apiSwitch) SetPause(ctx context.Context, p *engine.Pause) error {
	return s.get().SetPause(ctx, p)
}
func (s *apiSwitch) Payout(ctx context.Context) ([]engine.TargetResult, error) {
	return s.get().Payout(ctx)
}
func (s *apiSwitch) EarningsSeries(ctx context.Context, since time.Time, bucket time.Duration) ([]engine.EarningsBucket, error) {
	return s.get().EarningsSeries(ctx, since, bucket)
}
func (s *apiSwitch) GPUSeries(ctx context.Context, q engine.GPUSeriesQuery) ([]engine.GPUPoint, error) {
	return s.get().GPUSeries(ctx, q)
}
func (s *apiSwitch) ActivitySeries(ctx context.Context, instance int, since time.Time, bucket time.Duration) ([]engine.ActivityPoint, error) {
	return s.get().ActivitySeries(ctx, instance, since, bucket)
}
func (s *apiSwitch) ExportLedgerCSV(ctx context.Context, w io.Writer, since time.Time) error {
	return s.get().ExportLedgerCSV(ctx, w, since)
}
func (s *apiSwitch) Logs(ctx context.Context, q engine.LogQuery) (engine.LogPage, error) {
	return s.get().Logs(ctx, q)
}
func (s *apiSwitch) DiagBundle(ctx context.Context, w io.Writer, includeAddresses bool) (diag.Manifest, error) {
	return s.get().DiagBundle(ctx, w, includeAddresses)
}
func (s *apiSwitch) Settings(ctx context.Context) (engine.Settings, error) {
	return s.get().Settings(ctx)
}
func (s *apiSwitch) SetSettings(ctx context.Context, set engine.Settings) error {
	return s.get().SetSettings(ctx, set)
}
func (s *apiSwitch) Wallet(ctx context.Context) (engine.WalletInfo, error) {
	return s.get().Wallet(ctx)
}
func (s *apiSwitch) WalletSetup(ctx context.Context, req engine.WalletSetupRequest) (engine.WalletSetupResult, error) {
	return s.get().WalletSetup(ctx, req)
}
func (s *apiSwitch) SetTelegramToken(ctx context.Context, token string) error {
	return s.get().SetTelegramToken(ctx, token)
}
func (s *apiSwitch) TestTelegram(ctx context.Context) error {
	return s.get().TestTelegram(ctx)
}
