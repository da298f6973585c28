package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// texts collects every label's text under o.
func texts(o fyne.CanvasObject) []string {
	var out []string
	var walk func(fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		switch w := o.(type) {
		case *widget.Label:
			out = append(out, w.Text)
		case *widget.Button:
			out = append(out, w.Text)
		case *widget.Card:
			out = append(out, w.Title, w.Subtitle)
			if w.Content != nil {
				walk(w.Content)
			}
		case *fyne.Container:
			for _, c := range w.Objects {
				walk(c)
			}
		case *container.Scroll:
			walk(w.Content)
		}
	}
	walk(o)
	return out
}

func contains(all []string, want string) bool {
	for _, s := range all {
		if strings.Contains(s, want) {
			return true
		}
	}
	return false
}

func TestMachineViewShowsVerdictsAndFixes(t *testing.T) {
	test.NewTempApp(t)
	v := newMachineView()
	r := hostcheck.Report{
		Time: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		Host: hostcheck.HostInfo{Hostname: "box", OS: "Debian GNU/Linux 12 (bookworm)", Kernel: "6.1.0"},
		Checks: []hostcheck.Check{
			{ID: "kvm_guest", Title: "KVM runs a guest", Status: hostcheck.StatusFail, DevStatus: hostcheck.StatusWarn,
				Observed: "KVM present but unusable", Why: "why-kvm", Fix: "turn on nested virtualisation"},
			{ID: "kernel", Title: "Linux kernel", Status: hostcheck.StatusOK, DevStatus: hostcheck.StatusOK, Observed: "6.16.3", Why: "why-kernel"},
		},
		Production: hostcheck.Verdict{Summary: "This machine cannot earn on COCOON, because of: KVM runs a guest."},
		Dev:        hostcheck.Verdict{Ready: true, Summary: "Dev mode can run here with software emulation."},
	}
	v.show(r)
	got := texts(v.content)
	for _, want := range []string{r.Production.Summary, r.Dev.Summary, "KVM present but unusable", "Fix: turn on nested virtualisation",
		"Why it matters: why-kvm", "dev mode: warn", "Checked 12:00:00 on box"} {
		if !contains(got, want) {
			t.Errorf("machine view lacks %q", want)
		}
	}
	if contains(got, "why-kernel") {
		t.Error("an item that is fine should not explain itself")
	}
}

func TestGPUViewUpdatesInPlace(t *testing.T) {
	test.NewTempApp(t)
	v := newGPUView()
	v.show(gpu.Inventory{NVML: gpu.NVMLStatus{Reason: "NVML library not found"}})
	if !contains(texts(v.content), "No GPU found") {
		t.Fatal("empty inventory not explained")
	}
	util := uint32(10)
	g := gpu.GPU{Source: gpu.SourceNVML, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-1", BusID: "0000:17:00.0", UtilizationPct: &util}
	v.show(gpu.Inventory{NVML: gpu.NVMLStatus{Loaded: true, DriverVersion: "580.95.05"}, GPUs: []gpu.GPU{g}})
	first := v.cards.Objects[0]
	util = 77
	v.show(gpu.Inventory{NVML: gpu.NVMLStatus{Loaded: true, DriverVersion: "580.95.05"}, GPUs: []gpu.GPU{g}})
	if v.cards.Objects[0] != first {
		t.Error("a telemetry refresh rebuilt the card instead of updating it")
	}
	got := texts(v.content)
	if !contains(got, "77") || !contains(got, "NVIDIA driver 580.95.05") {
		t.Errorf("GPU view texts %q", got)
	}
}

func TestMainViewShowsStoreErrorReportedBeforeStart(t *testing.T) {
	test.NewTempApp(t)
	api := enginetest.New(engine.State{StoreError: "database file is damaged"}, hostcheck.Report{
		Production: hostcheck.Verdict{Summary: "cannot earn"}, Dev: hostcheck.Verdict{Ready: true, Summary: "dev ok"},
	}, gpu.Inventory{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := newMainView(ctx, newAPISwitch(api, ""), fyne.CurrentApp().Preferences())
	v.start(ctx)
	select {
	case <-v.ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the first check never completed")
	}
	if !v.machine.storeErr.Visible() || !strings.Contains(v.machine.storeErr.Text, "database file is damaged") {
		t.Errorf("store error label = %q visible %v", v.machine.storeErr.Text, v.machine.storeErr.Visible())
	}
	if api.Checks != 1 {
		t.Errorf("%d checks, want 1", api.Checks)
	}
}

func TestMainViewShowsCheckFailure(t *testing.T) {
	test.NewTempApp(t)
	api := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	api.FailChecks(errors.New("context canceled"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := newMainView(ctx, newAPISwitch(api, ""), fyne.CurrentApp().Preferences())
	select {
	case <-v.runCheck(ctx):
	case <-time.After(10 * time.Second):
		t.Fatal("the check never finished")
	}
	if !strings.Contains(v.machine.prodText.Text, "The check could not run: context canceled") {
		t.Errorf("check failure shown as %q", v.machine.prodText.Text)
	}
	if v.machine.recheck.Disabled() {
		t.Error("Check again stays disabled after a failed check")
	}
}

func TestWorkerViewShowsInstance(t *testing.T) {
	test.NewTempApp(t)
	api := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	v := newWorkerView(context.Background(), api)
	if v.start.Disabled() || !v.stop.Disabled() {
		t.Fatal("before any instance: Start should be enabled and Stop disabled")
	}
	v.show(&engine.Instance{State: vm.StateRunning, Accel: vm.AccelTCG, PID: 42, Restarts: 1, StatsAddr: "127.0.0.1:12000",
		BootTime: 5500 * time.Millisecond, LastExit: "QEMU exited: killed by signal killed"}, "stand-in worker ready in 5.5s")
	if !v.start.Disabled() || v.stop.Disabled() {
		t.Error("while running: Start should be disabled and Stop enabled")
	}
	got := texts(v.content)
	for _, want := range []string{"Stand-in worker: running", "software emulation (TCG)", "QEMU PID 42", "restarts 1", "ready in 5.5s",
		"Last exit: QEMU exited", "stand-in worker ready in 5.5s"} {
		if !contains(got, want) {
			t.Errorf("worker view lacks %q in %q", want, got)
		}
	}
	v.show(&engine.Instance{State: vm.StateStopped}, "stopped in 60ms")
	if v.start.Disabled() || !v.stop.Disabled() {
		t.Error("after stop: Start should be enabled again")
	}
}

func TestWorkerViewShowsActivityEarningsAndPause(t *testing.T) {
	test.NewTempApp(t)
	api := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	v := newWorkerView(context.Background(), api)
	st := &worker.Stats{Proxies: []worker.ProxyInfo{{ProxySCAddress: "p"}}, Wallet: &worker.Wallet{Balance: 3_500_000_000}}
	st.Status.WalletBalance, st.Status.HasWalletBalance = 3_500_000_000, true
	st.Counters.Queries[0], st.Counters.Failed[0], st.Counters.TotalAdjustedTokens[0] = 12, 1, 3456
	st.Counters.BytesReceived[0] = 2048
	st.Counters.Queries[2], st.Counters.TotalAdjustedTokens[2], st.Counters.Time[2] = 1.5, 200, 0.5
	v.show(&engine.Instance{State: vm.StateRunning, Stats: st,
		Activity: &worker.Activity{Interval: 2 * time.Second, Queries: 3, Success: 3, TokensTotal: 400, BusySeconds: 1},
		Load:     &engine.LoadStats{Sent: 13, OK: 12, Failed: 1},
		Trust: &engine.Trust{Accepted: true, FakeTDX: true, Verified: true, ImageHash: strings.Repeat("5c", 32), ModelHash: strings.Repeat("ab", 32),
			Source: "RA-TLS certificate verified by the stand-in proxy", AllowedImages: 1, AllowedModels: 1,
			CertNotBefore: time.Now().Add(-90 * time.Minute), CertNotAfter: time.Now().Add(22*time.Hour + 30*time.Minute)}}, "")
	v.showEarnings(&engine.Earnings{
		Today:        map[string]int64{store.StageEarned: 1_500_000_000},
		All:          map[string]int64{store.StageEarned: 2_000_000_000, store.StagePaid: 250_000_000},
		ClaimableNow: 16_000})
	got := texts(v.content)
	for _, want := range []string{"Last 10 s: 1.50 requests/s", "200 adjusted tokens/s", "concurrency 0.50", "success 100%",
		"12 requests (1 failed)", "3456 adjusted tokens", "2.0 KiB in", "Connected proxies: 1", "Cocoon wallet float: 3.5 TON (low: under 5 TON; top it up soon)", "13 sent, 12 answered, 1 failed",
		"earned                          1.5 TON", "2 TON", "0.25 TON", "Claimable now: 0.000016 TON",
		"Accepted by the stand-in proxy (fake TDX", "Image hash 5c5c5c5c5c5c5c5c…", "certificate made 1h30m0s ago"} {
		if !contains(got, want) {
			t.Errorf("worker view lacks %q in %q", want, got)
		}
	}
	if v.payout.Disabled() {
		t.Error("Payout now is disabled with something claimable")
	}
	if !v.resume.Disabled() {
		t.Error("Resume is enabled while not paused")
	}
	until := time.Date(2026, 11, 24, 8, 0, 0, 0, time.Local)
	v.showPause(&engine.Pause{Until: until})
	if v.resume.Disabled() || !contains(texts(v.content), "Paused until Tue 08:00") {
		t.Errorf("timed pause not shown: %q", texts(v.content))
	}
	v.showPause(&engine.Pause{Auto: true, Reason: engine.ReasonHot})
	if v.resume.Disabled() || !contains(texts(v.content), "Paused automatically (GPU too hot)") {
		t.Errorf("automatic pause not shown: %q", texts(v.content))
	}
	v.showPause(nil)
	if !v.resume.Disabled() || contains(texts(v.content), "Paused until") {
		t.Error("resume not shown")
	}
}

func TestCheckDisplay(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if err := checkDisplay(env(nil)); !errors.Is(err, ErrNoDisplay) {
		t.Errorf("no display: %v", err)
	}
	for _, k := range []string{"DISPLAY", "WAYLAND_DISPLAY"} {
		if err := checkDisplay(env(map[string]string{k: ":0"})); err != nil {
			t.Errorf("%s set: %v", k, err)
		}
	}
}

// TestMainViewShowsAlerts: an engine alert is a desktop notification and
// the notice line; one that says a problem is over is the line only.
func TestMainViewShowsAlerts(t *testing.T) {
	test.NewTempApp(t)
	api := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := newMainView(ctx, newAPISwitch(api, ""), fyne.CurrentApp().Preferences())
	notes := make(chan *fyne.Notification, 64)
	v.notify = func(n *fyne.Notification) { notes <- n }
	v.start(ctx)
	select {
	case <-v.ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the first check never completed")
	}
	down := engine.Alert{Kind: engine.AlertWorkerDown, Title: "Worker down", Body: "The dev-mode worker failed and has not recovered.", Instance: 0}
	// The view subscribes in the background: publish until it listens.
	var n *fyne.Notification
	for n == nil {
		api.PublishAlert(down)
		select {
		case n = <-notes:
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	if n.Title != down.Title || n.Content != down.Body {
		t.Errorf("notification %q: %q", n.Title, n.Content)
	}
	clear := engine.Alert{Kind: engine.AlertWorkerDown, Title: "Worker running again", Body: "The dev-mode worker is running and answering again.", Clear: true}
	hot := engine.Alert{Kind: engine.AlertGPUHot, Title: "GPU too hot: 91 °C", Body: "GPU 0 (NVIDIA H100) is at 91 °C.", Instance: engine.NoInstance}
	api.PublishAlert(clear)
	api.PublishAlert(hot)
	for n.Title != hot.Title {
		select {
		case n = <-notes:
			if n.Title == clear.Title {
				t.Fatal("a Clear alert was a notification")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no notification for the second alert")
		}
	}
	if !v.notice.Visible() || !strings.HasSuffix(v.notice.Text, "  "+hot.Body) {
		t.Errorf("notice line %q (visible %v)", v.notice.Text, v.notice.Visible())
	}
	// A Clear alert: the line only.
	v.showAlert(clear, time.Date(2026, 3, 1, 9, 41, 0, 0, time.Local))
	if v.notice.Text != "09:41  "+clear.Body {
		t.Errorf("notice line %q", v.notice.Text)
	}
	select {
	case n := <-notes:
		if n.Title != down.Title { // a late duplicate of the first publish is fine
			t.Errorf("notification %q for a Clear alert", n.Title)
		}
	default:
	}
}

// TestWorkerViewPicksAmongInstances: with the dev worker and two
// monitored ones, a picker offers all three and each shows its own state.
func TestWorkerViewPicksAmongInstances(t *testing.T) {
	test.NewTempApp(t)
	api := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	v := newWorkerView(context.Background(), api)
	v.showInstances(&engine.Instance{Number: 0, State: vm.StateRunning}, nil, "")
	if v.picker.Visible() {
		t.Error("a picker for one instance")
	}
	attached := []engine.Instance{{Number: 1, State: vm.StateRunning, StatsAddr: "127.0.0.1:12010"},
		{Number: 2, State: vm.StateDegraded, StatsAddr: "127.0.0.1:12020"}}
	v.showInstances(&engine.Instance{Number: 0, State: vm.StateRunning}, attached, "")
	if !v.picker.Visible() || len(v.picker.Options) != 3 || v.picker.Options[0] != "Instance 0: stand-in worker (running)" ||
		v.picker.Options[2] != "Instance 2: 127.0.0.1:12020 (degraded)" || v.picker.SelectedIndex() != 0 {
		t.Fatalf("picker %v selected %d", v.picker.Options, v.picker.SelectedIndex())
	}
	v.picker.SetSelectedIndex(2)
	if v.chosen != 2 || !strings.Contains(v.state.Text, "degraded") {
		t.Errorf("after choosing instance 2: chosen %d, state %q", v.chosen, v.state.Text)
	}
	// A new event keeps the choice.
	attached[1].State = vm.StateRunning
	v.showInstances(&engine.Instance{Number: 0, State: vm.StateStopped}, attached, "")
	if v.chosen != 2 || v.picker.SelectedIndex() != 2 || !strings.Contains(v.state.Text, "running") {
		t.Errorf("after an update: chosen %d (index %d), state %q", v.chosen, v.picker.SelectedIndex(), v.state.Text)
	}
	if v.charts.instance != 2 {
		t.Errorf("charts follow instance %d, want 2", v.charts.instance)
	}
}
