package gpu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// InitRetryInterval is the shortest time between two NVML Init attempts
// after one failed.
const InitRetryInterval = 30 * time.Second

// ErrClosed is returned by Scan after Close.
var ErrClosed = errors.New("gpu: scanner closed")

// Options configures a Scanner.
type Options struct {
	// NVML is the NVML library, nvml.New() in production; nil scans
	// without NVML.
	NVML nvml.Interface
	// FS is the filesystem root holding sys/, os.DirFS("/") in
	// production; nil skips the sysfs scan.
	FS fs.FS
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Scanner discovers GPUs repeatedly. It initialises NVML on the first
// Scan and keeps it open until Close. It is safe for concurrent use.
type Scanner struct {
	opts Options

	mu         sync.Mutex
	session    *nvmlSession // non-nil while NVML is initialised
	tried      bool         // an Init was attempted
	lastTry    time.Time    // when the last failed Init was attempted
	initReason string       // why the last Init failed
	closed     bool
}

// NewScanner returns a Scanner. It does not touch NVML or the filesystem.
func NewScanner(opts Options) *Scanner {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Scanner{opts: opts}
}

// Discover runs one scan with a fresh Scanner and closes it.
func Discover(ctx context.Context, opts Options) (Inventory, error) {
	s := NewScanner(opts)
	inv, err := s.Scan(ctx)
	if cerr := s.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return inv, err
}

// Scan returns the current GPUs: NVML devices enriched with sysfs facts,
// then display controllers only sysfs found. NVML and sysfs being
// unavailable are reported in the Inventory, not as errors; Scan fails
// only when ctx ends or the Scanner is closed.
func (s *Scanner) Scan(ctx context.Context) (Inventory, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Inventory{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return Inventory{}, fmt.Errorf("gpu scan: %w", err)
	}
	now := s.opts.Now()
	inv := Inventory{Time: now}

	nvGPUs, notes, err := s.scanNVML(ctx, now, &inv.NVML)
	if err != nil {
		return Inventory{}, fmt.Errorf("gpu scan: nvml: %w", err)
	}
	inv.Notes = append(inv.Notes, notes...)

	var sysGPUs []GPU
	if s.opts.FS != nil {
		sysGPUs, notes, err = scanSysfs(ctx, s.opts.FS)
		if err != nil {
			return Inventory{}, fmt.Errorf("gpu scan: sysfs: %w", err)
		}
		inv.Notes = append(inv.Notes, notes...)
	}
	inv.GPUs = merge(nvGPUs, sysGPUs)
	return inv, nil
}

// scanNVML fills st and returns NVML's devices. It initialises NVML when
// needed and drops the session when the driver stops answering.
func (s *Scanner) scanNVML(ctx context.Context, now time.Time, st *NVMLStatus) ([]GPU, []string, error) {
	if s.opts.NVML == nil {
		st.Reason = "NVML not used"
		return nil, nil, nil
	}
	if s.session == nil && (!s.tried || now.Sub(s.lastTry) >= InitRetryInterval) {
		s.tryInit(now)
	}
	if s.session == nil {
		st.Reason = s.initReason
		return nil, nil, nil
	}
	s.session.system(st)
	ccOn := st.CC != nil && (st.CC.Mode == CCModeOn || st.CC.Mode == CCModeDevTools)
	gpus, notes, err := s.session.devices(ctx, ccOn)
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	if err != nil {
		// The driver stopped answering (unloaded, GPU lost): start over
		// after the retry interval.
		s.shutdown()
		s.tried, s.lastTry, s.initReason = true, now, err.Error()
		*st = NVMLStatus{Reason: s.initReason}
		return nil, nil, nil
	}
	st.Loaded = true
	return gpus, notes, nil
}

// tryInit initialises NVML once.
func (s *Scanner) tryInit(now time.Time) {
	s.tried, s.lastTry = true, now
	ret := nvml.ERROR_UNKNOWN
	if !protect(func() { ret = s.opts.NVML.Init() }) {
		s.initReason = "NVML could not be initialised (panic in Init)"
		return
	}
	if ret != nvml.SUCCESS {
		s.initReason = initReason(ret)
		return
	}
	s.session = newSession(s.opts.NVML)
	s.initReason = ""
}

// shutdown closes the NVML session, if any.
func (s *Scanner) shutdown() error {
	if s.session == nil {
		return nil
	}
	s.session = nil
	ret := nvml.ERROR_UNKNOWN
	if !protect(func() { ret = s.opts.NVML.Shutdown() }) {
		return errors.New("gpu: nvml shutdown panicked")
	}
	if ret != nvml.SUCCESS {
		return fmt.Errorf("gpu: nvml shutdown: %w", ret)
	}
	return nil
}

// Close shuts NVML down. Scan fails after Close; Close is idempotent.
func (s *Scanner) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.shutdown()
}

// merge enriches NVML GPUs with the sysfs facts for the same bus id and
// appends the display controllers only sysfs found.
func merge(nv, sys []GPU) []GPU {
	out := make([]GPU, 0, len(nv)+len(sys))
	bySysBus := make(map[string]int, len(sys))
	for i, g := range sys {
		bySysBus[g.BusID] = i
	}
	used := make([]bool, len(sys))
	for _, g := range nv {
		if i, ok := bySysBus[g.BusID]; ok && g.BusID != "" {
			used[i] = true
			enrich(&g, sys[i])
		}
		out = append(out, g)
	}
	for i, g := range sys {
		if !used[i] {
			out = append(out, g)
		}
	}
	return out
}

// enrich adds to an NVML GPU what only sysfs knows.
func enrich(g *GPU, s GPU) {
	g.Class = s.Class
	g.KernelDriver = s.KernelDriver
	g.IOMMUGroup = s.IOMMUGroup
	g.IOMMUPeers = s.IOMMUPeers
	if g.VendorID == "" {
		g.VendorID, g.DeviceID = s.VendorID, s.DeviceID
	}
	if g.Model == nil {
		g.Model = s.Model
	}
	if g.Architecture == "" {
		g.Architecture = s.Architecture
	}
	g.Notes = append(g.Notes, s.Notes...)
}
