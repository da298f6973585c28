package launch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/helper"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

// Runner carries out the side effects of a launch. Execute is its only
// caller and hands it only what the plan's steps say; a Runner decides
// nothing. The real one is NewLinuxRunner; tests record the calls.
type Runner interface {
	// Helper asks the privileged GPU helper for one operation (set-cc-mode,
	// bind-vfio, restore) and returns its reply.
	Helper(ctx context.Context, req helper.Request) (helper.Reply, error)
	// RenderShare writes the spec share: every file of s under s.Dir,
	// built next to it and renamed into place.
	RenderShare(ctx context.Context, s Share) error
	// CreateDisk creates a sparse file of d.Size bytes; it refuses to
	// overwrite an existing file of another size.
	CreateDisk(ctx context.Context, d Disk) error
	// StartSealServer starts the supervised seal server and returns once
	// it answers (or has failed); ctx bounds the start only.
	StartSealServer(ctx context.Context, s SealServer) (Handle, error)
	// StartVM starts a supervised QEMU for one instance and returns at
	// once; ctx bounds the start only. The VM keeps running (restarted
	// with backoff) until its handle's Stop.
	StartVM(ctx context.Context, v VM) (VMHandle, error)
}

// Handle is something a launch started and keeps running.
type Handle interface {
	// Stop stops it for good and waits, bounded by ctx, until it is gone.
	Stop(ctx context.Context) error
	// Done is closed when supervision has ended: stopped, or gave up.
	Done() <-chan struct{}
	// Err says why it gave up; nil while it runs or after a Stop.
	Err() error
}

// VMHandle is a supervised worker VM.
type VMHandle interface {
	Handle
	Status() vm.SupervisorStatus
}

// Share is the spec share of one instance (the files of a spec-share step).
type Share struct {
	// Dir is the share's directory (Instance.SpecDir).
	Dir   string
	Files []ShareFile
}

// ShareFile is one file of a Share.
type ShareFile struct {
	// Name is slash-separated, relative to Share.Dir.
	Name string
	Mode fs.FileMode
	// From is the host file copied; empty when Data is the content.
	From string
	// Data is a generated file's content. runtime.vars holds the node
	// wallet key and HF token: never log it.
	Data []byte
}

// String shows the file without its content.
func (f ShareFile) String() string {
	if f.From != "" {
		return fmt.Sprintf("%s (%04o) from %s", f.Name, f.Mode, f.From)
	}
	return fmt.Sprintf("%s (%04o, %d bytes generated)", f.Name, f.Mode, len(f.Data))
}

// Disk is a persistent disk to create.
type Disk struct {
	Path string
	Size int64
	Mode fs.FileMode
}

// SealServer is what the seal-server step runs.
type SealServer struct {
	// Argv is the step's command: the binary, then its arguments.
	Argv []string
}

// VM is one instance's QEMU.
type VM struct {
	Instance Instance
	// Argv is the qemu step's command, executable first.
	Argv []string
	// QMPSocket, PIDFile and Console are the instance's files the
	// command names or QEMU's output goes to.
	QMPSocket, PIDFile, Console string
	// OnEvent receives the supervisor's events; it returns at once.
	OnEvent func(vm.SupervisorEvent)
}

// Console log of an instance, as engine.InstanceFiles lays it out.
const consoleName = "console.log"

// UndoTimeout bounds undoing a failed launch when the caller's context
// has ended (a Ctrl-C during the launch).
const UndoTimeout = 3 * time.Minute

// ErrNotReady is wrapped by the error of Execute for a plan with blocked
// steps.
var ErrNotReady = errors.New("the launch plan is not ready")

// NotReadyError lists every reason a plan cannot be carried out.
type NotReadyError struct {
	// Reasons are "step N (title): reason", in step order.
	Reasons []string
}

func (e *NotReadyError) Error() string {
	return fmt.Sprintf("%s: nothing was done; %d blocking reasons:\n  - %s",
		ErrNotReady, len(e.Reasons), strings.Join(e.Reasons, "\n  - "))
}

// Is makes errors.Is(err, ErrNotReady) true.
func (e *NotReadyError) Is(target error) bool { return target == ErrNotReady }

// StepError is a launch that failed at one step and was undone.
type StepError struct {
	Step Step
	Err  error
	// Undone says what was undone, in the order it was.
	Undone []string
	// Left says what was left in place on purpose.
	Left []string
	// UndoErr is what went wrong while undoing; nil when all was undone.
	UndoErr error
}

func (e *StepError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "launch failed at step %d (%s): %v", e.Step.Number, e.Step.Title, e.Err)
	if len(e.Undone) > 0 {
		b.WriteString("; undone: " + strings.Join(e.Undone, ", "))
	} else {
		b.WriteString("; nothing needed undoing")
	}
	if len(e.Left) > 0 {
		b.WriteString("; left in place: " + strings.Join(e.Left, ", "))
	}
	if e.UndoErr != nil {
		fmt.Fprintf(&b, "; undoing failed too: %v", e.UndoErr)
	}
	return b.String()
}

func (e *StepError) Unwrap() []error {
	if e.UndoErr == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.UndoErr}
}

// op is one step turned into what the Runner is asked; do is nil for a
// step that only checks (host, release, config, liteservers, GPUs, model).
type op struct {
	step Step
	in   *Instance
	do   func(ctx context.Context, r *Running) error
}

// Execute carries out a Ready plan's steps in order through run and
// returns the running launch. Every effect comes from the plan: the
// helper operations its GPU steps name, the files its spec-share and
// persistent-disk steps list, and the argv of its seal-server and qemu
// steps; Execute recomputes nothing.
//
// A plan that is not Ready is refused with a *NotReadyError listing every
// blocking reason, and nothing is done. When a step fails, or ctx ends,
// what was done is undone in reverse order: the started VMs and the seal
// server are stopped and the GPUs this launch bound to vfio-pci are given
// back (helper restore). Created persistent disks are left in place (they
// hold the worker's state) and so are written spec shares (rewritten by
// the next launch); the *StepError names the failed step and says all of
// this.
//
// Once running, each instance is supervised on its own: a VM that keeps
// failing gives up alone, and the others keep running (Running.Done
// closes when every one has ended). Stop them with Running.Stop.
func Execute(ctx context.Context, p Plan, run Runner) (*Running, error) {
	if err := readyErr(p); err != nil {
		return nil, err
	}
	ops, err := operations(p)
	if err != nil {
		return nil, err
	}
	r := &Running{plan: p, run: run, events: make(chan InstanceEvent, eventBuffer), done: make(chan struct{})}
	for _, o := range ops {
		if o.do == nil {
			continue
		}
		err := ctx.Err()
		if err == nil {
			err = o.do(ctx, r)
		}
		if err != nil {
			return nil, r.fail(ctx, o.step, err)
		}
	}
	go r.watch()
	return r, nil
}

// readyErr lists every blocking reason of p, or returns nil.
func readyErr(p Plan) error {
	var reasons []string
	for _, s := range p.Steps {
		for _, b := range s.Blocked {
			reasons = append(reasons, fmt.Sprintf("step %d (%s): %s", s.Number, s.Title, b))
		}
	}
	if len(reasons) > 0 {
		return &NotReadyError{Reasons: reasons}
	}
	if !p.Ready {
		return &NotReadyError{Reasons: []string{"the plan is not marked ready"}}
	}
	if len(p.Instances) == 0 {
		return &NotReadyError{Reasons: []string{"the plan has no instance"}}
	}
	return nil
}

// operations turns every step into its operation, checking them all
// before anything is done.
func operations(p Plan) ([]op, error) {
	var ops []op
	for _, s := range p.Steps {
		o := op{step: s}
		if s.Instance != nil {
			for i := range p.Instances {
				if p.Instances[i].Number == *s.Instance {
					o.in = &p.Instances[i]
				}
			}
			if o.in == nil {
				return nil, fmt.Errorf("step %d (%s): the plan has no instance %d", s.Number, s.Title, *s.Instance)
			}
		}
		bad := func(why string) error { return fmt.Errorf("step %d (%s): %s", s.Number, s.Title, why) }
		switch s.Kind {
		case KindHost, KindRelease, KindConfig, KindLiteservers, KindGPUs, KindModelDisk:
			// Checks and choices the plan has made; nothing to do.
		case KindSealServer:
			if len(s.Argv) > 0 {
				o.do = sealOp(s)
			}
		case KindCCMode, KindBindVFIO:
			if o.in == nil {
				return nil, bad("a GPU step belongs to an instance")
			}
			if s.Helper != nil {
				if s.Helper.PCI != o.in.GPU {
					return nil, bad("the helper request names " + s.Helper.PCI + ", not the instance's GPU " + o.in.GPU)
				}
				o.do = helperOp(*s.Helper)
			}
		case KindSpecShare:
			if o.in == nil {
				return nil, bad("the spec share belongs to an instance")
			}
			sh, err := shareOf(s, *o.in)
			if err != nil {
				return nil, bad(err.Error())
			}
			o.do = func(ctx context.Context, r *Running) error { return r.run.RenderShare(ctx, sh) }
		case KindPersistentDisk:
			if len(s.Files) > 1 {
				return nil, bad("a persistent-disk step creates one file")
			}
			if len(s.Files) == 1 {
				d, err := diskOf(s.Files[0])
				if err != nil {
					return nil, bad(err.Error())
				}
				o.do = func(ctx context.Context, r *Running) error {
					if err := r.run.CreateDisk(ctx, d); err != nil {
						return err
					}
					r.disks = append(r.disks, d.Path)
					return nil
				}
			}
		case KindQEMU:
			if o.in == nil || len(s.Argv) == 0 {
				return nil, bad("a qemu step needs an instance and a command")
			}
			o.do = vmOp(s, *o.in)
		default:
			return nil, bad("unknown step kind " + strconv.Quote(string(s.Kind)))
		}
		ops = append(ops, o)
	}
	return ops, nil
}

func sealOp(s Step) func(context.Context, *Running) error {
	argv := append([]string(nil), s.Argv...)
	return func(ctx context.Context, r *Running) error {
		h, err := r.run.StartSealServer(ctx, SealServer{Argv: argv})
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.seal = h
		r.mu.Unlock()
		return nil
	}
}

func helperOp(req helper.Request) func(context.Context, *Running) error {
	return func(ctx context.Context, r *Running) error {
		rep, err := r.run.Helper(ctx, req)
		if err != nil {
			return err
		}
		// Only a GPU this launch moved to vfio-pci is given back: one that
		// was there already (Done empty) stays as the host had it.
		if req.Op == helper.OpBindVFIO && len(rep.Done) > 0 {
			r.mu.Lock()
			r.bound = append(r.bound, req.PCI)
			r.mu.Unlock()
		}
		return nil
	}
}

func vmOp(s Step, in Instance) func(context.Context, *Running) error {
	argv := append([]string(nil), s.Argv...)
	return func(ctx context.Context, r *Running) error {
		v := VM{Instance: in, Argv: argv,
			QMPSocket: filepath.Join(in.Dir, qmpName), PIDFile: filepath.Join(in.Dir, pidName), Console: filepath.Join(in.Dir, consoleName),
			OnEvent: func(ev vm.SupervisorEvent) { r.emit(InstanceEvent{Instance: in.Number, GPU: in.GPU, Event: ev}) }}
		h, err := r.run.StartVM(ctx, v)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.vms = append(r.vms, &instanceRun{in: in, h: h})
		r.mu.Unlock()
		return nil
	}
}

// shareOf is the spec-share step's files, relative to the instance's
// spec directory.
func shareOf(s Step, in Instance) (Share, error) {
	sh := Share{Dir: in.SpecDir}
	root := filepath.ToSlash(in.SpecDir) + "/"
	for _, f := range s.Files {
		name, ok := strings.CutPrefix(f.Path, root)
		if !ok || name == "" || !fs.ValidPath(name) {
			return Share{}, fmt.Errorf("%s is not inside the spec share %s", f.Path, in.SpecDir)
		}
		mode, err := parseMode(f.Mode)
		if err != nil {
			return Share{}, fmt.Errorf("%s: %w", f.Path, err)
		}
		sf := ShareFile{Name: name, Mode: mode}
		switch {
		case f.content != nil:
			sf.Data = f.content.data
		case f.From != "":
			sf.From = f.From
		default:
			return Share{}, fmt.Errorf("%s: the plan has neither its content nor a file to copy", f.Path)
		}
		sh.Files = append(sh.Files, sf)
	}
	if len(sh.Files) == 0 {
		return Share{}, errors.New("the spec share has no files")
	}
	return sh, nil
}

func diskOf(f File) (Disk, error) {
	if !f.Sparse || f.Size <= 0 {
		return Disk{}, fmt.Errorf("%s is not a sparse disk of a size", f.Path)
	}
	mode, err := parseMode(f.Mode)
	if err != nil {
		return Disk{}, fmt.Errorf("%s: %w", f.Path, err)
	}
	return Disk{Path: f.Path, Size: f.Size, Mode: mode}, nil
}

// parseMode reads a plan's octal permission such as "0644".
func parseMode(s string) (fs.FileMode, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m&^0o777 != 0 {
		return 0, fmt.Errorf("mode %q is not a permission such as 0644", s)
	}
	return fs.FileMode(m), nil
}

// InstanceEvent is one supervisor event of one instance.
type InstanceEvent struct {
	Instance int                `json:"instance"`
	GPU      string             `json:"gpu"`
	Event    vm.SupervisorEvent `json:"event"`
}

// InstanceState is a snapshot of one instance.
type InstanceState struct {
	Instance Instance            `json:"instance"`
	Status   vm.SupervisorStatus `json:"status"`
}

// eventBuffer is how many events wait for a slow reader; later ones are
// dropped (Running.Dropped counts them), never blocking a supervisor.
const eventBuffer = 256

type instanceRun struct {
	in Instance
	h  VMHandle
}

// Running is a launch that Execute carried out: one supervised VM per
// instance, the seal server, and the GPUs it bound.
type Running struct {
	plan Plan
	run  Runner

	mu       sync.Mutex
	seal     Handle
	vms      []*instanceRun
	bound    []string // GPUs this launch bound to vfio-pci, in order
	disks    []string // persistent disks it created
	keepGPUs bool
	closed   bool // events closed
	dropped  int
	events   chan InstanceEvent
	done     chan struct{}

	stopOnce sync.Once
	stopErr  error
}

// Plan is the plan that was carried out.
func (r *Running) Plan() Plan { return r.plan }

// Instances returns each instance's state, in plan order.
func (r *Running) Instances() []InstanceState {
	r.mu.Lock()
	vms := append([]*instanceRun(nil), r.vms...)
	r.mu.Unlock()
	out := make([]InstanceState, len(vms))
	for i, v := range vms {
		out[i] = InstanceState{Instance: v.in, Status: v.h.Status()}
	}
	return out
}

// Events delivers every instance's supervisor events; it is closed once
// Stop has finished.
func (r *Running) Events() <-chan InstanceEvent { return r.events }

// Dropped counts events not delivered because nobody read Events.
func (r *Running) Dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Done is closed when every instance's supervision has ended (each gave
// up, or Stop stopped them). One instance giving up does not stop the
// others.
func (r *Running) Done() <-chan struct{} { return r.done }

// SealServer is the seal server's handle; nil when the plan runs none.
func (r *Running) SealServer() Handle {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seal
}

// KeepGPUs makes Stop leave the GPUs on vfio-pci, ready for the next
// launch, instead of giving them back to their driver.
func (r *Running) KeepGPUs() {
	r.mu.Lock()
	r.keepGPUs = true
	r.mu.Unlock()
}

// Stop stops every VM (ACPI power-down through its supervisor, all at
// once), then the seal server, then gives back the GPUs this launch bound
// to vfio-pci (helper restore, in reverse order) unless KeepGPUs was
// called. It is bounded by ctx; a second call returns the first's result.
func (r *Running) Stop(ctx context.Context) error {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		restore := !r.keepGPUs
		r.mu.Unlock()
		_, r.stopErr = r.teardown(ctx, restore)
		if r.stopErr == nil {
			select { // every supervision has ended
			case <-r.done:
			case <-ctx.Done():
			}
		}
		r.mu.Lock()
		r.closed = true
		close(r.events)
		r.mu.Unlock()
	})
	return r.stopErr
}

func (r *Running) emit(ev InstanceEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	select {
	case r.events <- ev:
	default:
		r.dropped++
	}
}

// watch closes done once every VM's supervision has ended.
func (r *Running) watch() {
	r.mu.Lock()
	vms := append([]*instanceRun(nil), r.vms...)
	r.mu.Unlock()
	for _, v := range vms {
		<-v.h.Done()
	}
	close(r.done)
}

// teardown undoes a launch: the VMs (concurrently), the seal server, then
// the GPUs in reverse order. It returns what it did.
func (r *Running) teardown(ctx context.Context, restore bool) ([]string, error) {
	r.mu.Lock()
	vms := append([]*instanceRun(nil), r.vms...)
	seal := r.seal
	bound := append([]string(nil), r.bound...)
	r.mu.Unlock()

	var done []string
	errs := make([]error, len(vms))
	var wg sync.WaitGroup
	for i, v := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := v.h.Stop(ctx); err != nil {
				errs[i] = fmt.Errorf("stop instance %d: %w", v.in.Number, err)
			}
		}()
	}
	wg.Wait()
	for i, v := range vms {
		if errs[i] == nil {
			done = append(done, fmt.Sprintf("stopped instance %d", v.in.Number))
		}
	}
	if seal != nil {
		if err := seal.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop the seal server: %w", err))
		} else {
			done = append(done, "stopped the seal server")
		}
	}
	if restore {
		for i := len(bound) - 1; i >= 0; i-- {
			if _, err := r.run.Helper(ctx, helper.Request{Op: helper.OpRestore, PCI: bound[i]}); err != nil {
				errs = append(errs, fmt.Errorf("give GPU %s back to its driver (helper restore %s): %w", bound[i], bound[i], err))
			} else {
				done = append(done, "gave GPU "+bound[i]+" back to its driver")
			}
		}
	}
	return done, errors.Join(errs...)
}

// fail undoes what Execute did before step s failed with err.
func (r *Running) fail(ctx context.Context, s Step, err error) error {
	uctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		uctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), UndoTimeout)
		defer cancel()
	}
	undone, uerr := r.teardown(uctx, true)
	r.mu.Lock()
	r.closed = true
	close(r.events)
	disks := append([]string(nil), r.disks...)
	r.mu.Unlock()
	var left []string
	for _, d := range disks {
		left = append(left, "the persistent disk "+d+" (it holds the worker's state)")
	}
	left = append(left, sharesWritten(r.plan, s)...)
	return &StepError{Step: s, Err: err, Undone: undone, Left: left, UndoErr: uerr}
}

// sharesWritten names the spec shares written before step failed.
func sharesWritten(p Plan, failed Step) []string {
	var out []string
	for _, s := range p.Steps {
		if s.Number >= failed.Number {
			break
		}
		if s.Kind == KindSpecShare && s.Instance != nil {
			for _, in := range p.Instances {
				if in.Number == *s.Instance {
					out = append(out, "the spec share "+in.SpecDir+" (the next launch rewrites it)")
				}
			}
		}
	}
	return out
}

// RunnerOptions configure NewHostRunner.
type RunnerOptions struct {
	// DataDir is the app's data directory (absolute): the seal server
	// logs to its logs/ folder.
	DataDir string
	// Helper runs the GPU helper; nil: helper.NewClient() (pkexec).
	Helper *helper.Client
}

// gaveUp is a VM supervisor's give-up as an error; nil otherwise.
func gaveUp(st vm.SupervisorStatus) error {
	if st.Phase != vm.SupervisorGaveUp {
		return nil
	}
	if st.LastError == "" {
		return errors.New("gave up restarting the worker VM")
	}
	return errors.New(st.LastError)
}
