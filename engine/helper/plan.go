package helper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
)

// StepKind says what a Step does.
type StepKind string

// Step kinds.
const (
	// StepWrite writes Value to the sysfs attribute Path.
	StepWrite StepKind = "write"
	// StepExec runs Argv (the CC tool), directly, without a shell.
	StepExec StepKind = "exec"
	// StepWait waits Wait (for a GPU reset to finish).
	StepWait StepKind = "wait"
)

// Step is one action of a Plan.
type Step struct {
	Kind StepKind `json:"kind"`
	// Path is relative to the sysfs root (the directory holding sys/),
	// e.g. "sys/bus/pci/devices/0000:17:00.0/driver_override".
	Path  string        `json:"path,omitempty"`
	Value string        `json:"value,omitempty"`
	Argv  []string      `json:"argv,omitempty"`
	Wait  time.Duration `json:"wait,omitempty"`
}

// Describe words the step, e.g.
// `write "vfio-pci" to /sys/bus/pci/devices/0000:17:00.0/driver_override`.
func (s Step) Describe() string {
	switch s.Kind {
	case StepWrite:
		return fmt.Sprintf("write %q to /%s", s.Value, s.Path)
	case StepExec:
		return "run " + strings.Join(s.Argv, " ")
	case StepWait:
		return "wait " + s.Wait.String()
	}
	return "unknown step " + quote(string(s.Kind))
}

// Plan is what the helper would do for one request.
type Plan struct {
	Request Request `json:"request"`
	Device  Device  `json:"device"`
	// Steps in order; empty for OpStatus and for a request that finds the
	// GPU already as asked.
	Steps []Step `json:"steps"`
}

// Describe words the plan, one line per step, for a dry run.
func (p Plan) Describe() []string {
	if len(p.Steps) == 0 {
		if p.Request.Op == OpStatus {
			return []string{"read the state of " + p.Request.PCI + " (changes nothing)"}
		}
		return []string{p.Request.PCI + " is already as asked: nothing to do"}
	}
	out := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		out[i] = s.Describe()
	}
	return out
}

// NewPlan validates req, reads the GPU from fsys (rooted where sys/ lives)
// and returns what the helper would do, touching nothing. It needs no
// privileges, so a dry run can print the plan. A request the helper would
// turn down returns a Refusal. For OpStatus the GPU need only exist and be
// an NVIDIA display controller; the other operations need Device.Check to
// pass, and set-cc-mode needs the CC tool installed.
func NewPlan(ctx context.Context, fsys fs.FS, cc CCTool, req Request) (Plan, error) {
	if err := req.Validate(); err != nil {
		return Plan{}, err
	}
	d, err := Inspect(ctx, fsys, req.PCI)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Request: req, Device: d}
	if req.Op == OpStatus {
		if d.VendorID != gpu.VendorNVIDIA {
			return Plan{}, d.Check()
		}
		return p, nil
	}
	if err := d.Check(); err != nil {
		return Plan{}, err
	}
	switch req.Op {
	case OpBindVFIO:
		p.Steps, err = bindSteps(fsys, d)
	case OpRestore:
		p.Steps, err = restoreSteps(fsys, d)
	case OpSetCCMode:
		if d.CCKnown && !d.CCCapable {
			return Plan{}, refuse("%s is a %s, which does not support confidential computing", d.Address, d.Name)
		}
		var script string
		if script, err = cc.Find(); err == nil {
			p.Steps = cc.ccSteps(script, d.Address, req.Mode)
		}
	}
	if err != nil {
		return Plan{}, err
	}
	return p, nil
}

// Attribute paths, from validated addresses and fixed names only.
func overridePath(addr string) string { return path.Join(pciDevicesDir, addr, "driver_override") }
func unbindPath(addr string) string   { return path.Join(pciDevicesDir, addr, "driver", "unbind") }
func bindPath(driver string) string   { return path.Join(pciDriversDir, driver, "bind") }

func write(p, v string) Step { return Step{Kind: StepWrite, Path: p, Value: v} }

// bindSteps: for each function not already on vfio-pci, set
// driver_override first (so nothing else grabs it once unbound), unbind it
// from its driver, and bind it to vfio-pci.
func bindSteps(fsys fs.FS, d Device) ([]Step, error) {
	if err := needDriver(fsys, driverVFIO, "run `modprobe vfio-pci` (and list vfio-pci in /etc/modules-load.d/ to load it at boot)"); err != nil {
		return nil, err
	}
	var steps []Step
	for _, f := range d.Passthrough() {
		if err := needFile(fsys, overridePath(f.Address)); err != nil {
			return nil, err
		}
		if f.DriverOverride != driverVFIO {
			steps = append(steps, write(overridePath(f.Address), driverVFIO))
		}
		if f.Driver == driverVFIO {
			continue
		}
		if f.Driver != "" {
			steps = append(steps, write(unbindPath(f.Address), f.Address))
		}
		steps = append(steps, write(bindPath(driverVFIO), f.Address))
	}
	return steps, nil
}

// restoreSteps: for each function, clear driver_override; one on vfio-pci
// (or on no driver) is unbound and bound back: the GPU to nvidia, its
// companions to whatever the kernel picks (drivers_probe). A function on
// another driver keeps it.
func restoreSteps(fsys fs.FS, d Device) ([]Step, error) {
	var steps []Step
	for _, f := range d.Passthrough() {
		if f.DriverOverride != "" {
			if err := needFile(fsys, overridePath(f.Address)); err != nil {
				return nil, err
			}
			// A newline clears driver_override; an empty write would not
			// reach the kernel.
			steps = append(steps, write(overridePath(f.Address), "\n"))
		}
		if f.Driver != driverVFIO && f.Driver != "" {
			continue
		}
		if f.Driver == driverVFIO {
			steps = append(steps, write(unbindPath(f.Address), f.Address))
		}
		if f.Role == RoleGPU {
			if err := needDriver(fsys, driverNVIDIA, "load the NVIDIA driver (`modprobe nvidia`) first"); err != nil {
				return nil, err
			}
			steps = append(steps, write(bindPath(driverNVIDIA), f.Address))
		} else {
			if err := needFile(fsys, driversProbe); err != nil {
				return nil, err
			}
			steps = append(steps, write(driversProbe, f.Address))
		}
	}
	return steps, nil
}

// needDriver refuses when the kernel driver is not loaded (its bind file
// is missing).
func needDriver(fsys fs.FS, driver, hint string) error {
	_, err := fs.Stat(fsys, bindPath(driver))
	if errors.Is(err, fs.ErrNotExist) {
		return refuse("the %s driver is not loaded (no /%s): %s", driver, bindPath(driver), hint)
	}
	return err
}

// needFile refuses when a sysfs attribute the plan writes is missing.
func needFile(fsys fs.FS, name string) error {
	_, err := fs.Stat(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return refuse("/%s does not exist on this kernel, and the helper needs it", name)
	}
	return err
}
