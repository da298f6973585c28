package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// Options configure a Service. Zero values mean the real host.
type Options struct {
	// DataDir holds the database, images and disks.
	DataDir string
	// Root is the filesystem root for /proc, /sys and /dev (tests point it at fixtures).
	Root string
	// QEMU is the QEMU binary name or path.
	QEMU string
	// NVML is the NVIDIA management library; nil loads the real one.
	NVML gpu.NVML
	// ProbeTimeout bounds each acceleration probe.
	ProbeTimeout time.Duration
	// SampleInterval is how often GPU telemetry is sampled while Run runs.
	SampleInterval time.Duration
	Logger         *slog.Logger
	// ImageCacheDir holds the stand-in image; empty means the user cache directory.
	ImageCacheDir string
	// SourceDir is this module's source tree, used to build the stand-in
	// guest agent when no image is cached.
	SourceDir string
	// GuestAgent is a prebuilt stand-in guest agent (installed packages
	// ship one); used when SourceDir is empty.
	GuestAgent string
	// Inspect and Probe default to the vm package; tests replace them.
	Inspect func(ctx context.Context, binary string) (vm.QEMUInfo, error)
	Probe   func(ctx context.Context, qemuPath string, accel vm.Accel, timeout time.Duration) vm.ProbeResult
	Now     func() time.Time
	// SettleInterval is how often settlement progress (earned, committed,
	// claimable, paid) is written to the ledger per worker; 0 is 15 s.
	SettleInterval time.Duration
	// DevLoad is the stand-in client's load; nil is DefaultDevLoad, a
	// zero Rate sends nothing.
	DevLoad *standin.Load
	// DevWorkerPort and DevClientPort are the stand-in proxy's loopback
	// ports (0: DefaultDevWorkerPort, DefaultDevClientPort).
	DevWorkerPort, DevClientPort int
	// DevStableAfter is how long the stand-in VM must run for an exit to
	// count as a new failure rather than another fast one (which grows the
	// backoff and, repeated, gives up); 0 is vm.DefaultStableAfter.
	DevStableAfter time.Duration
	// Version is the app's version line, written into diagnostic bundles.
	Version string
}

// Service is the engine. Create it with New; Run starts its background work.
type Service struct {
	opts    Options
	log     *slog.Logger
	root    fs.FS
	scanner *gpu.Scanner

	mu    sync.Mutex
	state State
	subs  map[chan Event]struct{}
	store *store.Store // open while Run runs
	dev   *dev         // the running dev-mode instance
	// claimable is each worker's claimable nanoTON now (setClaimable).
	claimable map[int64]int64
	// mismatchSince is when paid and arrived started to differ (reconcile;
	// Run's goroutine only).
	mismatchSince time.Time
	// logs keeps the last Logs answer.
	logs logCache
	// alerts watches every published state (under mu); alertWrites are
	// its events being stored, waited for before the store closes.
	alerts      *alertDetector
	alertWrites sync.WaitGroup
	// settings are the settings in force (under mu); auto decides the
	// automatic pause from them (Run's goroutine only).
	settings Settings
	auto     autopause
	// keystoreOpts are the keystore's options for WalletSetup (tests
	// make its key derivation cheap).
	keystoreOpts []wallet.KeystoreOption
	// telegram forwards alerts to Telegram (telegram.go), made on first
	// use.
	telegram     *telegramForwarder
	telegramOnce sync.Once
}

var _ API = (*Service)(nil)

// DefaultDataDir is $XDG_DATA_HOME/cocoon-provider (~/.local/share/cocoon-provider).
func DefaultDataDir() (string, error) {
	p, err := store.DefaultPath()
	if err != nil {
		return "", err
	}
	return filepath.Dir(p), nil
}

// New builds a Service. It does no I/O.
func New(opts Options) *Service {
	if opts.Root == "" {
		opts.Root = "/"
	}
	if opts.QEMU == "" {
		opts.QEMU = vm.DefaultBinary
	}
	if opts.NVML == nil {
		opts.NVML = gpu.NewNVML()
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = vm.DefaultProbeTimeout
	}
	if opts.SampleInterval <= 0 {
		opts.SampleInterval = time.Second
	}
	if opts.SettleInterval <= 0 {
		opts.SettleInterval = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Inspect == nil {
		opts.Inspect = vm.Inspect
	}
	if opts.Probe == nil {
		opts.Probe = vm.Probe
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	root := os.DirFS(opts.Root)
	return &Service{
		opts:     opts,
		log:      opts.Logger,
		root:     root,
		scanner:  gpu.NewScanner(gpu.Options{NVML: opts.NVML, FS: root, Now: opts.Now}),
		state:    State{Mode: ModeDev, DataDir: opts.DataDir},
		subs:     map[chan Event]struct{}{},
		alerts:   newAlertDetector(0),
		settings: DefaultSettings(),
	}
}

// Close releases the GPU library.
func (s *Service) Close() error { return s.scanner.Close() }

// State returns the current snapshot.
func (s *Service) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Subscribe implements API.
func (s *Service) Subscribe(ctx context.Context) <-chan Event {
	ch := make(chan Event, 16)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		delete(s.subs, ch)
		close(ch)
		s.mu.Unlock()
	}()
	return ch
}

// update changes the state under the lock and tells subscribers. It is
// the one place states are published, so the alert rules see each of
// them; their alerts follow the event that caused them.
func (s *Service) update(kind EventKind, msg string, change func(*State)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.state
	change(&s.state)
	s.state.Updated = s.opts.Now()
	ev := Event{Kind: kind, Time: s.state.Updated, Message: msg, State: s.state}
	for ch := range s.subs {
		select {
		case ch <- ev:
		default: // a slow reader misses this event; the next one carries the full state
		}
	}
	s.publishAlertsLocked(s.alerts.observe(prev, s.state, s.state.Updated))
}

// GPUs implements API.
func (s *Service) GPUs(ctx context.Context) (gpu.Inventory, error) {
	inv, err := s.scanner.Scan(ctx)
	if err != nil {
		return inv, fmt.Errorf("scan GPUs: %w", err)
	}
	s.update(EventGPUs, "", func(st *State) { st.GPUs = inv })
	return inv, nil
}

// Run opens the store and samples GPU telemetry into it until ctx ends.
// A store that cannot be opened is reported in State and as an event; the
// rest of the engine keeps working so the user still sees the machine.
func (s *Service) Run(ctx context.Context) error {
	st, err := s.openStore(ctx)
	if ctx.Err() != nil {
		if st != nil {
			st.Close()
		}
		return nil
	}
	if err != nil {
		s.log.Error("database unavailable; nothing will be recorded", "error", err)
		s.update(EventError, err.Error(), func(st *State) { st.StoreError = err.Error() })
	} else {
		set := s.readSettings(ctx, st)
		s.mu.Lock()
		s.store = st
		s.mu.Unlock()
		s.applySettings(set)
		defer func() {
			s.mu.Lock()
			s.store = nil
			s.mu.Unlock()
			s.alertWrites.Wait() // alerts being stored; no new ones start without the store
			st.Close()
		}()
		if _, err := st.AddEvent(ctx, store.Event{Time: s.opts.Now(), Level: "info", Kind: "app.start", Message: "Cocoon Provider started"}); err != nil {
			s.log.Warn("record start event", "error", err)
		}
	}
	if st != nil {
		s.refreshEarnings(ctx)
		s.syncPause(ctx)
	}
	attachedDone := make(chan struct{})
	go func() { defer close(attachedDone); s.runAttached(ctx) }()
	defer func() { <-attachedDone }()
	tick := time.NewTicker(s.opts.SampleInterval)
	defer tick.Stop()
	compact := time.NewTicker(10 * time.Minute)
	defer compact.Stop()
	seen := map[string]bool{}
	lastWriteErr := ""
	for {
		inv, err := s.GPUs(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Warn("GPU scan failed", "error", err)
		case st != nil:
			// Report a failing database once per distinct error, not every second.
			werr := s.record(ctx, st, inv, seen)
			if msg := errText(werr); msg != lastWriteErr {
				lastWriteErr = msg
				if werr != nil {
					s.log.Warn("record GPU telemetry", "error", werr)
				}
				s.update(EventError, msg, func(st *State) { st.StoreError = msg })
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-compact.C:
			if st != nil {
				if _, err := st.Compact(ctx, s.opts.Now(), store.DefaultRawRetention, store.DefaultRollupRetention); err != nil {
					s.log.Warn("compact telemetry", "error", err)
				}
			}
		case <-tick.C:
			s.syncPause(ctx)
			if st != nil {
				s.autoPause(ctx)
			}
			s.reconcile(ctx)
		}
	}
}

func (s *Service) openStore(ctx context.Context) (*store.Store, error) {
	if s.opts.DataDir == "" {
		return nil, errors.New("no data directory configured")
	}
	return store.Open(ctx, filepath.Join(s.opts.DataDir, store.DefaultFileName))
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
