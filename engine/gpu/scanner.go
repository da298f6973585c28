package gpu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest/gpucc"
)

// InitRetryInterval is the shortest time between two NVML Init attempts
// after one failed.
const InitRetryInterval = 30 * time.Second

// CCInterval is the longest a Scanner reuses a confidential-computing
// report before reading it again. A report (gpucc.GPUCCState) costs a
// dozen NVML calls per GPU, certificate chains included, and the mode
// changes only with a GPU reset, so a once-a-second scan does not pay for
// it each time.
const CCInterval = time.Minute

// ErrClosed is returned by Scan after Close.
var ErrClosed = errors.New("gpu: scanner closed")

// Options configures a Scanner.
type Options struct {
	// NVML is the NVML library, NewNVML() in production; nil scans
	// without NVML.
	NVML NVML
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
	session    *nvmlSession    // non-nil while NVML is initialised
	tried      bool            // an Init was attempted
	lastTry    time.Time       // when the last failed Init was attempted
	initReason string          // why the last Init failed
	cc         *gpucc.CCReport // the last CC report of this session; nil before the first
	ccTime     time.Time       // when cc was read
	ccGPUs     string          // the NVML GPUs cc was read for (gpuKeys)
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

// gpuKeys identifies a set of GPUs, to notice one appearing or going.
func gpuKeys(gpus []GPU) string {
	keys := make([]string, len(gpus))
	for i, g := range gpus {
		keys[i] = g.Key()
	}
	return strings.Join(keys, ",")
}

// applyCC copies each GPU's CC memory from rep while CC mode is on; with it
// off the sizes mean nothing.
func applyCC(gpus []GPU, rep *gpucc.CCReport) {
	if rep.Mode != gpucc.CCModeOn && rep.Mode != gpucc.CCModeDevTools {
		return
	}
	for i := range gpus {
		g := &gpus[i]
		for _, d := range rep.Devices {
			if (g.UUID == "" || d.UUID != g.UUID) && (g.BusID == "" || NormalizeBusID(d.BusID) != g.BusID) {
				continue
			}
			if m := d.Memory; m.Status == gpucc.CCItemOK {
				prot, unprot := m.ProtectedKiB>>10, m.UnprotectedKiB>>10
				g.CCProtectedMiB, g.CCUnprotectedMiB = &prot, &unprot
			}
			if u := d.Memory.UsedBytes; u != nil {
				used := *u >> 20
				g.CCProtectedUsedMiB = &used
			}
			break
		}
	}
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
