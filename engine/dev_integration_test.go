//go:build integration

package engine

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// imageCache is shared between runs so the kernel package is downloaded once.
func imageCache(t *testing.T) string {
	if d := os.Getenv("COCOON_IMAGE_CACHE"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		t.Skip("no cache directory for the stand-in image")
	}
	return filepath.Join(d, "cocoon-provider", "standin")
}

// waitInstance waits for the dev instance to satisfy ok.
func waitInstance(t *testing.T, s *Service, events <-chan Event, d time.Duration, what string, ok func(*Instance) bool) *Instance {
	t.Helper()
	deadline := time.After(d)
	for {
		if in := s.State().Dev; in != nil && ok(in) {
			return in
		}
		select {
		case ev := <-events:
			if ev.Message != "" {
				t.Logf("%s  %s", ev.Time.Format("15:04:05.000"), ev.Message)
			}
		case <-deadline:
			t.Fatalf("%s: not within %s; instance %+v", what, d, s.State().Dev)
		}
	}
}

// devBoot is a Service running dev mode with the stand-in worker ready.
type devBoot struct {
	s       *Service
	opts    Options
	ctx     context.Context
	cancel  context.CancelFunc // ends Run; runDone then reports its result
	events  <-chan Event
	runDone <-chan error
	in      *Instance
}

// bootDev starts a Service with opts (data directory, NVML, image cache
// and source tree filled in when unset), runs it and boots the stand-in
// worker, waiting until it answers. It skips without QEMU.
func bootDev(t *testing.T, opts Options) devBoot {
	t.Helper()
	if _, err := vm.Inspect(context.Background(), ""); err != nil {
		t.Skipf("needs QEMU: %v", err)
	}
	src, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.NVML == nil {
		opts.NVML = noNVML()
	}
	if opts.ImageCacheDir == "" {
		opts.ImageCacheDir = imageCache(t)
	}
	if opts.SourceDir == "" {
		opts.SourceDir = src
	}
	s := New(opts)
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	events := s.Subscribe(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()
	if err := s.StartDev(ctx); err != nil {
		t.Fatalf("start dev mode: %v", err)
	}
	in := waitInstance(t, s, events, 5*time.Minute, "ready", func(in *Instance) bool { return in.State == vm.StateRunning })
	t.Logf("ready after %s under %s", in.BootTime.Round(time.Millisecond), in.Accel)
	return devBoot{s: s, opts: opts, ctx: ctx, cancel: cancel, events: events, runDone: runDone, in: in}
}

// TestDevModeLifecycle boots the stand-in image under TCG (KVM where it
// works), reads /jsonstats through the forwarded port, runs the health
// status command, toggles /request/disable, kills QEMU to see the
// supervisor restart it with the event stored, and stops gracefully.
func TestDevModeLifecycle(t *testing.T) {
	b := bootDev(t, Options{})
	s, ctx, cancel, events, runDone, in, dataDir := b.s, b.ctx, b.cancel, b.events, b.runDone, b.in, b.opts.DataDir

	dial := (&net.Dialer{}).DialContext
	client := worker.NewClient(dial, in.StatsAddr)
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	st, err := client.Stats(cctx)
	if err != nil || !st.Status.Enabled {
		t.Fatalf("jsonstats: %+v, %v", st.Status, err)
	}
	hs, err := worker.NewHealthClient(dial, "tcp", in.HealthAddr).Status(cctx)
	if err != nil || !hs.OK || !strings.Contains(hs.ImageHashB64, "XFXI9NtAELqSA9g1NtBgmFavjIR6wDnjfn3ej71XS2E=") {
		t.Fatalf("health status: %+v, %v", hs, err)
	}
	if err := client.Disable(cctx); err != nil {
		t.Fatalf("disable: %v", err)
	}
	// As in the official worker, /jsonstats always says enabled; the
	// force-disabled state shows on the /stats page (as an "enable" link).
	if page, err := client.RawStats(cctx); err != nil || !strings.Contains(string(page), `href="/request/enable"`) {
		t.Fatalf("after disable the /stats page does not offer enable (err %v)", err)
	}
	if err := client.Enable(cctx); err != nil {
		t.Fatalf("enable: %v", err)
	}

	// Crash: kill QEMU; the supervisor restarts it and the events are stored.
	in = s.State().Dev
	if in.PID <= 0 {
		t.Fatalf("no QEMU PID in %+v", in)
	}
	if err := syscall.Kill(in.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	old := in.PID
	waitInstance(t, s, events, 5*time.Minute, "restarted and ready", func(in *Instance) bool {
		return in.State == vm.StateRunning && in.Restarts == 1 && in.PID != 0 && in.PID != old
	})

	start := time.Now()
	if err := s.StopDev(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("graceful stop took %s", time.Since(start).Round(time.Millisecond))
	if s.State().Dev.State != vm.StateStopped {
		t.Errorf("after stop: %s", s.State().Dev.State)
	}
	if _, err := vm.CheckPIDFile(InstanceFiles(dataDir, 0).PIDFile); err == nil {
		t.Error("QEMU still runs after StopDev")
	}
	cancel()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}

	db, err := store.Open(context.Background(), filepath.Join(dataDir, store.DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	evs, err := db.Events(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range evs {
		kinds[e.Kind]++
	}
	for _, k := range []string{"vm.started", "vm.exited", "vm.restarting"} {
		if kinds[k] == 0 {
			t.Errorf("no %s event stored (have %v)", k, kinds)
		}
	}
}

// TestDevModeGivesUp: a QEMU that fails at once is retried with backoff,
// then given up; the instance ends failed and DevDone closes.
func TestDevModeGivesUp(t *testing.T) {
	if _, err := vm.Inspect(context.Background(), ""); err != nil {
		t.Skipf("needs QEMU (for the doctor's probe): %v", err)
	}
	src, _ := filepath.Abs("..")
	fake := filepath.Join(t.TempDir(), "qemu-system-x86_64")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'fake qemu: cannot start' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := New(Options{DataDir: t.TempDir(), NVML: noNVML(), ImageCacheDir: imageCache(t), SourceDir: src, QEMU: fake})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The doctor needs the real QEMU for its probes; only the worker VM uses the fake.
	s.opts.Inspect = func(ctx context.Context, _ string) (vm.QEMUInfo, error) { return vm.Inspect(ctx, "") }
	events := s.Subscribe(ctx)
	if err := s.StartDev(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	select {
	case <-s.DevDone():
	case <-time.After(3 * time.Minute):
		t.Fatalf("never gave up; instance %+v", s.State().Dev)
	}
	for len(events) > 0 {
		if ev := <-events; ev.Message != "" {
			t.Logf("%s", ev.Message)
		}
	}
	in := s.State().Dev
	if in.State != vm.StateFailed || !strings.Contains(in.LastExit, "fake qemu: cannot start") {
		t.Errorf("after giving up: state %s, last exit %q", in.State, in.LastExit)
	}
	// A new start replaces the failed instance instead of saying it runs.
	if err := s.StartDev(ctx); err != nil && strings.Contains(err.Error(), "already running") {
		t.Errorf("start after give-up: %v", err)
	}
	_ = s.StopDev(ctx)
}

// TestDevModeStopWhilePreparing: StopDev during preparation cancels it
// and no VM is left running.
func TestDevModeStopWhilePreparing(t *testing.T) {
	if _, err := vm.Inspect(context.Background(), ""); err != nil {
		t.Skipf("needs QEMU: %v", err)
	}
	src, _ := filepath.Abs("..")
	dataDir := t.TempDir()
	s := New(Options{DataDir: dataDir, NVML: noNVML(), ImageCacheDir: imageCache(t), SourceDir: src})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := s.Subscribe(ctx)
	started := make(chan error, 1)
	go func() { started <- s.StartDev(ctx) }()
	for ev := range events {
		if ev.Kind == EventInstance && ev.State.Dev != nil && ev.State.Dev.State == vm.StatePreparing {
			break
		}
	}
	if err := s.StopDev(ctx); err != nil {
		t.Logf("stop: %v", err)
	}
	err := <-started
	t.Logf("start returned %v", err)
	if _, perr := vm.CheckPIDFile(InstanceFiles(dataDir, 0).PIDFile); perr == nil {
		_ = s.StopDev(ctx)
		t.Fatal("a VM runs after StopDev during preparation")
	}
	if in := s.State().Dev; in != nil && in.State == vm.StateRunning {
		t.Errorf("state %s after stop", in.State)
	}
}
