package engine

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// alertStep is one published state at a time after the start, and the
// alerts it must give: "kind" for an alert, "kind clear" for a Clear one.
type alertStep struct {
	at   time.Duration
	st   State
	want []string
	// text, when set, must be in the (single) alert's title or body.
	text string
}

var alertT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// runAlertSteps feeds the steps to a fresh detector in order.
func runAlertSteps(t *testing.T, d *alertDetector, steps []alertStep) {
	t.Helper()
	var prev State
	for i, s := range steps {
		got := d.observe(prev, s.st, alertT0.Add(s.at))
		prev = s.st
		var kinds []string
		for _, a := range got {
			k := string(a.Kind)
			if a.Clear {
				k += " clear"
			}
			kinds = append(kinds, k)
			if a.Title == "" || a.Body == "" {
				t.Errorf("step %d (%s): alert without title or body: %+v", i, s.at, a)
			}
		}
		if fmt.Sprint(kinds) != fmt.Sprint(s.want) {
			t.Fatalf("step %d (%s): alerts %v, want %v (%+v)", i, s.at, kinds, s.want, got)
		}
		if s.text != "" && !strings.Contains(got[0].Title+" "+got[0].Body, s.text) {
			t.Errorf("step %d (%s): alert %q lacks %q", i, s.at, got[0].Text(), s.text)
		}
	}
}

func devIn(state vm.State, statsErr string) State {
	return State{Dev: &Instance{Number: 0, State: state, StatsError: statsErr}}
}

func attachedIn(state vm.State) State {
	return State{Attached: []Instance{{Number: 100, State: state, StatsAddr: "10.0.0.2:12000"}}}
}

const (
	down     = "worker_down"
	up       = "worker_down clear"
	hot      = "gpu_hot"
	paid     = "payout"
	float    = "float_low"
	refusing = "not_allowed"
)

func TestAlertWorkerDown(t *testing.T) {
	run, fail, deg, boot := vm.StateRunning, vm.StateFailed, vm.StateDegraded, vm.StateBooting
	for _, tc := range []struct {
		name  string
		steps []alertStep
	}{
		{"not answering: once after 2 minutes, recovered, again after a new outage", []alertStep{
			{at: 0, st: devIn(run, "")},
			{at: time.Second, st: devIn(deg, "connection refused")},
			{at: time.Minute, st: devIn(deg, "connection refused")},
			{at: 2*time.Minute + time.Second, st: devIn(deg, "connection refused")}, // exactly 2 min: not yet
			{at: 2*time.Minute + 2*time.Second, st: devIn(deg, "connection refused"), want: []string{down}, text: "does not answer"},
			{at: 10 * time.Minute, st: devIn(deg, "connection refused")}, // one alert per outage
			{at: 11 * time.Minute, st: devIn(run, ""), want: []string{up}, text: "running and answering again"},
			{at: 12 * time.Minute, st: devIn(run, "")},
			// Cleared in between: the next outage is news within 30 min.
			{at: 13 * time.Minute, st: devIn(deg, "timeout")},
			{at: 15*time.Minute + time.Second, st: devIn(deg, "timeout"), want: []string{down}},
		}},
		{"a short outage is no news", []alertStep{
			{at: 0, st: devIn(deg, "timeout")},
			{at: 90 * time.Second, st: devIn(run, "")},
			{at: 5 * time.Minute, st: devIn(run, "")},
		}},
		{"failed", []alertStep{
			{at: 0, st: devIn(fail, "")},
			{at: 2*time.Minute + time.Second, st: devIn(fail, ""), want: []string{down}, text: "The dev-mode worker failed"},
		}},
		{"a crash loop stays one outage", []alertStep{
			{at: 0, st: devIn(fail, "")},
			{at: 30 * time.Second, st: devIn(boot, "")},
			{at: 60 * time.Second, st: devIn(fail, "")},
			{at: 2*time.Minute + 5*time.Second, st: devIn(boot, ""), want: []string{down}, text: "keeps restarting"},
		}},
		{"the first boot is not an outage, a boot that never answers is", []alertStep{
			{at: 0, st: devIn(vm.StatePreparing, "")},
			{at: time.Second, st: devIn(boot, "")},
			{at: 3 * time.Minute, st: devIn(boot, "")},
			{at: 3*time.Minute + time.Second, st: devIn(boot, "no answer")},
			{at: 5*time.Minute + 2*time.Second, st: devIn(boot, "no answer"), want: []string{down}},
		}},
		{"stopped on purpose is not an outage", []alertStep{
			{at: 0, st: devIn(deg, "timeout")},
			{at: time.Minute, st: devIn(vm.StateStopping, "")},
			{at: 2 * time.Minute, st: devIn(vm.StateStopped, "")},
			{at: 10 * time.Minute, st: devIn(vm.StateStopped, "")},
		}},
		{"attached worker; detached and attached again: rate-limited", []alertStep{
			{at: 0, st: attachedIn(deg)},
			{at: 2*time.Minute + time.Second, st: attachedIn(deg), want: []string{down}, text: "attached worker 100 (10.0.0.2:12000)"},
			{at: 3 * time.Minute, st: State{}}, // detached: forgotten
			{at: 4 * time.Minute, st: attachedIn(deg)},
			{at: 6*time.Minute + 2*time.Second, st: attachedIn(deg)}, // same alert within 30 min
			{at: 32 * time.Minute, st: attachedIn(deg)},
			{at: 33 * time.Minute, st: attachedIn(deg), want: []string{down}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { runAlertSteps(t, newAlertDetector(0), tc.steps) })
	}
	// The alert names the instance.
	d := newAlertDetector(0)
	d.observe(State{}, attachedIn(vm.StateDegraded), alertT0)
	got := d.observe(State{}, attachedIn(vm.StateDegraded), alertT0.Add(3*time.Minute))
	if len(got) != 1 || got[0].Instance != 100 {
		t.Errorf("alert %+v, want one for instance 100", got)
	}
}

func gpuAt(temps ...uint32) State {
	var inv gpu.Inventory
	for i, c := range temps {
		idx := i
		g := gpu.GPU{Source: gpu.SourceNVML, Index: &idx, Name: "NVIDIA H100 80GB HBM3", UUID: fmt.Sprintf("GPU-%d", i)}
		if c != 0 {
			c := c
			g.TemperatureC = &c
		}
		inv.GPUs = append(inv.GPUs, g)
	}
	return State{GPUs: inv}
}

func TestAlertGPUHot(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name  string
		limit int
		steps []alertStep
	}{
		{"fires once, re-armed only after 60 s below the limit minus 5", 0, []alertStep{
			{at: 0, st: gpuAt(84)},
			{at: 1 * s, st: gpuAt(85), want: []string{hot}, text: "GPU 0 (NVIDIA H100 80GB HBM3) is at 85 °C, at or over the 85 °C limit"},
			{at: 2 * s, st: gpuAt(90)},
			{at: 3 * s, st: gpuAt(82)}, // below the limit, not 5 below
			{at: 200 * s, st: gpuAt(82)},
			{at: 201 * s, st: gpuAt(86)}, // not re-armed: no alert
			{at: 202 * s, st: gpuAt(79)},
			{at: 240 * s, st: gpuAt(81)}, // back within 5 °C: the 60 s start again
			{at: 241 * s, st: gpuAt(79)},
			{at: 300 * s, st: gpuAt(79)}, // 59 s
			{at: 301 * s, st: gpuAt(79)}, // 60 s: re-armed
			// Re-armed, but the same GPU's alert went out under 30 min
			// ago: held back, and sent once the time is up if still hot.
			{at: 302 * s, st: gpuAt(88)},
			{at: 1000 * s, st: gpuAt(88)},
			{at: 30*time.Minute + s, st: gpuAt(88), want: []string{hot}, text: "88 °C"},
		}},
		{"each GPU on its own; unknown temperatures ignored", 0, []alertStep{
			{at: 0, st: gpuAt(0, 60)},
			{at: s, st: gpuAt(0, 84)}, // GPU 0 without a temperature reading
			{at: 2 * s, st: gpuAt(0, 95), want: []string{hot}, text: "GPU 1"},
			{at: 3 * s, st: gpuAt(95, 95), want: []string{hot}, text: "GPU 0"},
			{at: 4 * s, st: gpuAt(95, 95)},
		}},
		{"the limit from the settings", 70, []alertStep{
			{at: 0, st: gpuAt(69)},
			{at: s, st: gpuAt(72), want: []string{hot}, text: "72 °C, at or over the 70 °C limit"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { runAlertSteps(t, newAlertDetector(tc.limit), tc.steps) })
	}
}

func walletAt(nano int64) State {
	return State{Earnings: &Earnings{All: map[string]int64{store.StageEarned: 9 * nano, store.StageWallet: nano}}}
}

func TestAlertPayout(t *testing.T) {
	s := time.Second
	const ton = worker.NanoTONPerTON
	runAlertSteps(t, newAlertDetector(0), []alertStep{
		{at: 0, st: State{}},               // no ledger read yet
		{at: s, st: walletAt(3 * ton)},     // the totals at start are old news
		{at: 2 * s, st: walletAt(3 * ton)}, // unchanged
		{at: 10 * s, st: walletAt(4 * ton)},
		{at: 15 * s, st: walletAt(5 * ton)}, // gathered with the first
		{at: 19 * s, st: walletAt(5 * ton)}, // 9 s after the first rise
		{at: 20 * s, st: walletAt(5 * ton), want: []string{paid}, text: "Payout arrived: 2 TON"},
		{at: 21 * s, st: walletAt(5 * ton)},
		// Another payout within 30 min: held back and summed.
		{at: 60 * s, st: walletAt(6 * ton)},
		{at: 80 * s, st: walletAt(6 * ton)},
		{at: 10 * time.Minute, st: walletAt(7 * ton)},
		{at: 30*time.Minute + 20*s, st: walletAt(7 * ton), want: []string{paid}, text: "2 TON arrived in your wallet in 2 payouts; 7 TON in all"},
	})
	// The body names the amount and the all-time total.
	d := newAlertDetector(0)
	d.observe(State{}, walletAt(ton/2), alertT0)
	d.observe(State{}, walletAt(2*ton), alertT0.Add(s))
	got := d.observe(State{}, walletAt(2*ton), alertT0.Add(11*s))
	if len(got) != 1 || got[0].Title != "Payout arrived: 1.5 TON" || got[0].Body != "1.5 TON arrived in your wallet; 2 TON in all so far." || got[0].Instance != NoInstance {
		t.Errorf("payout alert %+v", got)
	}
	// A rise in the very change that brought the first totals counts.
	d = newAlertDetector(0)
	d.observe(walletAt(ton), walletAt(2*ton), alertT0)
	if got := d.observe(walletAt(2*ton), walletAt(2*ton), alertT0.Add(10*s)); len(got) != 1 || !strings.Contains(got[0].Title, "1 TON") {
		t.Errorf("payout alert %+v", got)
	}
}

func floatAt(nano int64, known bool) State {
	st := &worker.Stats{}
	st.Status.WalletBalance, st.Status.HasWalletBalance = nano, known
	st.Wallet = &worker.Wallet{Address: "EQsecretlooking-wallet-address", Balance: nano}
	return State{Dev: &Instance{Number: 0, State: vm.StateRunning, Stats: st}}
}

func TestAlertFloatLow(t *testing.T) {
	const ton = worker.NanoTONPerTON
	m := time.Minute
	runAlertSteps(t, newAlertDetector(0), []alertStep{
		{at: 0, st: floatAt(0, false)}, // not read yet
		{at: m, st: floatAt(10*ton, true)},
		{at: 2 * m, st: floatAt(4*ton, true), want: []string{float}, text: "holds 4 TON, under 5 TON"},
		{at: 3 * m, st: floatAt(3*ton, true)},
		{at: 4 * m, st: floatAt(2*ton, true), want: []string{float}, text: "will not start or serve requests. Fund it: `cocoon-provider wallet topup 3`"},
		{at: 5 * m, st: floatAt(ton, true)},
		{at: 6 * m, st: floatAt(3*ton, true)},  // still low: no news
		{at: 7 * m, st: floatAt(20*ton, true)}, // topped up: re-armed
		// Low again under 30 min after the last "low": held back until then.
		{at: 8 * m, st: floatAt(4*ton, true)},
		{at: 32 * m, st: floatAt(4*ton, true), want: []string{float}},
		{at: 33 * m, st: floatAt(4*ton, true)},
	})
	// Too low at once: one alert, the serious one.
	d := newAlertDetector(0)
	got := d.observe(State{}, floatAt(ton, true), alertT0)
	if len(got) != 1 || got[0].Title != "Worker float too low" || got[0].Instance != 0 {
		t.Errorf("alerts %+v", got)
	}
}

func trustAt(t *Trust) State {
	return State{Attached: []Instance{{Number: 101, State: vm.StateRunning, StatsAddr: "10.0.0.3:12000", Trust: t}}}
}

func TestAlertNotAllowed(t *testing.T) {
	pending := &Trust{ModelListed: true, WorkerImageListed: true, WorkerModelListed: true,
		Reasons: []string{"the image hash is not known yet"}}
	notListed := &Trust{ImageHash: strings.Repeat("ab", 32), ModelListed: true, WorkerImageListed: true, WorkerModelListed: true,
		Reasons: []string{"image hash abab… is not among the 2 allowed by the root contract"}}
	model := &Trust{ImageHash: strings.Repeat("ab", 32), ImageListed: true, WorkerImageListed: true, WorkerModelListed: true,
		Reasons: []string{`model "x" is not among the 1 allowed`}}
	ok := &Trust{Accepted: true, ImageHash: strings.Repeat("ab", 32), ImageListed: true, ModelListed: true, WorkerImageListed: true, WorkerModelListed: true}
	m := time.Minute
	runAlertSteps(t, newAlertDetector(0), []alertStep{
		{at: 0, st: trustAt(nil)},
		{at: m, st: trustAt(pending)}, // waiting for the handshake: no refusal
		{at: 2 * m, st: trustAt(notListed), want: []string{refusing}, text: "Worker image not on the allow-list"},
		{at: 3 * m, st: trustAt(notListed)},
		{at: 4 * m, st: trustAt(pending)},
		{at: 5 * m, st: trustAt(notListed)}, // not accepted in between: not re-armed
		{at: 6 * m, st: trustAt(ok)},
		{at: 7 * m, st: trustAt(notListed)}, // re-armed, but under 30 min
		{at: 32 * m, st: trustAt(notListed), want: []string{refusing}, text: "The network would refuse the attached worker 101"},
		{at: 33 * m, st: trustAt(ok)},
		{at: 63 * m, st: trustAt(model), want: []string{refusing}, text: "Worker model not on the allow-list"},
	})
}

func TestTrustRefused(t *testing.T) {
	fake := attest.FakeTDXImageHash
	other := sha256.Sum256([]byte("another image"))
	var st worker.Stats
	st.LocalConfig.Model = "m@c:h"
	st.Status.ActualImageHash, st.Status.ActualModel = true, true
	st.RootContract.WorkerHashes = []worker.Hash{worker.Hash(fake)}
	st.RootContract.ModelHashes = []worker.Hash{sha256.Sum256([]byte("m@c:h"))}
	notSelf := st
	notSelf.Status.ActualImageHash = false
	for _, tc := range []struct {
		name    string
		mode    Mode
		st      worker.Stats
		image   *[32]byte
		fake    bool
		refused bool
	}{
		{"accepted", ModeDev, st, &fake, true, false},
		{"hash not known yet", ModeProduction, st, nil, false, false},
		{"image not listed", ModeProduction, st, &other, false, true},
		{"fake TDX outside dev mode", ModeProduction, st, &fake, true, true},
		{"the worker says not listed", ModeProduction, notSelf, nil, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := evaluateTrust(alertT0, tc.mode, tc.st, tc.image, "test", true, tc.fake)
			if tr.Refused() != tc.refused {
				t.Errorf("Refused() = %v, want %v (%v)", tr.Refused(), tc.refused, tr.Reasons)
			}
		})
	}
}

// TestAlertTextsCarryNoSecrets: the texts come from the engine's words and
// numbers, not from the documents the workers serve.
func TestAlertTextsCarryNoSecrets(t *testing.T) {
	d := newAlertDetector(0)
	st := floatAt(worker.NanoTONPerTON, true)
	st.Dev.State, st.Dev.StatsError = vm.StateDegraded, "worker /jsonstats: HTTP 500: token=hunter2"
	st.Dev.LastExit = "QEMU exited: key=hunter2"
	var all []Alert
	all = append(all, d.observe(State{}, st, alertT0)...)
	all = append(all, d.observe(st, st, alertT0.Add(3*time.Minute))...)
	if len(all) != 2 {
		t.Fatalf("alerts %+v, want float and down", all)
	}
	for _, a := range all {
		for _, bad := range []string{"hunter2", "EQsecretlooking"} {
			if strings.Contains(a.Text(), bad) {
				t.Errorf("alert %q carries %q", a.Text(), bad)
			}
		}
	}
}

// TestServiceAlerts: the Service runs the rules on what it publishes; an
// alert is an event for subscribers and an event in the database.
func TestServiceAlerts(t *testing.T) {
	w := newOfficialWorker()
	s, db, _, _ := runWithAttached(t, w)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := s.Subscribe(ctx)
	w.set(func(d *worker.Stats) { d.Status.WalletBalance, d.Status.HasWalletBalance = worker.NanoTONPerTON, true })
	var ev Event
	timeout := time.After(15 * time.Second)
	for ev.Alert == nil || ev.Alert.Kind != AlertFloatLow {
		select {
		case ev = <-events:
			if ev.Kind == EventAlert && ev.Alert == nil {
				t.Fatal("an alert event without an alert")
			}
			if ev.Kind != EventAlert && ev.Alert != nil {
				t.Fatalf("a %s event carries an alert", ev.Kind)
			}
		case <-timeout:
			t.Fatal("no float alert")
		}
	}
	if ev.Kind != EventAlert || ev.Alert.Instance != firstAttachedInstance || ev.Alert.Clear || ev.Message != ev.Alert.Text() ||
		!strings.Contains(ev.Alert.Body, "1 TON") || len(ev.State.Attached) != 1 {
		t.Errorf("alert event %+v", ev)
	}
	eventually(t, "the alert in the database", func() bool {
		es, err := db.Events(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Kind == "alert.float_low" {
				if e.Level != "warn" || e.Message != ev.Alert.Text() || !strings.Contains(string(e.Attrs), `"instance":100`) {
					t.Errorf("stored alert %+v (%s)", e, e.Attrs)
				}
				return true
			}
		}
		return false
	})
}

func TestReadGPUTempLimit(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir()+"/"+store.DefaultFileName)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := New(Options{Root: t.TempDir(), NVML: noNVML()})
	defer s.Close()
	if got := s.readSettings(ctx, db).GPUTempLimitC; got != DefaultGPUTempLimitC {
		t.Errorf("unset: %d", got)
	}
	d := DefaultGPUTempLimitC
	for v, want := range map[string]int{"78": 78, " 90 ": 90, "hot": d, "300": d, "-5": d, "": d} {
		if err := db.SetSetting(ctx, SettingAlertGPUTempC, v); err != nil {
			t.Fatal(err)
		}
		if got := s.readSettings(ctx, db).GPUTempLimitC; got != want {
			t.Errorf("%q: %d, want %d", v, got, want)
		}
	}
}
