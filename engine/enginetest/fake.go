// Package enginetest provides an in-memory engine.API for app and CLI tests.
package enginetest

import (
	"archive/zip"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/diag"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// Fake answers with the report, inventory and state it holds, and lets a
// test publish events.
type Fake struct {
	mu            sync.Mutex
	state         engine.State
	report        hostcheck.Report
	inventory     gpu.Inventory
	checkErr      error
	series        []engine.EarningsBucket
	gpuSeries     map[string][]engine.GPUPoint
	activity      map[int][]engine.ActivityPoint
	seriesQueries int // GPUSeries and ActivitySeries calls
	subs          []chan engine.Event
	logs          map[engine.LogSource][]string
	logQuery      engine.LogQuery
	diags         int
	diagAddrs     bool
	settings      engine.Settings
	// SetSettingsCalls counts SetSettings calls that stored settings.
	SetSettingsCalls int
	// Checks counts Check calls.
	Checks int
	// wallet is the wallet setup; passphrase the keystore's (set once a
	// setup stored secrets); walletReqs the setups asked for, without
	// their secrets; newMnemonic makes created wallets' words.
	wallet      engine.WalletConfig
	passphrase  []byte
	walletReqs  []engine.WalletSetupRequest
	newMnemonic func() wallet.Mnemonic
	// telegramToken is the stored Telegram bot token; TelegramTests counts
	// TestTelegram calls, which fail with telegramErr.
	telegramToken string
	TelegramTests int
	telegramErr   error
}

var _ engine.API = (*Fake)(nil)

// New returns a Fake that reports r and inv, with st as its state.
func New(st engine.State, r hostcheck.Report, inv gpu.Inventory) *Fake {
	return &Fake{state: st, report: r, inventory: inv, settings: engine.DefaultSettings()}
}

// Settings implements engine.API.
func (f *Fake) Settings(context.Context) (engine.Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.settings
	s.TelegramTokenSet = f.telegramToken != ""
	return s, nil
}

// SetSettings implements engine.API: it validates and keeps s.
func (f *Fake) SetSettings(_ context.Context, s engine.Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s.TelegramTokenSet = false
	f.settings = s
	f.SetSettingsCalls++
	return nil
}

// SetTelegramToken implements engine.API: it checks and keeps the token
// ("" removes it).
func (f *Fake) SetTelegramToken(_ context.Context, token string) error {
	token = strings.TrimSpace(token)
	if err := engine.CheckTelegramToken(token); token != "" && err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.telegramToken = token
	return nil
}

// TelegramToken returns the Telegram token held.
func (f *Fake) TelegramToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.telegramToken
}

// FailTelegram makes TestTelegram fail with err (nil: succeed).
func (f *Fake) FailTelegram(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.telegramErr = err
}

// TestTelegram implements engine.API: it counts the call and fails with
// the FailTelegram error, or as the engine does without a chat id or token.
func (f *Fake) TestTelegram(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.TelegramTests++
	switch {
	case f.telegramErr != nil:
		return f.telegramErr
	case f.settings.TelegramChatID == "" || f.telegramToken == "":
		return fmt.Errorf("%w: enter the Telegram chat id and token first", engine.ErrInvalidSettings)
	}
	return nil
}

// StoredSettings returns the settings held and how many times
// SetSettings stored some.
func (f *Fake) StoredSettings() (engine.Settings, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.settings, f.SetSettingsCalls
}

// FailChecks makes Check return err.
func (f *Fake) FailChecks(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checkErr = err
}

// State implements engine.API.
func (f *Fake) State() engine.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

// Subscribe implements engine.API.
func (f *Fake) Subscribe(ctx context.Context) <-chan engine.Event {
	ch := make(chan engine.Event, 16)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, c := range f.subs {
			if c == ch {
				f.subs = append(f.subs[:i], f.subs[i+1:]...)
				close(ch)
				return
			}
		}
	}()
	return ch
}

// Publish sets the state and delivers an event to every subscriber.
func (f *Fake) Publish(kind engine.EventKind, change func(*engine.State)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.state)
	for _, c := range f.subs {
		c <- engine.Event{Kind: kind, State: f.state}
	}
}

// PublishAlert delivers an EventAlert with a and the current state to
// every subscriber.
func (f *Fake) PublishAlert(a engine.Alert) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.subs {
		c <- engine.Event{Kind: engine.EventAlert, Time: time.Now(), Message: a.Text(), State: f.state, Alert: &a}
	}
}

// Check implements engine.API.
func (f *Fake) Check(context.Context) (hostcheck.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Checks++
	if f.checkErr != nil {
		return hostcheck.Report{}, f.checkErr
	}
	r := f.report
	f.state.Report = &r
	f.state.GPUs = f.inventory
	return r, nil
}

// GPUs implements engine.API.
func (f *Fake) GPUs(context.Context) (gpu.Inventory, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inventory, nil
}

// StartDev implements engine.API: the instance goes straight to running.
func (f *Fake) StartDev(context.Context) error {
	f.Publish(engine.EventInstance, func(st *engine.State) {
		st.Dev = &engine.Instance{State: vm.StateRunning, Accel: vm.AccelTCG, StatsAddr: "127.0.0.1:12000"}
	})
	return nil
}

// StopDev implements engine.API.
func (f *Fake) StopDev(context.Context) error {
	f.Publish(engine.EventInstance, func(st *engine.State) {
		if st.Dev != nil {
			cp := *st.Dev
			cp.State = vm.StateStopped
			st.Dev = &cp
		}
	})
	return nil
}

// SetPause implements engine.API: it publishes the pause.
func (f *Fake) SetPause(_ context.Context, p *engine.Pause) error {
	f.Publish(engine.EventPause, func(st *engine.State) { st.Pause = p })
	return nil
}

// Payout implements engine.API: nothing is claimable in the fake.
func (f *Fake) Payout(context.Context) ([]engine.TargetResult, error) {
	return nil, engine.ErrNothingClaimable
}

// SetEarningsSeries sets the buckets EarningsSeries answers with.
func (f *Fake) SetEarningsSeries(bs []engine.EarningsBucket) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.series = bs
}

// EarningsSeries implements engine.API: the buckets set with
// SetEarningsSeries that start at or after since (bucket is not used).
func (f *Fake) EarningsSeries(_ context.Context, since time.Time, _ time.Duration) ([]engine.EarningsBucket, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.EarningsBucket
	for _, b := range f.series {
		if !b.Start.Before(since) {
			out = append(out, b)
		}
	}
	return out, nil
}

// SetGPUSeries sets the points GPUSeries answers with for the GPU key;
// nil forgets the GPU (GPUSeries then answers engine.ErrUnknownGPU).
func (f *Fake) SetGPUSeries(key string, ps []engine.GPUPoint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gpuSeries == nil {
		f.gpuSeries = map[string][]engine.GPUPoint{}
	}
	if ps == nil {
		delete(f.gpuSeries, key)
		return
	}
	f.gpuSeries[key] = append([]engine.GPUPoint(nil), ps...)
}

// SeriesQueries returns how many GPUSeries and ActivitySeries calls were
// made.
func (f *Fake) SeriesQueries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seriesQueries
}

// GPUSeries implements engine.API: the points set with SetGPUSeries at or
// after q.Since (the resolution is not used). A GPU of the inventory with
// no points set answers none; any other GPU without points is
// engine.ErrUnknownGPU.
func (f *Fake) GPUSeries(_ context.Context, q engine.GPUSeriesQuery) ([]engine.GPUPoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seriesQueries++
	ps, ok := f.gpuSeries[q.GPUKey]
	if !ok {
		for _, g := range f.inventory.GPUs {
			ok = ok || g.Key() == q.GPUKey
		}
		if !ok {
			return nil, fmt.Errorf("%w: %q", engine.ErrUnknownGPU, q.GPUKey)
		}
	}
	var out []engine.GPUPoint
	for _, p := range ps {
		if !p.Time.Before(q.Since) {
			out = append(out, p)
		}
	}
	return out, nil
}

// SetActivitySeries sets the points ActivitySeries answers with for the
// instance.
func (f *Fake) SetActivitySeries(instance int, ps []engine.ActivityPoint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.activity == nil {
		f.activity = map[int][]engine.ActivityPoint{}
	}
	f.activity[instance] = append([]engine.ActivityPoint(nil), ps...)
}

// ActivitySeries implements engine.API: the points set with
// SetActivitySeries at or after since (bucket is not used).
func (f *Fake) ActivitySeries(_ context.Context, instance int, since time.Time, _ time.Duration) ([]engine.ActivityPoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seriesQueries++
	var out []engine.ActivityPoint
	for _, p := range f.activity[instance] {
		if !p.Time.Before(since) {
			out = append(out, p)
		}
	}
	return out, nil
}

// ExportLedgerCSV implements engine.API: the fake holds no ledger, so it
// writes the header only.
func (f *Fake) ExportLedgerCSV(_ context.Context, w io.Writer, _ time.Time) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(engine.LedgerCSVHeader); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// SetLogs sets the lines (oldest first) Logs answers with for source,
// whatever the instance.
func (f *Fake) SetLogs(source engine.LogSource, lines []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logs == nil {
		f.logs = map[engine.LogSource][]string{}
	}
	f.logs[source] = append([]string(nil), lines...)
}

// LastLogQuery returns the last query Logs answered (normalized).
func (f *Fake) LastLogQuery() engine.LogQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logQuery
}

// Logs implements engine.API: the newest lines set with SetLogs that
// contain q.Contains in any case, at most q.Limit of them.
func (f *Fake) Logs(_ context.Context, q engine.LogQuery) (engine.LogPage, error) {
	q, err := q.Normalized()
	if err != nil {
		return engine.LogPage{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logQuery = q
	needle := strings.ToLower(q.Contains)
	var match []string
	for _, l := range f.logs[q.Source] {
		if strings.Contains(strings.ToLower(l), needle) {
			match = append(match, l)
		}
	}
	p := engine.LogPage{Source: q.Source, Lines: match}
	if len(match) > q.Limit {
		p.Lines, p.Truncated = match[len(match)-q.Limit:], true
	}
	return p, nil
}

// DiagCalls returns how many bundles DiagBundle wrote and whether the
// last one kept addresses.
func (f *Fake) DiagCalls() (n int, includeAddresses bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.diags, f.diagAddrs
}

// DiagBundle implements engine.API: a zip holding only manifest.txt.
func (f *Fake) DiagBundle(_ context.Context, w io.Writer, includeAddresses bool) (diag.Manifest, error) {
	f.mu.Lock()
	f.diags++
	f.diagAddrs = includeAddresses
	f.mu.Unlock()
	text := "Cocoon Provider diagnostic bundle (test)\n"
	zw := zip.NewWriter(w)
	fw, err := zw.Create("manifest.txt")
	if err != nil {
		return diag.Manifest{}, err
	}
	if _, err := io.WriteString(fw, text); err != nil {
		return diag.Manifest{}, err
	}
	if err := zw.Close(); err != nil {
		return diag.Manifest{}, err
	}
	red := map[diag.Kind]int{}
	for _, k := range diag.Kinds() {
		red[k] = 0
	}
	return diag.Manifest{Time: time.Now().UTC(), Version: "test", Files: []diag.File{{Name: "manifest.txt", Size: int64(len(text))}},
		Redactions: red, AddressesKept: includeAddresses}, nil
}

// SetWallet sets the wallet setup Wallet describes; a non-empty
// passphrase means the keystore exists under it.
func (f *Fake) SetWallet(c engine.WalletConfig, passphrase string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wallet = c
	f.passphrase = nil
	if passphrase != "" {
		f.passphrase = []byte(passphrase)
	}
}

// SetNewMnemonic makes created wallets take their words from gen
// (wallet.NewMnemonic by default).
func (f *Fake) SetNewMnemonic(gen func() wallet.Mnemonic) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.newMnemonic = gen
}

// WalletRequests returns the wallet setups asked for, with their secrets
// left out.
func (f *Fake) WalletRequests() []engine.WalletSetupRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.WalletSetupRequest(nil), f.walletReqs...)
}

func (f *Fake) walletInfo() engine.WalletInfo {
	info := f.wallet.Info("")
	info.Keystore = f.passphrase != nil
	return info
}

// Wallet implements engine.API.
func (f *Fake) Wallet(context.Context) (engine.WalletInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.walletInfo(), nil
}

// WalletSetup implements engine.API with the engine's own setup
// (engine.SetupWallet); the keystore is a passphrase held in memory, and
// a wrong one is refused as the engine refuses it.
func (f *Fake) WalletSetup(_ context.Context, req engine.WalletSetupRequest) (engine.WalletSetupResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := req
	kept.Phrase, kept.Passphrase = nil, nil
	f.walletReqs = append(f.walletReqs, kept)
	gen := f.newMnemonic
	if gen == nil {
		gen = wallet.NewMnemonic
	}
	keystore := func(s engine.Secrets, pass engine.PassphraseFunc) error {
		p, err := pass(f.passphrase == nil)
		if err != nil {
			return err
		}
		if f.passphrase != nil && string(p) != string(f.passphrase) {
			clear(p)
			return engine.InvalidWalletSetup(wallet.ErrWrongPassphrase)
		}
		f.passphrase = p
		return nil
	}
	cfg, res, err := engine.SetupWallet(f.wallet, req, gen, keystore)
	if err != nil {
		return engine.WalletSetupResult{}, err
	}
	f.wallet = cfg
	res.Wallet = f.walletInfo()
	return res, nil
}
