package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/helper"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// recorder is a Runner that records every call, as one line each, and
// fails the call whose line starts with failOn.
type recorder struct {
	t      *testing.T
	failOn string
	// after runs after a call has been recorded (and succeeded).
	after func(call string)

	mu     sync.Mutex
	calls  []string
	shares map[string]Share // by Dir
	vms    map[int]*fakeVM
	argv   map[int][]string
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, shares: map[string]Share{}, vms: map[int]*fakeVM{}, argv: map[int][]string{}}
}

func (r *recorder) call(ctx context.Context, line string) error {
	r.mu.Lock()
	r.calls = append(r.calls, line)
	r.mu.Unlock()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if r.failOn != "" && strings.HasPrefix(line, r.failOn) {
		return errors.New("injected failure")
	}
	if r.after != nil {
		r.after(line)
	}
	return nil
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recorder) Helper(ctx context.Context, req helper.Request) (helper.Reply, error) {
	if err := r.call(ctx, "helper "+string(req.Op)+" "+req.PCI); err != nil {
		return helper.Reply{}, err
	}
	return helper.Reply{OK: true, Op: req.Op, PCI: req.PCI, Done: []string{"did " + string(req.Op)}}, nil
}

func (r *recorder) RenderShare(ctx context.Context, s Share) error {
	if err := r.call(ctx, "share "+s.Dir); err != nil {
		return err
	}
	r.mu.Lock()
	r.shares[s.Dir] = s
	r.mu.Unlock()
	return nil
}

func (r *recorder) CreateDisk(ctx context.Context, d Disk) error {
	return r.call(ctx, fmt.Sprintf("disk %s %d %04o", d.Path, d.Size, d.Mode))
}

func (r *recorder) StartSealServer(ctx context.Context, s SealServer) (Handle, error) {
	if err := r.call(ctx, "seal start "+s.Argv[0]); err != nil {
		return nil, err
	}
	return &fakeSeal{r: r, done: make(chan struct{})}, nil
}

func (r *recorder) StartVM(ctx context.Context, v VM) (VMHandle, error) {
	if err := r.call(ctx, fmt.Sprintf("vm start %d", v.Instance.Number)); err != nil {
		return nil, err
	}
	f := &fakeVM{r: r, n: v.Instance.Number, onEvent: v.OnEvent, done: make(chan struct{}), phase: vm.SupervisorRunning}
	r.mu.Lock()
	r.vms[v.Instance.Number] = f
	r.argv[v.Instance.Number] = v.Argv
	r.mu.Unlock()
	return f, nil
}

type fakeSeal struct {
	r    *recorder
	done chan struct{}
	once sync.Once
}

func (s *fakeSeal) Stop(ctx context.Context) error {
	if ctx.Err() != nil {
		s.r.t.Errorf("the seal server was stopped with an ended context")
	}
	s.r.mu.Lock()
	s.r.calls = append(s.r.calls, "seal stop")
	s.r.mu.Unlock()
	s.once.Do(func() { close(s.done) })
	return nil
}
func (s *fakeSeal) Done() <-chan struct{} { return s.done }
func (s *fakeSeal) Err() error            { return nil }

type fakeVM struct {
	r       *recorder
	n       int
	onEvent func(vm.SupervisorEvent)
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	phase   vm.SupervisorPhase
}

func (v *fakeVM) Stop(ctx context.Context) error {
	if ctx.Err() != nil {
		v.r.t.Errorf("instance %d was stopped with an ended context", v.n)
	}
	v.r.mu.Lock()
	v.r.calls = append(v.r.calls, fmt.Sprintf("vm stop %d", v.n))
	v.r.mu.Unlock()
	v.mu.Lock()
	if v.phase != vm.SupervisorGaveUp {
		v.phase = vm.SupervisorStopped
	}
	v.mu.Unlock()
	v.once.Do(func() { close(v.done) })
	return nil
}

// giveUp is the supervisor giving up after too many fast failures.
func (v *fakeVM) giveUp() {
	v.mu.Lock()
	v.phase = vm.SupervisorGaveUp
	v.mu.Unlock()
	v.onEvent(vm.SupervisorEvent{Kind: vm.EventGaveUp, Error: "too many fast failures"})
	v.once.Do(func() { close(v.done) })
}

func (v *fakeVM) Done() <-chan struct{} { return v.done }
func (v *fakeVM) Err() error            { return gaveUp(v.Status()) }
func (v *fakeVM) Status() vm.SupervisorStatus {
	v.mu.Lock()
	defer v.mu.Unlock()
	return vm.SupervisorStatus{Phase: v.phase}
}

// nvidiaFS shows every GPU of the fixture on the nvidia driver, so that
// the plan binds them to vfio-pci.
type nvidiaFS struct{ fs.FS }

func (n nvidiaFS) ReadLink(name string) (string, error) {
	t, err := fs.ReadLink(n.FS, name)
	if err == nil && path.Base(name) == "driver" && path.Base(t) == "vfio-pci" {
		return path.Join(path.Dir(t), "nvidia"), nil
	}
	return t, err
}

func (n nvidiaFS) Lstat(name string) (fs.FileInfo, error) { return fs.Lstat(n.FS, name) }

func (n nvidiaFS) Open(name string) (fs.File, error) {
	if path.Base(name) == "driver_override" {
		return fs.FS(emptyFS{}).Open("x")
	}
	return n.FS.Open(name)
}

// emptyFS has one empty file, "x" (an unset driver_override).
type emptyFS struct{}

func (emptyFS) Open(string) (fs.File, error) { return (&memFile{}), nil }

type memFile struct{}

func (*memFile) Stat() (fs.FileInfo, error) { return memInfo{}, nil }
func (*memFile) Read([]byte) (int, error)   { return 0, io.EOF }
func (*memFile) Close() error               { return nil }

type memInfo struct{}

func (memInfo) Name() string       { return "driver_override" }
func (memInfo) Size() int64        { return 0 }
func (memInfo) Mode() fs.FileMode  { return 0o644 }
func (memInfo) ModTime() time.Time { return time.Time{} }
func (memInfo) IsDir() bool        { return false }
func (memInfo) Sys() any           { return nil }

// nvidiaHost is the tdx-8xh100 host with its GPUs on the nvidia driver.
type nvidiaHost struct{ *fixtureHost }

func (h nvidiaHost) FS() fs.FS { return nvidiaFS{h.fixtureHost.FS()} }

// readyPlan is the Ready plan of the tdx-8xh100 host for 8 instances;
// with bind, its GPUs are on nvidia and each is bound to vfio-pci.
func readyPlan(t *testing.T, bind bool) Plan {
	t.Helper()
	f := fixtures(t)["tdx-8xh100"]
	f.host.t = t
	var h Host = f.host
	if bind {
		h = nvidiaHost{f.host}
	}
	p, err := NewPlan(context.Background(), h, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Ready || len(p.Instances) != 8 {
		t.Fatalf("plan: ready %v, %d instances; blocked %v", p.Ready, len(p.Instances), blocked(p))
	}
	return p
}

// expectedCalls walks the plan as Execute must: its steps in order.
func expectedCalls(p Plan) []string {
	var out []string
	for _, s := range p.Steps {
		var in Instance
		if s.Instance != nil {
			in = p.Instances[*s.Instance]
		}
		switch {
		case s.Kind == KindSealServer:
			out = append(out, "seal start "+s.Argv[0])
		case s.Helper != nil:
			out = append(out, "helper "+string(s.Helper.Op)+" "+s.Helper.PCI)
		case s.Kind == KindSpecShare:
			out = append(out, "share "+in.SpecDir)
		case s.Kind == KindPersistentDisk && len(s.Files) == 1:
			out = append(out, fmt.Sprintf("disk %s %d 0600", s.Files[0].Path, int64(PersistentDiskSize)))
		case s.Kind == KindQEMU:
			out = append(out, fmt.Sprintf("vm start %d", in.Number))
		}
	}
	return out
}

func TestExecuteOrder(t *testing.T) {
	p := readyPlan(t, true)
	rec := newRecorder(t)
	r, err := Execute(context.Background(), p, rec)
	if err != nil {
		t.Fatal(err)
	}
	got := rec.Calls()
	inst := dataDir + "/instances/0"
	// The plan's order: the seal server before any GPU, then per
	// instance the bind, the spec share, the disk and the VM.
	head := []string{
		"seal start " + dataDir + "/releases/2025.11.20/bin/seal-server",
		"helper bind-vfio 0000:18:00.0",
		"share " + inst + "/spec",
		fmt.Sprintf("disk %s/persistent-worker-0.img %d 0600", inst, int64(PersistentDiskSize)),
		"vm start 0",
		"helper bind-vfio 0000:2a:00.0",
	}
	if len(got) != 1+8*4 || !slices.Equal(got[:len(head)], head) {
		t.Fatalf("calls:\n%s", strings.Join(got, "\n"))
	}
	if want := expectedCalls(p); !slices.Equal(got, want) {
		t.Errorf("calls differ from the plan's steps:\n got %q\nwant %q", got, want)
	}
	for _, s := range p.Steps {
		if s.Kind != KindQEMU {
			continue
		}
		if a := rec.argv[*s.Instance]; !slices.Equal(a, s.Argv) {
			t.Errorf("instance %d: QEMU argv differs from the plan's:\n%q\n%q", *s.Instance, a, s.Argv)
		}
	}
	// Each share is the plan's files, with its own secret wallet key.
	keys := map[string]bool{}
	for _, s := range p.Steps {
		if s.Kind != KindSpecShare {
			continue
		}
		in := p.Instances[*s.Instance]
		sh := rec.shares[in.SpecDir]
		if len(sh.Files) != len(s.Files) {
			t.Fatalf("instance %d: %d share files, the plan lists %d", in.Number, len(sh.Files), len(s.Files))
		}
		for i, f := range sh.Files {
			if path.Join(in.SpecDir, f.Name) != s.Files[i].Path || fmt.Sprintf("%04o", f.Mode) != s.Files[i].Mode || f.From != s.Files[i].From {
				t.Errorf("share file %v is not the plan's %+v", f, s.Files[i])
			}
			if f.Name == worker.RuntimeVarsFile {
				vars, err := worker.ParseRuntimeVars(f.Data)
				if err != nil {
					t.Fatal(err)
				}
				k, _ := vars.Get("NODE_WALLET_KEY")
				if k == "" || k == "[redacted]" || keys[k] {
					t.Errorf("instance %d: node wallet key (%d characters) missing, redacted or shared", in.Number, len(k))
				}
				keys[k] = true
				if strings.Contains(f.String(), k) {
					t.Error("ShareFile.String shows its content")
				}
			}
		}
	}
	if st := r.Instances(); len(st) != 8 || st[7].Instance.GPU != "0000:db:00.0" || st[7].Status.Phase != vm.SupervisorRunning {
		t.Errorf("instances: %+v", st)
	}
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestExecuteAlreadyBound: GPUs already on vfio-pci with CC on need no
// helper, and Stop leaves them as the host had them.
func TestExecuteAlreadyBound(t *testing.T) {
	p := readyPlan(t, false)
	rec := newRecorder(t)
	r, err := Execute(context.Background(), p, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range rec.Calls() {
		if strings.HasPrefix(c, "helper") {
			t.Errorf("called the helper: %s", c)
		}
	}
}

func TestExecuteNotReady(t *testing.T) {
	f := fixtures(t)["tdx-8xh100"]
	f.host.t = t
	f.cfg.NodeWalletKeys = nil
	p, err := NewPlan(context.Background(), f.host, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t)
	r, err := Execute(context.Background(), p, rec)
	var nr *NotReadyError
	if r != nil || !errors.As(err, &nr) || !errors.Is(err, ErrNotReady) {
		t.Fatalf("Execute = %v, %v", r, err)
	}
	// Every blocking reason, one per instance after the first.
	if len(nr.Reasons) != 7 || !strings.Contains(err.Error(), "instance 7 needs a node wallet key") || !strings.Contains(err.Error(), "nothing was done") {
		t.Errorf("reasons: %v", err)
	}
	if c := rec.Calls(); len(c) != 0 {
		t.Errorf("a plan that is not ready made calls: %v", c)
	}
	// A plan marked ready that still has a blocked step is refused too.
	p = readyPlan(t, true)
	p.Steps[3].Blocked = []string{"stale"}
	if _, err := Execute(context.Background(), p, rec); !errors.Is(err, ErrNotReady) || len(rec.Calls()) != 0 {
		t.Errorf("blocked step: %v, calls %v", err, rec.Calls())
	}
}

// TestExecuteFailureUndo injects a failure at each kind of step and
// checks what is undone, in which order, and what is left.
func TestExecuteFailureUndo(t *testing.T) {
	i0, i1 := dataDir+"/instances/0", dataDir+"/instances/1"
	disk0 := fmt.Sprintf("disk %s/persistent-worker-0.img", i0)
	tests := []struct {
		failOn string
		kind   Kind
		undo   []string // the calls after the failed one
		left   []string
	}{
		{"seal start", KindSealServer, nil, nil},
		{"helper bind-vfio 0000:18:00.0", KindBindVFIO, []string{"seal stop"}, nil},
		{"share " + i0, KindSpecShare, []string{"seal stop", "helper restore 0000:18:00.0"}, nil},
		{disk0, KindPersistentDisk, []string{"seal stop", "helper restore 0000:18:00.0"}, []string{i0 + "/spec"}},
		{"vm start 0", KindQEMU, []string{"seal stop", "helper restore 0000:18:00.0"}, []string{i0 + "/persistent-worker-0.img", i0 + "/spec"}},
		{"helper bind-vfio 0000:2a:00.0", KindBindVFIO, []string{"vm stop 0", "seal stop", "helper restore 0000:18:00.0"}, []string{i0 + "/persistent-worker-0.img"}},
		{"vm start 1", KindQEMU, []string{"vm stop 0", "seal stop", "helper restore 0000:2a:00.0", "helper restore 0000:18:00.0"},
			[]string{i0 + "/persistent-worker-0.img", i1 + "/persistent-worker-1.img", i1 + "/spec"}},
	}
	p := readyPlan(t, true)
	for _, tt := range tests {
		t.Run(string(tt.kind)+" "+tt.failOn, func(t *testing.T) {
			rec := newRecorder(t)
			rec.failOn = tt.failOn
			r, err := Execute(context.Background(), p, rec)
			var se *StepError
			if r != nil || !errors.As(err, &se) {
				t.Fatalf("Execute = %v, %v", r, err)
			}
			if se.Step.Kind != tt.kind || !strings.Contains(err.Error(), fmt.Sprintf("step %d (%s)", se.Step.Number, se.Step.Title)) ||
				!strings.Contains(err.Error(), "injected failure") || se.UndoErr != nil {
				t.Errorf("error: %v", err)
			}
			calls := rec.Calls()
			i := slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, tt.failOn) })
			if got := calls[i+1:]; !slices.Equal(got, tt.undo) {
				t.Errorf("undo calls %q, want %q", got, tt.undo)
			}
			for _, l := range tt.left {
				if !strings.Contains(err.Error(), l) {
					t.Errorf("error does not say %s is left: %v", l, err)
				}
			}
			if strings.Contains(tt.failOn, "disk") && strings.Contains(err.Error(), "persistent-worker-0.img (it holds") {
				t.Errorf("names a disk it failed to create as left: %v", err)
			}
		})
	}
}

func TestRunningStop(t *testing.T) {
	for _, keep := range []bool{false, true} {
		rec := newRecorder(t)
		r, err := Execute(context.Background(), readyPlan(t, true), rec)
		if err != nil {
			t.Fatal(err)
		}
		n := len(rec.Calls())
		if keep {
			r.KeepGPUs()
		}
		if err := r.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := rec.Calls()[n:]
		// The VMs stop together, in any order; then the seal server; then
		// the GPUs go back, last bound first.
		var vms []string
		for _, c := range got[:8] {
			vms = append(vms, c)
		}
		slices.Sort(vms)
		want := []string{"vm stop 0", "vm stop 1", "vm stop 2", "vm stop 3", "vm stop 4", "vm stop 5", "vm stop 6", "vm stop 7"}
		if !slices.Equal(vms, want) || got[8] != "seal stop" {
			t.Fatalf("stop calls %q", got)
		}
		var restores []string
		if !keep {
			for _, g := range []string{"db", "ba", "ab", "9a", "5d", "3a", "2a", "18"} {
				restores = append(restores, "helper restore 0000:"+g+":00.0")
			}
		}
		if !slices.Equal(got[9:], restores) {
			t.Errorf("keep %v: restores %q", keep, got[9:])
		}
		select {
		case <-r.Done():
		default:
			t.Error("Done is open after Stop")
		}
		if _, ok := <-r.Events(); ok {
			t.Error("Events is open after Stop")
		}
		if err := r.Stop(context.Background()); err != nil || len(rec.Calls()) != n+len(got) {
			t.Errorf("a second Stop did something: %v", err)
		}
	}
}

// TestRunningInstancesIndependent: an instance whose supervisor gives up
// stops alone; the others keep running until Stop.
func TestRunningInstancesIndependent(t *testing.T) {
	rec := newRecorder(t)
	r, err := Execute(context.Background(), readyPlan(t, true), rec)
	if err != nil {
		t.Fatal(err)
	}
	rec.vms[3].giveUp()
	select {
	case ev := <-r.Events():
		if ev.Instance != 3 || ev.GPU != "0000:5d:00.0" || ev.Event.Kind != vm.EventGaveUp {
			t.Errorf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	for i, st := range r.Instances() {
		want := vm.SupervisorRunning
		if i == 3 {
			want = vm.SupervisorGaveUp
		}
		if st.Status.Phase != want {
			t.Errorf("instance %d: %s, want %s", i, st.Status.Phase, want)
		}
	}
	for _, c := range rec.Calls() {
		if strings.Contains(c, "stop") || strings.Contains(c, "restore") {
			t.Errorf("one instance giving up made %s", c)
		}
	}
	select {
	case <-r.Done():
		t.Fatal("Done with 7 instances running")
	default:
	}
	for i, v := range rec.vms {
		if i != 7 {
			v.giveUp()
		}
	}
	select {
	case <-r.Done():
		t.Fatal("Done with instance 7 running")
	case <-time.After(20 * time.Millisecond):
	}
	rec.vms[7].giveUp()
	select {
	case <-r.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done open with every instance given up")
	}
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestExecuteContextCancel: ctx ending midway stops the launch before its
// next step and undoes it with a context of its own.
func TestExecuteContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := newRecorder(t)
	rec.after = func(c string) {
		if c == "vm start 2" {
			cancel()
		}
	}
	r, err := Execute(ctx, readyPlan(t, true), rec)
	var se *StepError
	if r != nil || !errors.Is(err, context.Canceled) || !errors.As(err, &se) || se.Step.Kind != KindBindVFIO || *se.Step.Instance != 3 {
		t.Fatalf("Execute = %v, %v", r, err)
	}
	calls := rec.Calls()
	i := slices.Index(calls, "vm start 2")
	tail := calls[i+1:]
	if len(tail) != 7 || !slices.Equal(tail[3:], []string{"seal stop", "helper restore 0000:3a:00.0", "helper restore 0000:2a:00.0", "helper restore 0000:18:00.0"}) {
		t.Errorf("calls after the cancel: %q", tail)
	}
}
