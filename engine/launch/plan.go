package launch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/helper"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/release"
	"github.com/cocoon-provider/cocoon-provider/engine/sealserver"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// Kind says what a Step does.
type Kind string

// Step kinds, in the order a launch takes them.
const (
	KindHost           Kind = "host-check"
	KindRelease        Kind = "release"
	KindConfig         Kind = "config"
	KindLiteservers    Kind = "liteservers"
	KindGPUs           Kind = "gpus"
	KindSealServer     Kind = "seal-server"
	KindCCMode         Kind = "gpu-cc-mode"
	KindBindVFIO       Kind = "gpu-bind-vfio"
	KindSpecShare      Kind = "spec-share"
	KindPersistentDisk Kind = "persistent-disk"
	KindModelDisk      Kind = "model-disk"
	KindQEMU           Kind = "qemu"
)

// Step is one thing a production launch does.
type Step struct {
	Number int  `json:"number"`
	Kind   Kind `json:"kind"`
	// Instance is the worker instance the step belongs to; nil for the
	// steps the host takes once for all instances.
	Instance *int     `json:"instance,omitempty"`
	Title    string   `json:"title"`
	Details  []string `json:"details,omitempty"`
	// Files are written by the step.
	Files []File `json:"files,omitempty"`
	// Argv is the command the step runs, executable first.
	Argv []string `json:"argv,omitempty"`
	// Helper is the GPU helper operation the step asks for; nil when the
	// step needs none (the GPU is already as asked).
	Helper *helper.Request `json:"helper,omitempty"`
	// Blocked says why the step cannot be taken; empty: it would be.
	Blocked []string `json:"blocked,omitempty"`
}

// WouldDo reports whether nothing blocks the step.
func (s Step) WouldDo() bool { return len(s.Blocked) == 0 }

// File is one file a step writes.
type File struct {
	Path string `json:"path"`
	// Mode is the permission, e.g. "0644".
	Mode string `json:"mode"`
	// From is the file copied; empty when the content is generated.
	From string `json:"from,omitempty"`
	// Lines is generated content, secrets redacted.
	Lines []string `json:"lines,omitempty"`
	// Changes is how the file differs from From, for a rewritten copy:
	// "- " before a removed line, "+ " before an added one.
	Changes []string `json:"changes,omitempty"`
	// Size is the size of a created disk, in bytes; Sparse says no data
	// is written.
	Size   int64 `json:"size,omitempty"`
	Sparse bool  `json:"sparse,omitempty"`
	// Note says how the file comes about, e.g. "template, measured".
	Note string `json:"note,omitempty"`
	// content is a generated or rewritten file's bytes, which Lines and
	// Changes only describe (runtime.vars holds secrets): what Execute
	// writes. nil: the file is copied From. A pointer, so that printing a
	// File never shows it.
	content *fileContent
}

// fileContent holds the bytes of a generated file.
type fileContent struct{ data []byte }

// Instance is one worker VM: one GPU, its ports, CID and files.
type Instance struct {
	Number         int    `json:"number"`
	GPU            string `json:"gpu"`
	GPUName        string `json:"gpu_name,omitempty"`
	StatsPort      int    `json:"stats_port"`
	SSHPort        int    `json:"ssh_port"`
	CID            uint32 `json:"cid"`
	Dir            string `json:"dir"`
	SpecDir        string `json:"spec_dir"`
	PersistentDisk string `json:"persistent_disk"`
}

// Plan is every step of a launch on one host.
type Plan struct {
	// Mode is ModeProduction, or a debug mode whose image hash the network
	// does not accept (worker interface §1.3, §3.3).
	Mode       Mode               `json:"mode"`
	Host       hostcheck.HostInfo `json:"host"`
	Production hostcheck.Verdict  `json:"production"`
	// Requirements are the host checks that matter for production.
	Requirements []hostcheck.Check `json:"requirements"`
	Release      string            `json:"release,omitempty"`
	Instances    []Instance        `json:"instances"`
	// Steps in launch order: the host-wide ones, then each instance's.
	Steps []Step `json:"steps"`
	// Ready is true when no step is blocked.
	Ready bool `json:"ready"`
}

// Config is what the user asked for.
type Config struct {
	// DataDir is the app's data directory (absolute host path): releases
	// live in DataDir/releases, instances in DataDir/instances/<i>.
	DataDir string
	// ConfPath is worker.conf (absolute host path); empty means
	// DataDir/worker.conf.
	ConfPath string
	// Release is the release version; empty means the current one.
	Release string
	// GPUs picks GPUs by index into the host's NVIDIA GPUs in address
	// order; AllGPUs takes every one. With neither, the GPU worker.conf
	// names is used, or every GPU when it names none.
	GPUs    []int
	AllGPUs bool
	// Allowed are the GPU keys the Settings tab limits the workers to
	// (gpu.GPU.Key: UUID or "pci:<bus id>"); empty allows every GPU. It
	// narrows the default choice only: --gpus and worker.conf's GPU win.
	Allowed []string
	// QEMU is the QEMU binary; empty means qemu-system-x86_64 from PATH.
	QEMU string
	// NodeWalletKeys are the node wallet keys of the instances after the
	// first (index 0 is instance base+1). Each worker needs its own cocoon
	// wallet, so its own key; the first uses worker.conf's.
	NodeWalletKeys []worker.Secret
	// Getenv supplies HF_TOKEN when worker.conf has none; nil: empty
	// environment.
	Getenv func(string) string
	// Test and FakeTON are the official launcher's --test and --fake-ton
	// (§3.3): either turns on the mode whatever worker.conf's test and
	// fake_ton keys say (they turn it on too).
	Test, FakeTON bool
	// CheckLiteservers lets the plan ask the TON config's liteservers
	// whether they answer (Host.CheckLiteservers), each within
	// LiteserverTimeout (default wallet.DefaultLiteserverTimeout). Without
	// it the plan touches no network.
	CheckLiteservers  bool
	LiteserverTimeout time.Duration
}

// Sizes and names of a production launch.
const (
	// PersistentDiskSize is the official launcher's `truncate --size=100g`.
	PersistentDiskSize = 100 << 30
)

// NewPlan works out every step of a production launch on h, touching
// nothing: it only reads h's file system and facts. It fails only when
// ctx ends or the host checks cannot be run; everything that stands in
// the way of a launch is a blocked step in the Plan.
func NewPlan(ctx context.Context, h Host, cfg Config) (Plan, error) {
	rep, err := h.Check(ctx)
	if err != nil {
		return Plan{}, fmt.Errorf("check the host: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Plan{}, err
	}
	p := &planner{ctx: ctx, h: h, fsys: h.FS(), cfg: cfg, rep: rep}
	p.plan.Host, p.plan.Production = rep.Host, rep.Production
	p.plan.Mode = ModeProduction
	for _, c := range rep.Checks {
		if c.Status != hostcheck.StatusNone {
			p.plan.Requirements = append(p.plan.Requirements, c)
		}
	}
	if err := p.build(); err != nil {
		return Plan{}, err
	}
	p.plan.Ready = true
	for i := range p.plan.Steps {
		p.plan.Steps[i].Number = i + 1
		if !p.plan.Steps[i].WouldDo() {
			p.plan.Ready = false
		}
	}
	return p.plan, nil
}

// planner carries one NewPlan call.
type planner struct {
	ctx  context.Context
	h    Host
	fsys fs.FS
	cfg  Config
	rep  hostcheck.Report
	plan Plan

	rel      *release.Release // nil when no release can be used
	relRoot  string           // rel.Path, or a placeholder
	conf     *worker.Conf     // nil when worker.conf is unusable
	confPath string
	confStep Step // read before the release step, added after it
	imageDir string
	// test and fakeTON are the modes of this launch: Config's flags or
	// worker.conf's keys.
	test, fakeTON bool
	// tonConfigSet: worker.conf names ton_config.
	tonConfigSet bool
}

func (p *planner) add(s Step) { p.plan.Steps = append(p.plan.Steps, s) }

// failed returns a blocking reason for each named host check that fails
// for production.
func (p *planner) failed(ids ...string) []string {
	var out []string
	for _, c := range p.rep.Checks {
		if c.Status == hostcheck.StatusFail && slices.Contains(ids, c.ID) {
			out = append(out, "the host check \""+c.Title+"\" fails: "+c.Observed)
		}
	}
	return out
}

func (p *planner) build() error {
	p.hostStep()
	p.readConf() // the mode decides what the release step says
	p.releaseStep()
	p.confDefaults()
	p.add(p.confStep)
	if err := p.liteserverStep(); err != nil {
		return err
	}
	gpus, err := p.gpuStep()
	if err != nil {
		return err
	}
	p.sealStep()
	for k, g := range gpus {
		if err := p.instance(k, g); err != nil {
			return err
		}
	}
	return nil
}

func (p *planner) hostStep() {
	s := Step{Kind: KindHost, Title: "Check the host for production", Details: []string{p.rep.Production.Summary}}
	for _, c := range p.plan.Requirements {
		if c.Status == hostcheck.StatusFail {
			s.Blocked = append(s.Blocked, "the host lacks: "+c.Title)
		}
	}
	p.add(s)
}

// stat reports whether the absolute host path exists.
func (p *planner) stat(name string) (fs.FileInfo, error) { return fs.Stat(p.fsys, rel(name)) }

func (p *planner) readFile(name string) ([]byte, error) { return fs.ReadFile(p.fsys, rel(name)) }

// rel turns an absolute host path into a path inside the host's FS.
func rel(name string) string {
	r := strings.TrimPrefix(path.Clean(filepath.ToSlash(name)), "/")
	if r == "" {
		return "."
	}
	return r
}

func (p *planner) releaseStep() {
	s := Step{Kind: KindRelease}
	p.relRoot = "<release>"
	rs := p.h.Releases()
	var r release.Release
	var err error
	switch {
	case rs == nil:
		err = errors.New("no worker release has been fetched on this host: fetch one with `cocoon-provider release fetch`")
	case p.cfg.Release != "":
		r, err = rs.Get(p.cfg.Release)
	default:
		r, err = rs.Current()
	}
	if err != nil {
		s.Title = "Use a worker release"
		if p.cfg.Release != "" {
			s.Title = "Use worker release " + p.cfg.Release
		}
		s.Blocked = []string{err.Error()}
		p.add(s)
		return
	}
	p.rel, p.relRoot = &r, r.Path
	p.plan.Release = r.Version
	s.Title = "Use worker release " + r.Version
	s.Details = append(s.Details, "release root "+r.Path)
	if p.plan.Mode != ModeProduction {
		if h := r.Measured.ImageHash; h != "" {
			s.Details = append(s.Details, "predicted production image hash "+h+": not this launch's ("+p.plan.Mode.String()+" measures a different image)")
		}
		s.Details = append(s.Details, "the network's allow-list does not matter here: it holds production image hashes only, so it will not accept this launch's")
		p.add(s)
		return
	}
	if h := r.Measured.ImageHash; h != "" {
		s.Details = append(s.Details, "predicted image hash "+h)
	}
	if r.Allowed != nil {
		s.Details = append(s.Details, fmt.Sprintf("image hash found on the network's allow-list (%d hashes) at %s", r.Allowed.ListSize, r.Allowed.CheckedAt.UTC().Format("2006-01-02 15:04 UTC")))
	} else {
		s.Blocked = append(s.Blocked, "release "+r.Version+" has not been checked against the network's allow-list: a worker the network does not allow earns nothing; check it with `cocoon-provider release use`")
	}
	p.add(s)
}

// readConf reads and parses worker.conf and settles the launch's mode;
// the step is added by build once the release is known.
func (p *planner) readConf() {
	p.test, p.fakeTON = p.cfg.Test, p.cfg.FakeTON
	defer func() { p.plan.Mode = modeOf(p.test, p.fakeTON) }()
	p.confPath = p.cfg.ConfPath
	if p.confPath == "" {
		p.confPath = filepath.Join(p.cfg.DataDir, "worker.conf")
	}
	p.confStep = Step{Kind: KindConfig, Title: "Read the worker configuration " + p.confPath}
	s := &p.confStep
	data, err := p.readFile(p.confPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			s.Blocked = []string{"there is no " + p.confPath + ": write one from the release's worker.conf.example and pass it with --conf"}
		} else {
			s.Blocked = []string{"cannot read " + p.confPath + ": " + err.Error()}
		}
		return
	}
	// No release root: the defaults below it depend on the mode, which
	// the command line may change, so confDefaults fills them in.
	env := worker.ConfEnv{WorkDir: filepath.Dir(p.confPath), Getenv: p.cfg.Getenv}
	c, warns, err := worker.ParseConf(data, env)
	if err != nil {
		s.Blocked = []string{err.Error()}
		return
	}
	for _, w := range warns {
		s.Details = append(s.Details, "ignored: "+w.String())
	}
	p.test, p.fakeTON = p.test || c.Test, p.fakeTON || c.FakeTON
	p.tonConfigSet = c.TONConfig != ""
	c.Test, c.FakeTON = p.test, p.fakeTON
	s.Details = append(s.Details,
		"mode "+modeOf(p.test, p.fakeTON).Describe(),
		"owner address "+c.OwnerAddress,
		"model "+c.Model.String(),
		"root contract "+c.RootContractAddress,
		fmt.Sprintf("worker coefficient %d (%.3f×)", c.WorkerCoefficient, float64(c.WorkerCoefficient)/1000))
	if p.test || p.fakeTON {
		s.Details = append(s.Details, debugImageHash)
	}
	if c.HTTPPort != worker.DefaultHTTPPort || c.SSHPort != worker.DefaultSSHPort || c.VsockCID != worker.DefaultVsockCID {
		s.Blocked = append(s.Blocked, fmt.Sprintf("http_port, ssh_port or vsock_cid differ from the official %d, %d, %d, which the guest and this app assume: remove them from worker.conf",
			worker.DefaultHTTPPort, worker.DefaultSSHPort, worker.DefaultVsockCID))
	}
	p.conf = &c
}

// confDefaults fills in worker.conf's defaults below the release root
// (§2.1): the image directory by mode, and the two TON configs.
func (p *planner) confDefaults() {
	if p.conf == nil {
		return
	}
	c := p.conf
	if c.ImageDir == "" {
		c.ImageDir = path.Join(p.relRoot, "images", "prod")
		if c.Test {
			c.ImageDir = path.Join(p.relRoot, "images", "test")
		}
	}
	if c.TONConfigBase == "" {
		c.TONConfigBase = path.Join(p.relRoot, "spec", "mainnet-base-ton-config.json")
	}
	if c.TONConfig == "" {
		c.TONConfig = path.Join(p.relRoot, "spec", "mainnet-full-ton-config.json")
	}
	p.imageDir = c.ImageDir
	if p.plan.Mode != ModeProduction {
		p.confStep.Details = append(p.confStep.Details, "images from "+p.imageDir)
	}
}

// hostGPU is one GPU a worker could run on.
type hostGPU struct {
	bus, uuid, name string
}

func (p *planner) gpuStep() ([]hostGPU, error) {
	s := Step{Kind: KindGPUs, Title: "Choose the GPUs: one worker instance per GPU"}
	inv, err := gpu.Discover(p.ctx, gpu.Options{FS: p.fsys})
	if err != nil {
		return nil, err
	}
	var all []hostGPU
	for _, g := range inv.GPUs {
		if g.IsNVIDIA() {
			all = append(all, hostGPU{bus: g.BusID, uuid: g.UUID, name: g.DisplayName()})
		}
	}
	var chosen []hostGPU
	switch {
	case len(all) == 0:
		s.Blocked = append(s.Blocked, "no NVIDIA GPU on this host: a worker needs an H100-class GPU with confidential computing")
	case p.cfg.AllGPUs:
		chosen = all
	case len(p.cfg.GPUs) > 0:
		for _, i := range p.cfg.GPUs {
			if i < 0 || i >= len(all) {
				s.Blocked = append(s.Blocked, fmt.Sprintf("there is no GPU %d: this host has %d NVIDIA GPUs (0 to %d)", i, len(all), len(all)-1))
				continue
			}
			chosen = append(chosen, all[i])
		}
	case p.conf != nil && p.conf.GPU != "":
		bdf, err := vm.NormalizeBDF(p.conf.GPU)
		i := slices.IndexFunc(all, func(g hostGPU) bool { return g.bus == bdf })
		switch {
		case err != nil:
			s.Blocked = append(s.Blocked, err.Error())
		case i < 0:
			s.Blocked = append(s.Blocked, "worker.conf names GPU "+bdf+", which is not an NVIDIA GPU on this host")
		default:
			chosen = append(chosen, all[i])
			s.Details = append(s.Details, "the GPU worker.conf names")
		}
	case len(p.cfg.Allowed) > 0:
		for _, g := range all {
			if slices.Contains(p.cfg.Allowed, "pci:"+g.bus) || (g.uuid != "" && slices.Contains(p.cfg.Allowed, g.uuid)) {
				chosen = append(chosen, g)
			}
		}
		s.Details = append(s.Details, fmt.Sprintf("the GPUs chosen in Settings (%d of %d)", len(chosen), len(all)))
		if len(chosen) == 0 {
			s.Blocked = append(s.Blocked, "none of the GPUs chosen in Settings (GPUs to use) is on this host: choose them again, or pass --gpus")
		}
	default:
		chosen = all
	}
	base := 0
	if p.conf != nil {
		base = p.conf.Instance
	}
	for k, g := range chosen {
		i := base + k
		s.Details = append(s.Details, fmt.Sprintf("instance %d: %s %s, stats port %d, ssh port %d, vsock CID %d",
			i, g.bus, g.name, vm.StatsPort(i), vm.SSHPort(i), vm.GuestCID(i)))
		if i > vm.MaxInstance {
			s.Blocked = append(s.Blocked, fmt.Sprintf("instance %d is above %d: its ports would not fit", i, vm.MaxInstance))
		}
	}
	if n := len(chosen); n > 0 {
		need := uint64(n*vm.ProductionMemoryMiB)<<20 + hostcheck.ProdHostHeadroomGiB<<30
		if total, ok := p.memTotal(); ok && total < need {
			s.Blocked = append(s.Blocked, fmt.Sprintf("%d instances need %d GiB of RAM (%d GiB each plus %d for the host), and this host has %d GiB: choose fewer GPUs with --gpus",
				n, need>>30, vm.ProductionMemoryMiB>>10, hostcheck.ProdHostHeadroomGiB, total>>30))
		}
	}
	p.add(s)
	return chosen, nil
}

// memTotal reads MemTotal from the host's /proc/meminfo.
func (p *planner) memTotal() (uint64, bool) {
	b, err := p.readFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb << 10, true
			}
		}
	}
	return 0, false
}

func (p *planner) sealStep() {
	s := Step{Kind: KindSealServer, Title: "Start the seal server (one for all instances)"}
	if p.test {
		s.Title = "Seal server: not used in test mode (the guest uses debug keys)"
		p.add(s)
		return
	}
	bin, enclave := path.Join(p.relRoot, sealserver.BinaryPath), path.Join(p.relRoot, sealserver.EnclavePath)
	s.Argv = []string{bin, "--enclave-path", enclave}
	s.Details = []string{
		fmt.Sprintf("listens on vsock port %d; the guests ask it for their disk and app keys, so it must run before the first worker boots", sealserver.DefaultPort),
		"kept running by the seal-server supervisor (engine/sealserver), which this plan only names",
	}
	if p.fakeTON {
		s.Details = append(s.Details, "fake TON without test mode: the guest still takes its keys from the seal server")
	}
	s.Blocked = append(s.Blocked, p.failed("sgx", "vhost_vsock")...)
	if p.rel != nil {
		for _, f := range []string{bin, enclave} {
			if _, err := p.stat(f); err != nil {
				s.Blocked = append(s.Blocked, f+" is missing from the release: fetch the release again")
			}
		}
	} else {
		s.Blocked = append(s.Blocked, "no worker release to take it from")
	}
	p.add(s)
}
