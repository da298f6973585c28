package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode"
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
	devModelName    = "stand-in/synthetic"
)

// InstanceFile records a running dev instance for `status` and `stop`.
const InstanceFile = "instance.json"

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
	Dir        string        `json:"dir"`
}

// dev is the running dev-mode instance.
type dev struct {
	// bootStart is when the current QEMU run started (unix ns), for boot time.
	bootStart atomic.Int64
	sup       *vm.Supervisor
	life      *vm.Lifecycle
	cancel    context.CancelFunc
	done      chan struct{}
	dir       string
}

func (s *Service) devDir(i int) string {
	return filepath.Join(s.opts.DataDir, "instances", strconv.Itoa(i))
}

// StartDev builds the stand-in image if needed, boots it with the best
// acceleration the doctor found, and returns once QEMU runs; readiness
// (the first /jsonstats answer) arrives as an instance event.
func (s *Service) StartDev(ctx context.Context) error {
	s.mu.Lock()
	if s.dev != nil {
		s.mu.Unlock()
		return errors.New("dev mode is already running")
	}
	s.mu.Unlock()

	life := vm.NewLifecycle(nil)
	dir := s.devDir(0)
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
	// A VM an earlier run left behind holds the ports; it is adopted below.
	if _, err := vm.CheckPIDFile(filepath.Join(dir, "qemu.pid")); err != nil {
		for _, addr := range []string{inst.StatsAddr, inst.HealthAddr} {
			if err := checkPortFree(addr); err != nil {
				return fail(err)
			}
		}
	}
	accel, err := s.devAccel(ctx)
	if err != nil {
		return fail(err)
	}
	img, err := s.devImage(ctx)
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
	vars := worker.RuntimeVars{}
	for k, v := range map[string]string{
		worker.KeyModelName: devModelName, worker.KeyOwnerAddress: devOwnerAddress,
		worker.KeyRootContractAddress: devRootContract, worker.KeyWorkerCoefficient: "1000",
		worker.KeyNodeWalletKey: base64.StdEncoding.EncodeToString(key[:]),
	} {
		if err := vars.Set(k, v); err != nil {
			return fail(err)
		}
	}
	if err := worker.RenderSpec(filepath.Join(dir, "spec"), devmode.SpecTemplate(), vars, worker.RenderOptions{Replace: true}); err != nil {
		return fail(err)
	}
	spec := vm.Spec{Instance: 0, Accel: accel, Kernel: img.Kernel.Path, Initrd: img.Initrd.Path, Cmdline: img.Cmdline,
		SpecDir: filepath.Join(dir, "spec"), ForwardAddr: "127.0.0.1", CPUs: devCPUs, MemoryMiB: devMemoryMiB,
		QMPSocket: filepath.Join(dir, "qmp.sock"), PidFile: filepath.Join(dir, "qemu.pid"), Binary: s.opts.QEMU}
	exe, args, err := spec.Command()
	if err != nil {
		return fail(err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d := &dev{life: life, cancel: cancel, done: make(chan struct{}), dir: dir}
	sup, err := vm.NewSupervisor(vm.SupervisorOptions{
		New: func(ctx context.Context, attempt int) (vm.Instance, error) {
			if pid, err := vm.CheckPIDFile(spec.PidFile); err == nil {
				s.changeInstance(func(*Instance) {}, fmt.Sprintf("adopting the stand-in VM an earlier run left running (QEMU PID %d)", pid))
				return vm.Adopt(ctx, spec.PidFile, spec.QMPSocket, vm.AdoptOptions{})
			}
			return vm.NewProcess(exe, args, vm.ProcessOptions{QMPSocket: spec.QMPSocket, PIDFile: spec.PidFile,
				Console: vm.ConsoleOptions{Path: filepath.Join(dir, "console.log")}}), nil
		},
		StopGrace: devStopGrace,
		OnEvent:   func(ev vm.SupervisorEvent) { s.onSupervisorEvent(d, ev) },
	})
	if err != nil {
		cancel()
		return fail(err)
	}
	d.sup = sup
	s.mu.Lock()
	s.dev = d
	s.mu.Unlock()
	s.changeInstance(func(in *Instance) { in.Accel = accel; in.Image = img.Label + " " + img.Initrd.SHA256[:12] }, "")
	_ = life.To(vm.StateBooting)
	s.changeInstance(func(in *Instance) { in.State = vm.StateBooting }, fmt.Sprintf("booting the stand-in worker (%s)", accel))
	if err := sup.Start(runCtx); err != nil {
		cancel()
		s.mu.Lock()
		s.dev = nil
		s.mu.Unlock()
		return fail(err)
	}
	go s.pollDev(runCtx, d)
	return nil
}

// StopDev stops the dev instance: ACPI power-down, a bounded wait, then kill.
func (s *Service) StopDev(ctx context.Context) error {
	s.mu.Lock()
	d := s.dev
	s.mu.Unlock()
	if d == nil {
		return nil
	}
	_ = d.life.To(vm.StateStopping)
	s.changeInstance(func(in *Instance) { in.State = vm.StateStopping }, "stopping the stand-in worker")
	start := s.opts.Now()
	err := d.sup.Stop(ctx)
	d.cancel()
	<-d.done
	_ = d.life.To(vm.StateStopped)
	s.changeInstance(func(in *Instance) { in.State = vm.StateStopped; in.PID = 0 },
		fmt.Sprintf("stopped in %s", s.opts.Now().Sub(start).Round(10*time.Millisecond)))
	s.mu.Lock()
	s.dev = nil
	s.mu.Unlock()
	_ = os.Remove(filepath.Join(d.dir, InstanceFile))
	return err
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
	return devmode.Build(ctx, devmode.Options{CacheDir: cache, SourceDir: s.opts.SourceDir, Log: s.log})
}

// pollDev reads /jsonstats every second: the first answer means running,
// failures after that mean degraded.
func (s *Service) pollDev(ctx context.Context, d *dev) {
	defer close(d.done)
	inst := s.State().Dev
	client := worker.NewClient((&net.Dialer{}).DialContext, inst.StatsAddr)
	// While booting, QEMU accepts forwarded connections before the guest
	// listens and leaves them hanging: poll with short attempts.
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
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
		switch {
		case err == nil:
			msg := ""
			if cur == vm.StateBooting || cur == vm.StateDegraded {
				if d.life.To(vm.StateRunning) == nil && cur == vm.StateBooting {
					msg = fmt.Sprintf("stand-in worker ready in %s", s.opts.Now().Sub(bootStart).Round(100*time.Millisecond))
					s.changeInstance(func(in *Instance) { in.BootTime = s.opts.Now().Sub(bootStart) }, "")
				}
			}
			stats := st
			s.changeInstance(func(in *Instance) { in.State = d.life.Current(); in.Stats = &stats; in.StatsError = "" }, msg)
		case cur == vm.StateRunning:
			_ = d.life.To(vm.StateDegraded)
			s.changeInstance(func(in *Instance) { in.State = vm.StateDegraded; in.StatsError = err.Error() }, "the worker stopped answering: "+err.Error())
		case cur == vm.StateBooting && d.bootStart.Load() != 0 && s.opts.Now().Sub(bootStart) > devBootTimeout:
			s.changeInstance(func(in *Instance) { in.StatsError = err.Error() },
				fmt.Sprintf("the worker has not answered for %s; see %s", devBootTimeout, filepath.Join(d.dir, "console.log")))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// onSupervisorEvent records VM process events and mirrors them in State.
func (s *Service) onSupervisorEvent(d *dev, ev vm.SupervisorEvent) {
	msg := fmt.Sprintf("VM %s", ev.Kind)
	switch ev.Kind {
	case vm.EventStarted:
		msg = fmt.Sprintf("QEMU started (PID %d)", ev.PID)
		d.bootStart.Store(s.opts.Now().UnixNano())
		if cur := d.life.Current(); cur == vm.StateFailed {
			_ = d.life.To(vm.StatePreparing)
			_ = d.life.To(vm.StateBooting)
		}
		s.changeInstance(func(in *Instance) { in.PID = ev.PID; in.State = d.life.Current() }, msg)
		s.writeInstanceFile(d)
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
	default:
		if ev.Error != "" {
			msg += ": " + ev.Error
		}
		s.changeInstance(func(*Instance) {}, msg)
	}
	s.recordEvent("vm."+string(ev.Kind), msg, map[string]any{"instance": 0, "pid": ev.PID, "restarts": ev.Restarts})
}

func (s *Service) writeInstanceFile(d *dev) {
	inst := s.State().Dev
	if inst == nil {
		return
	}
	b, err := json.MarshalIndent(inst, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(d.dir, InstanceFile), b, 0o600)
	}
	if err != nil {
		s.log.Warn("write instance file", "error", err)
	}
}

// setInstance replaces the dev instance in State.
func (s *Service) setInstance(inst Instance, msg string) {
	s.update(EventInstance, msg, func(st *State) { st.Dev = &inst })
}

// changeInstance edits a copy of the dev instance, keeping State immutable.
func (s *Service) changeInstance(f func(*Instance), msg string) {
	s.update(EventInstance, msg, func(st *State) {
		if st.Dev == nil {
			return
		}
		cp := *st.Dev
		f(&cp)
		st.Dev = &cp
	})
}

// recordEvent stores an event when the database is open.
func (s *Service) recordEvent(kind, msg string, attrs map[string]any) {
	s.mu.Lock()
	st := s.store
	s.mu.Unlock()
	if st == nil {
		return
	}
	raw, _ := json.Marshal(attrs)
	if _, err := st.AddEvent(context.Background(), store.Event{Time: s.opts.Now(), Level: "info", Kind: kind, Message: msg, Attrs: raw}); err != nil {
		s.log.Warn("record event", "kind", kind, "error", err)
	}
}
