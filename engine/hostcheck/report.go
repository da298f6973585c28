package hostcheck

import (
	"context"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Status is the outcome of one check for one mode.
type Status string

// Check outcomes. StatusNone marks a check that does not matter for a mode.
const (
	StatusOK      Status = "ok"
	StatusWarn    Status = "warn"
	StatusFail    Status = "fail"
	StatusUnknown Status = "unknown"
	StatusNone    Status = ""
)

// Mode is what the user wants to do with the machine.
type Mode string

// Modes with their own verdicts. Test mode shares production's hardware needs.
const (
	ModeProduction Mode = "production"
	ModeDev        Mode = "dev"
)

// Check is one line of the eligibility checklist.
type Check struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Status is the verdict for earning (production); DevStatus for dev mode,
	// empty when the item does not matter there.
	Status    Status `json:"status"`
	DevStatus Status `json:"dev_status,omitempty"`
	Observed  string `json:"observed"`
	Why       string `json:"why"`
	// Fix is the exact next step; empty when nothing needs doing.
	Fix string `json:"fix,omitempty"`
	// FixKey names Fix's wording for translation ("check.<id>.fix.<case>"),
	// with the values it embeds in FixArgs; a user interface shows its
	// translation and falls back to Fix. Empty when Fix has no fixed
	// wording (it is made of other texts, as gpu_cc's).
	FixKey  string            `json:"fix_key,omitempty"`
	FixArgs map[string]string `json:"fix_args,omitempty"`
}

// The keys of a check's texts for translation: its Title and Why are
// fixed for each ID; TitleKey and WhyKey name them.

// TitleKey is the translation key of the check's Title.
func (c Check) TitleKey() string { return "check." + c.ID + ".title" }

// WhyKey is the translation key of the check's Why.
func (c Check) WhyKey() string { return "check." + c.ID + ".why" }

// fix sets the check's Fix with its key: "check.<id>.fix.<name>".
func (c *Check) fix(name, text string) {
	c.Fix, c.FixKey, c.FixArgs = text, "check."+c.ID+".fix."+name, nil
}

// For returns the check's status in the given mode.
func (c Check) For(m Mode) Status {
	if m == ModeDev {
		return c.DevStatus
	}
	return c.Status
}

// Verdict sums up one mode.
type Verdict struct {
	Mode Mode `json:"mode"`
	// Ready is true when no check fails for this mode.
	Ready bool `json:"ready"`
	// Blocking lists the IDs of failed checks; Unconfirmed those that could not be read.
	Blocking    []string `json:"blocking"`
	Unconfirmed []string `json:"unconfirmed"`
	// Summary is one plain sentence for the user.
	Summary string `json:"summary"`
}

// HostInfo identifies the machine in the report.
type HostInfo struct {
	Hostname string `json:"hostname"`
	OS       string `json:"os"`
	Kernel   string `json:"kernel"`
}

// Report is the whole doctor output.
type Report struct {
	Time       time.Time `json:"time"`
	Host       HostInfo  `json:"host"`
	Checks     []Check   `json:"checks"`
	Production Verdict   `json:"production"`
	Dev        Verdict   `json:"dev"`
	// DevAccel is the acceleration dev mode will use: "kvm", "tcg" or "" when none works.
	DevAccel string `json:"dev_accel"`
}

// Check returns the check with the given ID.
func (r Report) Check(id string) (Check, bool) {
	for _, c := range r.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// QEMUFacts is what the engine learnt about the QEMU binary.
type QEMUFacts struct {
	Found bool   `json:"found"`
	Path  string `json:"path,omitempty"`
	// Banner is the first line of `--version`.
	Banner string `json:"banner,omitempty"`
	Major  int    `json:"major,omitempty"`
	Minor  int    `json:"minor,omitempty"`
	TDX    bool   `json:"tdx"`
	// Err says why QEMU could not be found or queried.
	Err string `json:"error,omitempty"`
}

// ProbeFacts is the result of booting a tiny guest under one accelerator.
type ProbeFacts struct {
	Ran      bool
	OK       bool
	Reason   string
	Duration time.Duration
}

// NVMLFacts says whether the NVIDIA management library answered.
type NVMLFacts struct {
	Loaded        bool
	Reason        string
	DriverVersion string
	CUDAVersion   string
}

// PCIPeer is another device in a GPU's IOMMU group.
type PCIPeer struct {
	Address  string
	VendorID string
	Class    string
	Driver   string
}

// GPU is what the doctor needs to know about one GPU.
type GPU struct {
	PCIBusID string
	Name     string
	VendorID string
	DeviceID string
	Driver   string
	// CCCapable is true for models that support NVIDIA confidential computing.
	CCCapable bool
	// CCMode is the confidential-computing mode NVML read for this GPU
	// (system-wide: "on", "off", "devtools", …), or "" when it cannot be
	// read here: NVML cannot see a GPU bound to vfio-pci, or the driver
	// does not report the mode.
	CCMode string
	// CCReasons say what keeps the mode from what COCOON needs, each with
	// its fix (attest's CCReport.ModeReasons); none when it is right. When
	// CCMode is "", they say how to read the mode another way.
	CCReasons  []string
	MemoryMiB  uint64
	IOMMUGroup string
	// IOMMUPeers are the other devices in the GPU's IOMMU group, except
	// SlotPeers: the other functions of the GPU's own slot (audio, USB).
	IOMMUPeers []PCIPeer
	SlotPeers  []PCIPeer
}

// Inputs are everything the doctor looks at.
type Inputs struct {
	// Root is the filesystem root holding proc/, sys/, dev/ and etc/ ("/" on a real host).
	Root string
	// DataDir is where images, disks and the database live; its free space is checked.
	DataDir string
	QEMU    QEMUFacts
	KVM     ProbeFacts
	TCG     ProbeFacts
	NVML    NVMLFacts
	GPUs    []GPU
	Now     time.Time
	// DiskFree measures free bytes on the filesystem holding a directory;
	// nil means statfs through gopsutil.
	DiskFree func(ctx context.Context, dir string) (free uint64, mount string, err error)
}

// Run evaluates every check and both verdicts.
func Run(ctx context.Context, in Inputs) Report {
	if in.Root == "" {
		in.Root = "/"
	}
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	h := newHost(ctx, in)
	r := Report{Time: in.Now, Host: h.info()}
	for _, check := range []func() Check{
		h.checkCPU, h.checkCores, h.checkMemory, h.checkDataDir, h.checkDisk, h.checkKernel,
		h.checkKVMDevice, h.checkKVMGuest, h.checkTCGGuest, h.checkTDXHost, h.checkSGX,
		h.checkIOMMU, h.checkIOMMUFD, h.checkVFIO, h.checkVsock,
		h.checkQEMU, h.checkQEMUTDX,
		h.checkGPU, h.checkNVIDIADriver, h.checkGPUCC, h.checkGPUVFIO,
	} {
		r.Checks = append(r.Checks, check())
	}
	r.DevAccel = devAccel(in)
	r.Production = verdict(ModeProduction, r.Checks, "")
	r.Dev = verdict(ModeDev, r.Checks, r.DevAccel)
	return r
}

func devAccel(in Inputs) string {
	switch {
	case in.KVM.OK:
		return "kvm"
	case in.TCG.OK:
		return "tcg"
	}
	return ""
}

func verdict(m Mode, checks []Check, accel string) Verdict {
	v := Verdict{Mode: m, Blocking: []string{}, Unconfirmed: []string{}}
	var failed, unknown []string
	for _, c := range checks {
		switch c.For(m) {
		case StatusFail:
			v.Blocking = append(v.Blocking, c.ID)
			failed = append(failed, c.Title)
		case StatusUnknown:
			v.Unconfirmed = append(v.Unconfirmed, c.ID)
			unknown = append(unknown, c.Title)
		}
	}
	v.Ready = len(failed) == 0
	switch {
	case m == ModeProduction && !v.Ready:
		v.Summary = "This machine cannot earn on COCOON, because of: " + strings.Join(failed, "; ") + ". You can still try dev mode."
	case m == ModeProduction && len(unknown) > 0:
		v.Summary = "Nothing we can see blocks earning, but these could not be checked: " + strings.Join(unknown, "; ") + "."
	case m == ModeProduction:
		v.Summary = "This machine can earn on COCOON."
	case !v.Ready:
		v.Summary = "Dev mode cannot run here, because of: " + strings.Join(failed, "; ") + "."
	case accel == "kvm":
		v.Summary = "Dev mode can run here with KVM acceleration (it earns nothing real)."
	default:
		v.Summary = "Dev mode can run here with software emulation: slower, and it earns nothing real."
	}
	return v
}

// host carries the inputs and cached reads through the checks.
type host struct {
	ctx  context.Context
	in   Inputs
	fsys fs.FS
	cpu  cpuFacts
}

func newHost(ctx context.Context, in Inputs) *host {
	h := &host{ctx: ctx, in: in, fsys: os.DirFS(in.Root)}
	h.cpu = h.readCPU()
	return h
}
