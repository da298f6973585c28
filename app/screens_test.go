package app

import (
	"context"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// go test ./app -run TestScreens -update-screens rewrites the golden
// markup after a deliberate change to a screen; review the diff.
var updateScreens = flag.Bool("update-screens", false, "rewrite app/testdata/screens/*.xml from the screens as they render now")

// assertScreen renders c in a window of the app's default size and
// compares its markup with testdata/screens/<name>.xml.
func assertScreen(t *testing.T, name string, c fyne.CanvasObject) {
	t.Helper()
	w := test.NewWindow(c)
	t.Cleanup(w.Close)
	w.Resize(fyne.NewSize(980, 720))
	file := filepath.Join("screens", name+".xml")
	if *updateScreens {
		path := filepath.Join("testdata", file)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(test.RenderToMarkup(w.Canvas())), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	test.AssertRendersToMarkup(t, file, w.Canvas())
}

// screenReport is a fixed machine check: one failed item with its fix, a
// warning and two that are fine.
var screenReport = hostcheck.Report{
	Time: time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC),
	Host: hostcheck.HostInfo{Hostname: "gpu-box", OS: "Debian GNU/Linux 12 (bookworm)", Kernel: "6.1.0-28-amd64"},
	Checks: []hostcheck.Check{
		{ID: "tdx", Title: "TDX enabled in KVM", Status: hostcheck.StatusFail, DevStatus: hostcheck.StatusOK,
			Observed: "CPU flag tdx_host_platform absent", Why: "The worker VM is an Intel TDX trust domain.", Fix: "Enable TDX in the BIOS."},
		{ID: "cores", Title: "CPU threads", Status: hostcheck.StatusWarn, DevStatus: hostcheck.StatusOK,
			Observed: "16 logical CPUs", Why: "The worker VM gets 32 virtual CPUs.", Fix: "Use a host with at least 32 CPU threads."},
		{ID: "kernel", Title: "Linux kernel", Status: hostcheck.StatusOK, DevStatus: hostcheck.StatusOK, Observed: "6.1.0-28-amd64"},
		{ID: "qemu", Title: "QEMU", Status: hostcheck.StatusOK, DevStatus: hostcheck.StatusOK, Observed: "QEMU emulator version 10.1.0"},
	},
	Production: hostcheck.Verdict{Summary: "This machine cannot earn on COCOON, because of: TDX enabled in KVM. You can still try dev mode."},
	Dev:        hostcheck.Verdict{Ready: true, Summary: "Dev mode can run here with KVM."},
	DevAccel:   "kvm",
}

// TestScreensMachineCheck: the Machine check tab over a fixed report.
func TestScreensMachineCheck(t *testing.T) {
	test.NewTempApp(t)
	v := newMachineView()
	v.progress.Hide() // the infinite bar animates; the screen is compared after the check
	v.show(screenReport)
	assertScreen(t, "machine-check", v.content)
}

// TestScreensEarnings: the Earnings tab's 24 h view with three buckets
// and an electricity price.
func TestScreensEarnings(t *testing.T) {
	a := test.NewTempApp(t)
	now := time.Date(2026, 11, 23, 14, 30, 0, 0, time.Local)
	hour := now.Truncate(time.Hour)
	watts := 350.0
	api := enginetest.New(engine.State{Mode: engine.ModeDev, GPUs: gpu.Inventory{GPUs: []gpu.GPU{{PowerDrawW: &watts}}}},
		hostcheck.Report{}, gpu.Inventory{})
	stages := func(earned, paid int64) map[string]int64 {
		return map[string]int64{store.StageEarned: earned, store.StagePaid: paid}
	}
	api.SetEarningsSeries([]engine.EarningsBucket{
		{Start: hour.Add(-2 * time.Hour), NanoTON: stages(500_000_000, 0)},
		{Start: hour, NanoTON: stages(1_500_000_000, 250_000_000)},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := newEarningsView(ctx, api, a.Preferences())
	v.now = func() time.Time { return now }
	v.price.SetText("0.5")
	v.setVisible(ctx, true)
	waitShown(t, v.shown)
	assertScreen(t, "earnings-24h", v.content)
}

// TestScreensLogs: the Logs tab showing the app's log.
func TestScreensLogs(t *testing.T) {
	test.NewTempApp(t)
	fake := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	fake.SetLogs(engine.LogApp, []string{"level=INFO msg=started", `level=WARN msg="GPU 0 at 86 °C"`, "level=INFO msg=ready"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := newLogsView(ctx, fake)
	v.auto.every = time.Hour
	v.setVisible(ctx, true)
	waitShown(t, v.shown)
	assertScreen(t, "logs", v.content)
}

// TestScreensWizard renders each step of the first-run wizard.
func TestScreensWizard(t *testing.T) {
	// A fixed node key (so the cocoon wallet's address is fixed) in an
	// existing keystore.
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	node, err := wallet.NodeKeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	w, api, _, _ := newTestWizard(t, screenReport)
	api.SetWallet(engine.WalletConfig{NodePublicKey: hex.EncodeToString(node.PublicKey())}, "long enough")
	wait(t, w.pending)
	assertScreen(t, "wizard-1-machine", w.content)
	test.Tap(w.next)
	wait(t, w.pending)
	w.wallet.address.SetText(wizardOwner)
	w.wallet.pass1.SetText("long enough")
	assertScreen(t, "wizard-2-wallet", w.content)
	test.Tap(w.wallet.setup)
	wait(t, w.pending)
	test.Tap(w.next)
	wait(t, w.pending)
	assertScreen(t, "wizard-3-price", w.content)
	test.Tap(w.next)
	wait(t, w.pending)
	assertScreen(t, "wizard-4-image", w.content)
	test.Tap(w.next)
	wait(t, w.pending)
	assertScreen(t, "wizard-5-funding", w.content)
	test.Tap(w.funding.skip)
	test.Tap(w.startBtn)
	wait(t, w.pending)
	waitInstanceShown(t, w) // the fake's start event
	api.Publish(engine.EventInstance, func(st *engine.State) {
		st.Dev = &engine.Instance{State: vm.StateRunning, Accel: vm.AccelTCG, StatsAddr: "127.0.0.1:12000",
			Load: &engine.LoadStats{Sent: 3, OK: 2, Failed: 1}}
	})
	waitInstanceShown(t, w)
	assertScreen(t, "wizard-6-start", w.content)
}

func waitInstanceShown(t *testing.T, w *wizard) {
	t.Helper()
	select {
	case <-w.instanceShown:
	case <-time.After(10 * time.Second):
		t.Fatal("the instance was never shown")
	}
}

// TestScreensGPUs: the GPUs tab with one H100 and a minute of telemetry.
func TestScreensGPUs(t *testing.T) {
	test.NewTempApp(t)
	idx, util, mem, total, temp, power := 0, uint32(87), uint64(61440), uint64(81559), uint32(71), 512.5
	inv := gpu.Inventory{NVML: gpu.NVMLStatus{Loaded: true}, GPUs: []gpu.GPU{{
		Source: gpu.SourceNVML, Index: &idx, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-7f3a", BusID: "0000:17:00.0",
		UtilizationPct: &util, MemoryUsedMiB: &mem, MemoryTotalMiB: &total, TemperatureC: &temp, PowerDrawW: &power,
	}}}
	api := enginetest.New(engine.State{}, hostcheck.Report{}, inv)
	now := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	var pts []engine.GPUPoint
	for i := range 60 {
		pts = append(pts, engine.GPUPoint{Time: now.Add(time.Duration(i-60) * time.Second), UtilPct: float64(60 + i%30),
			MemUsedMiB: 61440, TempC: float64(65 + i%7), PowerW: float64(400 + 2*i)})
	}
	api.SetGPUSeries(inv.GPUs[0].Key(), pts)
	v := newGPUView().withCharts(context.Background(), api)
	v.now = func() time.Time { return now }
	v.auto.every = time.Hour
	v.show(inv)
	v.setVisible(true)
	waitRefreshed(t, v.refreshed)
	v.setVisible(false)
	assertScreen(t, "gpus", v.content)
}

// TestScreensWorker: the Worker tab with the stand-in worker running.
func TestScreensWorker(t *testing.T) {
	test.NewTempApp(t)
	api := enginetest.New(engine.State{Mode: engine.ModeDev}, hostcheck.Report{}, gpu.Inventory{})
	v := newWorkerView(context.Background(), api)
	v.show(&engine.Instance{State: vm.StateRunning, Accel: vm.AccelTCG, PID: 4242, StatsAddr: "127.0.0.1:12000",
		BootTime: 5500 * time.Millisecond}, "stand-in worker ready in 5.5s")
	assertScreen(t, "worker", v.content)
}

// TestScreensSettings: the Settings tab over stored settings.
func TestScreensSettings(t *testing.T) {
	stored := engine.Settings{GPUTempLimitC: 80, PauseAboveC: 86, ResumeBelowC: 78,
		Schedule: &engine.Schedule{Days: [7]bool{false, true, true, true, true, true, false}, From: "22:00", To: "06:00"}}
	v, _ := newTestSettingsView(t, stored, &settingsAutostart{})
	assertScreen(t, "settings", v.content)
}
