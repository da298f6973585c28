package helper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// maxWait bounds a StepWait.
const maxWait = 30 * time.Second

// Executor carries out plans: sysfs writes through Root, tool runs through
// CC. It is the only part of the package that changes anything.
type Executor struct {
	// Root is the directory holding sys/ ("/" in production). Paths
	// resolve inside it, symlinks included.
	Root *os.Root
	// CC runs the CC tool.
	CC CCTool
}

// Apply carries out p's steps in order and returns the descriptions of
// those done. Before anything is done, every step is checked again: a
// write must go to a fixed sysfs attribute of one of the plan's functions
// (or a driver's bind file, or drivers_probe) with the value the helper
// would write there, and a run must be one of the CC tool's fixed command
// lines for the plan's GPU. It stops at the first failure.
func (e Executor) Apply(ctx context.Context, p Plan) ([]string, error) {
	if e.Root == nil {
		return nil, errors.New("gpu helper: no sysfs root")
	}
	if err := p.Request.Validate(); err != nil {
		return nil, err
	}
	if p.Device.Address != p.Request.PCI {
		return nil, refuse("plan is for %s, not %s", quote(p.Device.Address), p.Request.PCI)
	}
	addrs := map[string]bool{}
	for _, f := range p.Device.Passthrough() {
		if ValidPCI(f.Address) != nil {
			return nil, refuse("plan names PCI address %s", quote(f.Address))
		}
		addrs[f.Address] = true
	}
	for _, s := range p.Steps {
		if err := e.allowed(s, p.Request.PCI, addrs); err != nil {
			return nil, err
		}
	}
	var done []string
	for _, s := range p.Steps {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		var err error
		switch s.Kind {
		case StepWrite:
			err = e.write(s.Path, s.Value)
		case StepExec:
			_, err = e.CC.run(ctx, s.Argv)
		case StepWait:
			t := time.NewTimer(s.Wait)
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-t.C:
			}
			t.Stop()
		}
		if err != nil {
			return done, fmt.Errorf("%s: %w", s.Describe(), err)
		}
		done = append(done, s.Describe())
	}
	return done, nil
}

// allowed checks one step against the fixed set of writes and runs.
func (e Executor) allowed(s Step, gpuAddr string, addrs map[string]bool) error {
	switch s.Kind {
	case StepWrite:
		if allowedWrite(s.Path, s.Value, addrs) {
			return nil
		}
		return refuse("not an allowed write: %s to %s", quote(s.Value), quote(s.Path))
	case StepExec:
		if e.CC.allowedArgv(s.Argv, gpuAddr) {
			return nil
		}
		return refuse("not an allowed command line: %s", quote(strings.Join(s.Argv, " ")))
	case StepWait:
		if s.Wait > 0 && s.Wait <= maxWait {
			return nil
		}
		return refuse("not an allowed wait: %v", s.Wait)
	}
	return refuse("unknown step kind %s", quote(string(s.Kind)))
}

// allowedWrite is the whole set of writes the helper makes.
func allowedWrite(p, v string, addrs map[string]bool) bool {
	for a := range addrs {
		switch p {
		case overridePath(a):
			return v == driverVFIO || v == "\n"
		case unbindPath(a):
			return v == a
		}
	}
	switch p {
	case bindPath(driverVFIO), bindPath(driverNVIDIA), driversProbe:
		return addrs[v]
	}
	return false
}

// write writes v to the existing file p under Root: no file is created,
// and the open fails on a path that leaves Root.
func (e Executor) write(p, v string) error {
	f, err := e.Root.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(v)
	cerr := f.Close()
	return errors.Join(werr, cerr)
}
