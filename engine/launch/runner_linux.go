//go:build linux

package launch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing/fstest"

	"github.com/cocoon-provider/cocoon-provider/engine/helper"
	"github.com/cocoon-provider/cocoon-provider/engine/sealserver"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// hostRunner is the Runner of a Linux host: files through os, the GPU
// helper through pkexec, the seal server and QEMU under supervisors.
type hostRunner struct {
	opts   RunnerOptions
	helper *helper.Client
}

// NewHostRunner returns the Runner that changes this host. Only Execute,
// given a Ready plan, should call it.
func NewHostRunner(opts RunnerOptions) (Runner, error) {
	if opts.DataDir == "" || !filepath.IsAbs(opts.DataDir) {
		return nil, errors.New("host runner: the data directory must be an absolute path")
	}
	c := opts.Helper
	if c == nil {
		c = helper.NewClient()
	}
	return &hostRunner{opts: opts, helper: c}, nil
}

func (h *hostRunner) Helper(ctx context.Context, req helper.Request) (helper.Reply, error) {
	return h.helper.Do(ctx, req)
}

// RenderShare renders the share with worker.RenderSpec: the static files
// (with the plan's modes) from memory, the runtime part as its own.
func (h *hostRunner) RenderShare(ctx context.Context, s Share) error {
	static := fstest.MapFS{}
	runtime := map[string][]byte{}
	var vars *worker.RuntimeVars
	for _, f := range s.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		data := f.Data
		if f.From != "" {
			b, err := os.ReadFile(f.From)
			if err != nil {
				return fmt.Errorf("spec share: %w", err)
			}
			data = b
		}
		inner, isRuntime := strings.CutPrefix(f.Name, worker.RuntimeDir+"/")
		switch {
		case f.Name == worker.RuntimeVarsFile:
			v, err := worker.ParseRuntimeVars(data)
			if err != nil {
				return fmt.Errorf("spec share: %s: %w", f.Name, err)
			}
			vars = &v
		case isRuntime:
			if f.Mode != 0o600 {
				return fmt.Errorf("spec share: %s: runtime files are written 0600, the plan says %04o", f.Name, f.Mode)
			}
			runtime[inner] = data
		default:
			if f.Mode != 0o644 && f.Mode != 0o755 {
				return fmt.Errorf("spec share: %s: mode %04o; the guest takes 0644 or 0755 only", f.Name, f.Mode)
			}
			static[f.Name] = &fstest.MapFile{Data: data, Mode: f.Mode}
		}
	}
	if vars == nil {
		return errors.New("spec share: the plan has no " + worker.RuntimeVarsFile)
	}
	if err := os.MkdirAll(filepath.Dir(s.Dir), 0o700); err != nil {
		return fmt.Errorf("spec share: %w", err)
	}
	return worker.RenderSpec(s.Dir, static, *vars, worker.RenderOptions{Replace: true, RuntimeFiles: runtime})
}

// CreateDisk creates a new sparse file; an existing one of the same size
// is kept (it holds the worker's state), any other is refused.
func (h *hostRunner) CreateDisk(ctx context.Context, d Disk) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(d.Path), 0o700); err != nil {
		return fmt.Errorf("persistent disk: %w", err)
	}
	f, err := os.OpenFile(d.Path, os.O_RDWR|os.O_CREATE|os.O_EXCL, d.Mode)
	if errors.Is(err, fs.ErrExist) {
		info, serr := os.Stat(d.Path)
		switch {
		case serr != nil:
			return fmt.Errorf("persistent disk: %w", serr)
		case !info.Mode().IsRegular() || info.Size() != d.Size:
			return fmt.Errorf("persistent disk %s appeared since the plan was made and is not a %d-byte file: it was left as it is; look at it, then launch again", d.Path, d.Size)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("persistent disk: %w", err)
	}
	err = f.Truncate(d.Size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(d.Path) // the file this call created, still empty
		return fmt.Errorf("persistent disk: %w", err)
	}
	return nil
}

// StartSealServer starts the release's seal server, refusing a command
// other than the one sealserver.Describe makes for that release, and
// waits until it answers.
func (h *hostRunner) StartSealServer(ctx context.Context, s SealServer) (Handle, error) {
	if len(s.Argv) == 0 {
		return nil, errors.New("seal server: no command")
	}
	root, ok := strings.CutSuffix(filepath.ToSlash(s.Argv[0]), "/"+sealserver.BinaryPath)
	if !ok {
		return nil, fmt.Errorf("seal server: %s is not a release's %s", s.Argv[0], sealserver.BinaryPath)
	}
	plan := sealserver.Describe(sealserver.Config{ReleaseDir: filepath.FromSlash(root), DataDir: h.opts.DataDir})
	if !slices.Equal(plan.Argv(), s.Argv) {
		return nil, fmt.Errorf("seal server: the plan's command %q is not the release's %q", s.Argv, plan.Argv())
	}
	ready := make(chan struct{})
	var once sync.Once
	srv, err := sealserver.New(sealserver.Options{Plan: plan, OnEvent: func(ev sealserver.Event) {
		if ev.Kind == sealserver.EventReady {
			once.Do(func() { close(ready) })
		}
	}})
	if err != nil {
		return nil, err
	}
	// The server lives until its Stop, not until ctx ends.
	if err := srv.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	select {
	case <-ready:
		return srv, nil
	case <-srv.Done():
		if err := srv.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("seal server: it stopped before it answered")
	case <-ctx.Done():
		err := ctx.Err()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), UndoTimeout)
		defer cancel()
		return nil, errors.Join(err, srv.Stop(sctx))
	}
}

// StartVM supervises QEMU with the plan's argv.
func (h *hostRunner) StartVM(ctx context.Context, v VM) (VMHandle, error) {
	if len(v.Argv) == 0 {
		return nil, errors.New("qemu: no command")
	}
	if err := os.MkdirAll(v.Instance.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	exe, args := v.Argv[0], v.Argv[1:]
	sup, err := vm.NewSupervisor(vm.SupervisorOptions{
		New: func(context.Context, int) (vm.Instance, error) {
			return vm.NewProcess(exe, args, vm.ProcessOptions{QMPSocket: v.QMPSocket, PIDFile: v.PIDFile,
				Console: vm.ConsoleOptions{Path: v.Console}}), nil
		},
		OnEvent: v.OnEvent,
	})
	if err != nil {
		return nil, err
	}
	if err := sup.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	return vmHandle{sup}, nil
}

// vmHandle is a VM's supervisor as a VMHandle.
type vmHandle struct{ sup *vm.Supervisor }

func (h vmHandle) Stop(ctx context.Context) error { return h.sup.Stop(ctx) }
func (h vmHandle) Done() <-chan struct{}          { return h.sup.Done() }
func (h vmHandle) Status() vm.SupervisorStatus    { return h.sup.Status() }
func (h vmHandle) Err() error                     { return gaveUp(h.sup.Status()) }

var _ Runner = (*hostRunner)(nil)
