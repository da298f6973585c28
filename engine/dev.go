package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/synth"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// Dev-mode VM sizing: the stand-in needs little.
const (
	devCPUs      = 1
	devMemoryMiB = 512
	// devBootTimeout bounds boot to the first /jsonstats answer (TCG is slow).
	devBootTimeout = 3 * time.Minute
	// devStopGrace is how long the guest gets to power off after ACPI power-down.
	devStopGrace = 20 * time.Second
	// Placeholders the stand-in reports; dev mode pays nobody.
	devOwnerAddress = "UQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAJKZ"
	devRootContract = "EQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAM9c"
	devModelName    = synth.ModelName
)

// InstancePaths names the files of one worker instance in the data
// directory; the engine, `status` and `stop` all find them here.
type InstancePaths struct {
	Dir       string
	PIDFile   string // QEMU's -pidfile
	QMPSocket string
	Console   string // rotating console log
	Spec      string // the 9p spec share
	State     string // instance.json: the instance as the app last saw it
}

// InstanceFiles returns the paths of instance i under dataDir.
func InstanceFiles(dataDir string, i int) InstancePaths {
	dir := filepath.Join(dataDir, "instances", strconv.Itoa(i))
	return InstancePaths{Dir: dir, PIDFile: filepath.Join(dir, "qemu.pid"), QMPSocket: filepath.Join(dir, "qmp.sock"),
		Console: filepath.Join(dir, "console.log"), Spec: filepath.Join(dir, "spec"), State: filepath.Join(dir, "instance.json")}
}

// Instance is the state of one worker VM.
type Instance struct {
	Number    int      `json:"number"`
	State     vm.State `json:"state"`
	Accel     vm.Accel `json:"accel"`
	StatsAddr string   `json:"stats_addr"`
	// HealthAddr is the forwarded TCP port of the health protocol (no vsock in dev mode).
	HealthAddr string    `json:"health_addr"`
	PID        int       `json:"qemu_pid,omitempty"`
	AppPID     int       `json:"app_pid"`
	Restarts   int       `json:"restarts"`
	LastExit   string    `json:"last_exit,omitempty"`
	Image      string    `json:"image"`
	Since      time.Time `json:"since"`
	// BootTime is from QEMU start to the first /jsonstats answer.
	BootTime time.Duration `json:"boot_time_ns,omitempty"`
	// Stats is the last parsed /jsonstats; StatsError why it is missing.
	Stats      *worker.Stats `json:"-"`
	StatsError string        `json:"stats_error,omitempty"`
	// Activity is what the worker did between its last two reads.
	Activity *worker.Activity `json:"-"`
	// Load counts the stand-in client's requests (dev mode only).
	Load *LoadStats `json:"-"`
	// Trust is the attestation verdict: will the network accept it?
	Trust *Trust `json:"trust,omitempty"`
	Dir   string `json:"dir"`
}

// dev is the running dev-mode instance.
type dev struct {
	// bootStart is when the current QEMU run started (unix ns), for boot time.
	bootStart atomic.Int64
	// timedOut is set once the boot timeout was reported for this run.
	timedOut atomic.Bool
	sup      *vm.Supervisor // set under Service.mu once created
	life     *vm.Lifecycle
	// cancel ends preparation and the background goroutines.
	cancel context.CancelFunc
	// done closes when nothing of this instance runs any more.
	done  chan struct{}
	files InstancePaths
	jobs  *devJobs // the stand-in proxy, client and chain
	mon   *monitor // the activity and earnings pipeline of the worker
	// leaving: LeaveDev ends supervision with the VM left running.
	leaving atomic.Bool
}

// StartDev builds the stand-in image if needed, boots it with the best
// acceleration the doctor found, and returns once QEMU runs; readiness
// (the first /jsonstats answer) arrives as an instance event.
func (s *Service) StartDev(ctx context.Context) (err error) {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	life := vm.NewLifecycle(nil)
	files := InstanceFiles(s.opts.DataDir, 0)
	dir := files.Dir
	d := &dev{life: life, cancel: cancel, done: make(chan struct{}), files: files,
		mon: &monitor{instance: 0, settleEvery: s.opts.SettleInterval}}
	s.mu.Lock()
	if old := s.dev; old != nil {
		select {
		case <-old.done: // it failed or gave up: replace it
		default:
			s.mu.Unlock()
			cancel()
			return errors.New("dev mode is already running")
		}
	}
	s.dev = d
	s.mu.Unlock()
	started := false
	defer func() {
		if !started {
			cancel()
			if d.jobs != nil {
				d.jobs.wg.Wait()
			}
			close(d.done)
		}
	}()
	// Preparation stops when the caller gives up or StopDev cancels it.
	prepCtx, stopPrep := context.WithCancel(runCtx)
	defer stopPrep()
	defer context.AfterFunc(ctx, stopPrep)()

	inst := Instance{Number: 0, State: vm.StatePreparing, AppPID: os.Getpid(), Dir: dir, Since: s.opts.Now(),
		StatsAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(vm.StatsPort(0))),
		HealthAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(vm.HealthPort(0)))}
	_ = life.To(vm.StatePreparing)
	s.setInstance(inst, "preparing the stand-in worker")

	fail := func(err error) error {
		_ = life.To(vm.StateFailed)
		s.changeInstance(func(in *Instance) { in.State = vm.StateFailed; in.LastExit = err.Error() }, err.Error())
		return err
	}
	// A VM an earlier run left behind holds the ports and its spec share;
	// it is adopted below.
	_, pidErr := vm.CheckPIDFile(files.PIDFile)
	adopting := pidErr == nil
	if !adopting {
		for _, addr := range []string{inst.StatsAddr, inst.HealthAddr} {
			if err := checkPortFree(addr); err != nil {
				return fail(err)
			}
		}
	}
	accel, err := s.devAccel(prepCtx)
	if err != nil {
		return fail(err)
	}
	img, err := s.devImage(prepCtx)
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(fmt.Errorf("create %s: %w", dir, err))
	}
	// A throwaway node key per start: the stand-in pays nobody, and the
	// real key (wallet) never goes to a dev-mode VM.
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return fail(err)
	}
	owner := s.devOwner(prepCtx)
	vars := worker.RuntimeVars{}
	for k, v := range map[string]string{
		worker.KeyModelName: devModelName, worker.KeyOwnerAddress: owner,
		worker.KeyRootContractAddress: devRootContract, worker.KeyWorkerCoefficient: strconv.FormatInt(s.currentSettings().Coefficient(), 10),
		worker.KeyNodeWalletKey: base64.StdEncoding.EncodeToString(key[:]),
	} {
		if err := vars.Set(k, v); err != nil {
			return fail(err)
		}
	}
	if !adopting {
		if err := worker.RenderSpec(files.Spec, devmode.SpecTemplate(), vars, worker.RenderOptions{Replace: true}); err != nil {
			return fail(err)
		}
	}
	// The stand-in proxy never outlives the app; an adopted VM's worker
	// reconnects to the new one on the same ports.
	wport, cport := s.devPorts()
	for _, p := range []int{wport, cport} {
		if err := checkPortFree(net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err != nil {
			return fail(fmt.Errorf("stand-in proxy: %w", err))
		}
	}
	jobs, err := s.startDevJobs(runCtx, files.Spec, !adopting, owner)
	if err != nil {
		return fail(err)
	}
	d.jobs = jobs
	spec := vm.Spec{Instance: 0, Accel: accel, Kernel: img.Kernel.Path, Initrd: img.Initrd.Path, Cmdline: img.Cmdline,
		SpecDir: files.Spec, ForwardAddr: "127.0.0.1", CPUs: devCPUs, MemoryMiB: devMemoryMiB,
		QMPSocket: files.QMPSocket, PidFile: files.PIDFile, Binary: s.opts.QEMU}
	exe, args, err := spec.Command()
	if err != nil {
		return fail(err)
	}
	sup, err := vm.NewSupervisor(vm.SupervisorOptions{
		New: func(ctx context.Context, attempt int) (vm.Instance, error) {
			if pid, err := vm.CheckPIDFile(spec.PidFile); err == nil {
				s.changeInstance(func(*Instance) {}, fmt.Sprintf("adopting the stand-in VM an earlier run left running (QEMU PID %d)", pid))
				return vm.Adopt(ctx, spec.PidFile, spec.QMPSocket, vm.AdoptOptions{})
			}
			return vm.NewProcess(exe, args, vm.ProcessOptions{QMPSocket: spec.QMPSocket, PIDFile: spec.PidFile,
				Console: vm.ConsoleOptions{Path: files.Console}}), nil
		},
		StopGrace:   devStopGrace,
		StableAfter: s.opts.DevStableAfter,
		OnEvent:     func(ev vm.SupervisorEvent) { s.onSupervisorEvent(d, ev) },
	})
	if err != nil {
		return fail(err)
	}
	s.mu.Lock()
	if err := prepCtx.Err(); err != nil {
		s.mu.Unlock()
		return fail(fmt.Errorf("dev mode start cancelled: %w", err))
	}
	d.sup = sup
	s.mu.Unlock()
	s.changeInstance(func(in *Instance) { in.Accel = accel; in.Image = img.Label + " " + img.Initrd.SHA256[:12] }, "")
	if err := life.To(vm.StateBooting); err != nil {
		return fail(err)
	}
	s.changeInstance(func(in *Instance) { in.State = life.Current() }, fmt.Sprintf("booting the stand-in worker (%s)", accel))
	if err := sup.Start(runCtx); err != nil {
		return fail(err)
	}
	started = true
	go func() {
		defer close(d.done)
		defer jobs.wg.Wait()
		go func() {
			// A supervisor that ends on its own has given up on the VM.
			select {
			case <-sup.Done():
				// Stopped on purpose (StopDev moved to stopping first) is not giving up.
				if cur := d.life.Current(); runCtx.Err() == nil && cur != vm.StateStopping && cur != vm.StateStopped {
					if d.life.To(vm.StateFailed) == nil {
						s.changeInstance(func(in *Instance) { in.State = vm.StateFailed }, "gave up restarting the worker VM; see the last exit above and the console log")
					}
					cancel()
				}
			case <-runCtx.Done():
			}
		}()
		s.pollDev(runCtx, d)
	}()
	return nil
}

// DevDone closes when the dev instance has ended on its own (given up) or
// was stopped; nil when none was started.
func (s *Service) DevDone() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dev == nil {
		return nil
	}
	return s.dev.done
}

// StopDev stops the dev instance: ACPI power-down, a bounded wait, then kill.
func (s *Service) StopDev(ctx context.Context) error {
	s.mu.Lock()
	d := s.dev
	var sup *vm.Supervisor
	if d != nil {
		sup = d.sup
	}
	s.mu.Unlock()
	if d == nil {
		return nil
	}
	select {
	case <-d.done: // already ended (failed, gave up)
		s.forgetDev(d)
		return nil
	default:
	}
	s.finalRead(ctx, d)
	if d.life.To(vm.StateStopping) == nil {
		s.changeInstance(func(in *Instance) { in.State = vm.StateStopping }, "stopping the stand-in worker")
	}
	start := s.opts.Now()
	var err error
	if sup != nil {
		err = sup.Stop(ctx)
	}
	d.cancel() // ends preparation if it is still going, and the poller
	<-d.done
	if d.life.To(vm.StateStopped) == nil {
		s.changeInstance(func(in *Instance) { in.State = vm.StateStopped; in.PID = 0 },
			fmt.Sprintf("stopped in %s", s.opts.Now().Sub(start).Round(10*time.Millisecond)))
	}
	s.forgetDev(d)
	return err
}

// LeaveDev ends the app's part of the dev instance but leaves its VM
// running, for the next start (StartDev) to adopt: the app's stop on
// SIGTERM when the operator chose to keep VMs up across restarts. The
// stand-in proxy ends with the app, so the worker takes no requests until
// then. A VM not running yet is not started.
func (s *Service) LeaveDev(ctx context.Context) error {
	s.mu.Lock()
	d := s.dev
	s.mu.Unlock()
	if d == nil {
		return nil
	}
	select {
	case <-d.done:
		s.forgetDev(d)
		return nil
	default:
	}
	s.finalRead(ctx, d)
	s.mu.Lock()
	sup := d.sup
	s.mu.Unlock()
	// Stopping, for the lifecycle: supervision ending is not a failure.
	d.leaving.Store(true)
	_ = d.life.To(vm.StateStopping)
	var err error
	pid := 0
	if sup != nil {
		pid = sup.Status().PID
		err = sup.Release(ctx)
	}
	d.cancel()
	<-d.done
	msg := "the stand-in worker was not running; nothing left behind"
	if pid != 0 {
		msg = fmt.Sprintf("left the worker VM running (QEMU PID %d); the next start adopts it, `cocoon-provider stop` stops it", pid)
	}
	s.changeInstance(func(in *Instance) {}, msg)
	s.mu.Lock()
	if s.dev == d {
		s.dev = nil
	}
	s.mu.Unlock()
	return err
}

func (s *Service) forgetDev(d *dev) {
	s.mu.Lock()
	if s.dev == d {
		s.dev = nil
	}
	s.mu.Unlock()
	_ = os.Remove(d.files.State)
}

// devAccel is KVM when the doctor saw a KVM guest run, else TCG.
func (s *Service) devAccel(ctx context.Context) (vm.Accel, error) {
	r := s.State().Report
	if r == nil {
		rep, err := s.Check(ctx)
		if err != nil {
			return "", err
		}
		r = &rep
	}
	switch r.DevAccel {
	case "kvm":
		return vm.AccelKVM, nil
	case "tcg":
		return vm.AccelTCG, nil
	}
	return "", fmt.Errorf("dev mode cannot run here: %s (run `cocoon-provider doctor`)", r.Dev.Summary)
}

// devImage loads the stand-in image, building it when missing.
func (s *Service) devImage(ctx context.Context) (devmode.Image, error) {
	cache := s.opts.ImageCacheDir
	if cache == "" {
		var err error
		if cache, err = devmode.DefaultCacheDir(); err != nil {
			return devmode.Image{}, err
		}
	}
	s.changeInstance(func(*Instance) {}, "building or checking the stand-in image (the first time downloads Debian's kernel)")
	o := devmode.Options{CacheDir: cache, SourceDir: s.opts.SourceDir, Log: s.log}
	if o.SourceDir == "" {
		o.Agent = s.opts.GuestAgent
	}
	return devmode.Build(ctx, o)
}

// pollDev reads /jsonstats about once a second (every 0.5 s while
// booting, backing off to 8 s while the worker does not answer): the
// first answer means running, failures after that mean degraded. Each
// answer feeds the activity and earnings pipeline.
func (s *Service) pollDev(ctx context.Context, d *dev) {
	inst := s.State().Dev
	client := worker.NewClient((&net.Dialer{}).DialContext, inst.StatsAddr)
	m := d.mon
	defer s.forgetMonitor(m)
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		attempt := 2 * time.Second
		if d.life.Current() == vm.StateBooting {
			attempt = 500 * time.Millisecond
		}
		qctx, cancel := context.WithTimeout(ctx, attempt)
		st, err := client.Stats(qctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		cur := d.life.Current()
		bootStart := time.Unix(0, d.bootStart.Load())
		wait = nextPoll(cur, err, wait)
		switch {
		case err == nil:
			msg := ""
			if cur == vm.StateBooting || cur == vm.StateDegraded {
				if d.life.To(vm.StateRunning) == nil && cur == vm.StateBooting {
					msg = fmt.Sprintf("stand-in worker ready in %s", s.opts.Now().Sub(bootStart).Round(100*time.Millisecond))
					s.changeInstance(func(in *Instance) { in.BootTime = s.opts.Now().Sub(bootStart) }, "")
				}
			}
			act := s.observe(ctx, m, s.opts.Now(), st, false)
			s.applyPause(ctx, client, m, act)
			trust := s.checkTrust(ctx, m, st, inst.HealthAddr, d.jobs)
			stats := st
			var load *LoadStats
			if d.jobs != nil {
				l := d.jobs.Load()
				load = &l
			}
			s.changeInstance(func(in *Instance) {
				in.State = d.life.Current()
				in.Stats = &stats
				in.StatsError = ""
				in.Load = load
				in.Trust = trust
				if act != nil {
					in.Activity = act
				}
			}, msg)
		case cur == vm.StateRunning:
			m.pauseKnown = false // a worker that comes back may have restarted enabled
			if d.life.To(vm.StateDegraded) == nil {
				s.changeInstance(func(in *Instance) { in.State = d.life.Current(); in.StatsError = err.Error() }, "the worker stopped answering: "+err.Error())
			}
		case cur == vm.StateBooting && d.bootStart.Load() != 0 && s.opts.Now().Sub(bootStart) > devBootTimeout && !d.timedOut.Swap(true):
			s.changeInstance(func(in *Instance) { in.StatsError = err.Error() },
				fmt.Sprintf("the worker has not answered for %s; see %s", devBootTimeout, d.files.Console))
		}
	}
}

// finalRead records the worker's last counters before it stops, so the
// ledger holds every token it earned (progress is otherwise written every
// SettleInterval).
func (s *Service) finalRead(ctx context.Context, d *dev) {
	inst := s.State().Dev
	if inst == nil || (inst.State != vm.StateRunning && inst.State != vm.StateDegraded) {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, err := worker.NewClient((&net.Dialer{}).DialContext, inst.StatsAddr).Stats(cctx)
	if err != nil {
		s.log.Warn("final read of the worker's counters before stopping", "error", err)
		return
	}
	s.observe(ctx, d.mon, s.opts.Now(), st, true)
}

// nextPoll is the wait before the next /jsonstats read: 0.5 s while
// booting, 1 s while answering, doubling up to 8 s while not answering.
func nextPoll(cur vm.State, err error, prev time.Duration) time.Duration {
	switch {
	case cur == vm.StateBooting:
		return 500 * time.Millisecond
	case err == nil:
		return time.Second
	}
	return min(max(2*prev, time.Second), 8*time.Second)
}

// onSupervisorEvent records VM process events and mirrors them in State.
func (s *Service) onSupervisorEvent(d *dev, ev vm.SupervisorEvent) {
	msg := fmt.Sprintf("VM %s", ev.Kind)
	switch ev.Kind {
	case vm.EventStarted:
		msg = fmt.Sprintf("QEMU started (PID %d)", ev.PID)
		d.bootStart.Store(s.opts.Now().UnixNano())
		d.timedOut.Store(false)
		if cur := d.life.Current(); cur == vm.StateFailed {
			_ = d.life.To(vm.StatePreparing)
			_ = d.life.To(vm.StateBooting)
		}
		s.changeInstance(func(in *Instance) { in.PID = ev.PID; in.State = d.life.Current() }, msg)
	case vm.EventExited:
		if ev.Exit != nil {
			msg = "QEMU exited: " + ev.Exit.String()
		}
		if d.life.Current() != vm.StateStopping {
			_ = d.life.To(vm.StateFailed)
		}
		s.changeInstance(func(in *Instance) { in.State = d.life.Current(); in.LastExit = msg; in.PID = 0 }, msg)
	case vm.EventRestarting:
		msg = fmt.Sprintf("restarting QEMU in %s (restart %d)", ev.Delay.Round(time.Millisecond), ev.Restarts+1)
		s.changeInstance(func(in *Instance) { in.Restarts = ev.Restarts + 1 }, msg)
	case vm.EventStartFailed, vm.EventGaveUp:
		if ev.Error != "" {
			msg += ": " + ev.Error
		}
		cur := d.life.Current()
		if cur != vm.StateStopping && cur != vm.StateFailed {
			_ = d.life.To(vm.StateFailed)
		}
		s.changeInstance(func(in *Instance) {
			in.State = d.life.Current()
			if ev.Kind == vm.EventGaveUp && in.LastExit != "" {
				in.LastExit = msg + "; the last failure: " + in.LastExit
			} else {
				in.LastExit = msg
			}
		}, msg)
	default:
		if ev.Kind == vm.EventStopped && d.leaving.Load() {
			msg = "stopped watching the VM; it keeps running"
		}
		if ev.Error != "" {
			msg += ": " + ev.Error
		}
		s.changeInstance(func(*Instance) {}, msg)
	}
	s.recordEvent("vm."+string(ev.Kind), msg, map[string]any{"instance": 0, "pid": ev.PID, "restarts": ev.Restarts})
}

// persistInstance keeps instance.json (read by `status` and `stop`) in
// step with the dev instance; a stopped instance has none.
func (s *Service) persistInstance() {
	s.mu.Lock()
	d := s.dev
	s.mu.Unlock()
	inst := s.State().Dev
	if d == nil || inst == nil {
		return
	}
	path := d.files.State
	if inst.State == vm.StateStopped {
		_ = os.Remove(path)
		return
	}
	b, err := json.MarshalIndent(inst, "", "  ")
	if err == nil {
		err = os.WriteFile(path, b, 0o600)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("write instance file", "error", err)
	}
}

// setInstance replaces the dev instance in State.
func (s *Service) setInstance(inst Instance, msg string) {
	s.update(EventInstance, msg, func(st *State) { st.Dev = &inst })
}

// changeInstance edits a copy of the dev instance, keeping State immutable.
func (s *Service) changeInstance(f func(*Instance), msg string) {
	var persist bool
	s.update(EventInstance, msg, func(st *State) {
		if st.Dev == nil {
			return
		}
		cp := *st.Dev
		f(&cp)
		old := st.Dev
		persist = cp.State != old.State || cp.PID != old.PID || cp.Restarts != old.Restarts || cp.LastExit != old.LastExit || cp.BootTime != old.BootTime || cp.Trust != old.Trust
		st.Dev = &cp
	})
	if persist {
		s.persistInstance()
	}
}

// recordEvent stores an event when the database is open.
func (s *Service) recordEvent(kind, msg string, attrs map[string]any) {
	s.mu.Lock()
	st := s.store
	s.mu.Unlock()
	s.recordEventTo(st, kind, msg, attrs)
}

func (s *Service) recordEventTo(st *store.Store, kind, msg string, attrs map[string]any) {
	s.recordEventLevel(st, "info", kind, msg, attrs)
}

// recordEventLevel stores an event of the given level ("info", "warn")
// when st is not nil.
func (s *Service) recordEventLevel(st *store.Store, level, kind, msg string, attrs map[string]any) {
	if st == nil {
		return
	}
	raw, _ := json.Marshal(attrs)
	if _, err := st.AddEvent(context.Background(), store.Event{Time: s.opts.Now(), Level: level, Kind: kind, Message: msg, Attrs: raw}); err != nil {
		s.log.Warn("record event", "kind", kind, "error", err)
	}
}
