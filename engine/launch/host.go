package launch

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/helper"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/release"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// ErrNotEnabled is what a Host's effects return in this build: the
// production launch is planned, not carried out.
var ErrNotEnabled = errors.New("the production launch is not enabled in this build; use --dry-run to see what it would do")

// Host is the machine a launch is planned for. Plan only reads it: FS,
// Check, CCMode, CCTool and Releases, and CheckLiteservers when asked to.
// The Effects are there for the step that will carry a plan out; Plan
// never calls them.
type Host interface {
	// FS is the host's file system from its root ("/" on a real host).
	// Absolute host paths are looked up without their leading slash.
	FS() fs.FS
	// Check returns the doctor's report on the host (hostcheck).
	Check(ctx context.Context) (hostcheck.Report, error)
	// CCMode returns the confidential-computing mode of the GPU at pci as
	// far as it is known without privileges: "on", "off", "devtools", or
	// "" when it cannot be read here (NVML cannot see a GPU bound to
	// vfio-pci; the helper's status operation reads it as root).
	CCMode(ctx context.Context, pci string) string
	// CCTool is the helper's CC tool setting (where nvidia_gpu_tools.py
	// may be installed). Plan only asks it where the tool is; it never
	// runs it.
	CCTool() helper.CCTool
	// Releases lists the worker releases on the host; nil when none were
	// ever fetched.
	Releases() Releases
	// CheckLiteservers asks every liteserver of the TON global config
	// configJSON for its last masterchain block, each within timeout, and
	// reports them in config order (wallet.CheckLiteservers on a real
	// host); only a config that cannot be parsed is an error. It is the
	// one thing a plan does over the network, and Plan calls it only when
	// Config.CheckLiteservers is set.
	CheckLiteservers(ctx context.Context, configJSON []byte, timeout time.Duration) ([]wallet.LiteserverHealth, error)
	Effects
}

// CheckLiteservers is Host.CheckLiteservers over the network:
// wallet.CheckLiteservers on the parsed config.
func CheckLiteservers(ctx context.Context, configJSON []byte, timeout time.Duration) ([]wallet.LiteserverHealth, error) {
	cfg, err := wallet.ParseGlobalConfig(configJSON)
	if err != nil {
		return nil, err
	}
	return wallet.CheckLiteservers(ctx, cfg, timeout), nil
}

// Releases is the part of a release.Manager a plan reads.
type Releases interface {
	Current() (release.Release, error)
	Get(version string) (release.Release, error)
}

var _ Releases = (*release.Manager)(nil)

// Effects are what a production launch does to the host. Plan never
// calls them.
type Effects interface {
	// WriteFile writes a file (the spec share's files).
	WriteFile(ctx context.Context, name string, data []byte, perm fs.FileMode) error
	// CreateSparse creates a sparse file of size bytes (a persistent disk).
	CreateSparse(ctx context.Context, name string, size int64) error
	// Exec runs a command (the GPU helper, the seal server, QEMU).
	Exec(ctx context.Context, argv []string) error
}

// NoEffects is the Effects of this build: every effect returns
// ErrNotEnabled.
type NoEffects struct{}

// WriteFile returns ErrNotEnabled.
func (NoEffects) WriteFile(context.Context, string, []byte, fs.FileMode) error {
	return ErrNotEnabled
}

// CreateSparse returns ErrNotEnabled.
func (NoEffects) CreateSparse(context.Context, string, int64) error { return ErrNotEnabled }

// Exec returns ErrNotEnabled.
func (NoEffects) Exec(context.Context, []string) error { return ErrNotEnabled }

var _ Effects = NoEffects{}
