package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

// wizardStep is one page of the first-run wizard.
type wizardStep struct {
	title   string
	content fyne.CanvasObject
	// valid says whether Next may be pressed.
	valid func() bool
	// enter runs each time the step is shown (may be nil).
	enter func()
	// leave runs on Next before the next step is shown; it calls done with
	// whether to go on (may be nil: go on).
	leave func(done func(ok bool))
}

// wizard is the first-run wizard, shown in place of the main window's
// content when no owner address is configured, and again from "Setup
// wizard…". Its steps run over the engine API only; background work
// touches widgets through fyne.Do. Its fields are used on the UI thread.
type wizard struct {
	ctx     context.Context
	cancel  context.CancelFunc
	api     engine.API
	clip    fyne.Clipboard
	onClose func()

	content  fyne.CanvasObject
	progress *widget.Label
	bar      *widget.ProgressBar
	title    *widget.Label
	body     *fyne.Container
	back     *widget.Button
	next     *widget.Button
	steps    []*wizardStep
	cur      int
	leaving  bool

	// pending closes once the last background operation is on screen;
	// instanceShown gets a value each time an instance update is shown
	// (tests wait on both).
	pending       <-chan struct{}
	instanceShown chan struct{}
	// applying serializes background updates: the UI thread does that
	// already, but the headless test driver runs fyne.Do at once on the
	// calling goroutine.
	applying sync.Mutex

	mode engine.Mode

	// Step 1: machine check.
	machine   *machineView
	verdict   *widget.Label
	checkDone bool

	// Step 2: wallet.
	wallet *wizardWallet

	// Step 3: model and price.
	coef     *widget.Entry
	coefErr  *widget.Label
	estimate *widget.Label
	settings *engine.Settings // as read from the engine; nil until read

	// Step 4: image.
	image *widget.Label

	// Step 5: funding.
	funding *wizardFunding

	// Step 6: start.
	startBtn  *widget.Button
	runState  *widget.Label
	requests  *widget.Label
	started   bool
	startBusy bool
}

// newWizard builds the wizard; onClose is called (on the UI thread) when
// the user finishes or closes it. clip may be nil (no Copy buttons work).
func newWizard(ctx context.Context, api engine.API, clip fyne.Clipboard, onClose func()) *wizard {
	ctx, cancel := context.WithCancel(ctx)
	w := &wizard{ctx: ctx, cancel: cancel, api: api, clip: clip, onClose: onClose, mode: api.State().Mode,
		instanceShown: make(chan struct{}, 64)}
	if w.mode == "" {
		w.mode = engine.ModeDev
	}
	closed := make(chan struct{})
	close(closed)
	w.pending = closed
	w.steps = []*wizardStep{w.machineStep(), w.walletStep(), w.priceStep(), w.imageStep(), w.fundingStep(), w.startStep()}

	w.progress = widget.NewLabel("")
	w.bar = widget.NewProgressBar()
	w.bar.Max = float64(len(w.steps))
	w.bar.TextFormatter = func() string { return "" }
	w.title = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	w.body = container.NewStack()
	w.back = widget.NewButtonWithIcon(lang.L("Back"), theme.NavigateBackIcon(), w.goBack)
	w.next = widget.NewButtonWithIcon(lang.L("Next"), theme.NavigateNextIcon(), w.goNext)
	w.next.Importance = widget.HighImportance
	closeBtn := widget.NewButton(lang.L("Close the wizard"), w.close)
	devNote := widget.NewLabel("")
	if w.mode == engine.ModeDev {
		devNote.SetText(lang.L("Dev mode: nothing is earned."))
		devNote.Importance = widget.WarningImportance
	}
	top := container.NewVBox(container.NewBorder(nil, nil, w.progress, devNote, w.bar), w.title, widget.NewSeparator())
	bottom := container.NewBorder(widget.NewSeparator(), nil, closeBtn, container.NewHBox(w.back, w.next))
	w.content = container.NewBorder(top, bottom, nil, nil, container.NewVScroll(container.NewPadded(w.body)))
	go w.follow()
	w.show(0)
	return w
}

// follow shows instance changes while the wizard is open.
func (w *wizard) follow() {
	for ev := range w.api.Subscribe(w.ctx) {
		if ev.Kind != engine.EventInstance {
			continue
		}
		in := ev.State.Dev
		fyne.Do(func() {
			w.applying.Lock()
			defer w.applying.Unlock()
			w.showInstance(in)
			select {
			case w.instanceShown <- struct{}{}:
			default:
			}
		})
	}
}

// run does work in the background and then its result on the UI thread;
// it returns (and keeps in pending) a channel that closes after that.
func (w *wizard) run(work func() func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		apply := work()
		fyne.Do(func() {
			w.applying.Lock()
			defer w.applying.Unlock()
			defer close(done)
			apply()
			w.refreshNav()
		})
	}()
	w.pending = done
	return done
}

// show makes step i the current one.
func (w *wizard) show(i int) {
	w.cur = i
	s := w.steps[i]
	w.progress.SetText(lang.L("Step {{.N}} of {{.Total}}", vals{"N": i + 1, "Total": len(w.steps)}))
	w.bar.SetValue(float64(i + 1))
	w.title.SetText(s.title)
	w.body.Objects = []fyne.CanvasObject{s.content}
	w.body.Refresh()
	if i == len(w.steps)-1 {
		w.next.SetText(lang.L("Finish"))
		w.next.SetIcon(theme.ConfirmIcon())
	} else {
		w.next.SetText(lang.L("Next"))
		w.next.SetIcon(theme.NavigateNextIcon())
	}
	w.refreshNav()
	// Last: enter may start background work that updates the step.
	if s.enter != nil {
		s.enter()
	}
}

// refreshNav enables Back and Next as the current step allows.
func (w *wizard) refreshNav() {
	if w.cur == 0 || w.leaving {
		w.back.Disable()
	} else {
		w.back.Enable()
	}
	if !w.leaving && w.steps[w.cur].valid() {
		w.next.Enable()
	} else {
		w.next.Disable()
	}
}

func (w *wizard) goBack() {
	if w.cur > 0 && !w.leaving {
		w.show(w.cur - 1)
	}
}

func (w *wizard) goNext() {
	s := w.steps[w.cur]
	if w.leaving || !s.valid() {
		return
	}
	if s.leave == nil {
		w.advance()
		return
	}
	w.leaving = true
	w.refreshNav()
	s.leave(func(ok bool) {
		w.leaving = false
		if ok {
			w.advance()
			return
		}
		w.refreshNav()
	})
}

func (w *wizard) advance() {
	if w.cur == len(w.steps)-1 {
		w.close()
		return
	}
	w.show(w.cur + 1)
}

// close ends the wizard and hands the window back.
func (w *wizard) close() {
	w.cancel()
	if w.onClose != nil {
		w.onClose()
	}
}

// machineStep: the doctor's verdicts as a checklist, and one sentence.
func (w *wizard) machineStep() *wizardStep {
	w.machine = newMachineView()
	w.verdict = wrapLabel(lang.L("Checking this machine…"))
	w.verdict.TextStyle = fyne.TextStyle{Bold: true}
	w.machine.onRecheck = func() { w.runCheck() }
	s := &wizardStep{title: lang.L("Machine check"), content: container.NewBorder(w.verdict, nil, nil, nil, w.machine.content)}
	s.valid = func() bool { return w.checkDone }
	s.enter = func() {
		if !w.checkDone {
			w.runCheck()
		}
	}
	return s
}

func (w *wizard) runCheck() {
	w.machine.setBusy(true)
	w.run(func() func() {
		r, err := w.api.Check(w.ctx)
		return func() {
			w.machine.setBusy(false)
			w.checkDone = true
			if err != nil {
				w.machine.showError(err)
				w.verdict.SetText(lang.L("The check could not run: {{.Error}}", vals{"Error": err.Error()}))
				return
			}
			w.machine.show(r)
			w.verdict.SetText(verdictSentence(r))
		}
	})
}

// verdictSentence says in one sentence whether the machine can earn.
func verdictSentence(r hostcheck.Report) string {
	if r.Production.Ready {
		return lang.L("This machine can earn on COCOON.")
	}
	var failed []string
	for _, c := range r.Checks {
		if c.Status == hostcheck.StatusFail {
			failed = append(failed, checkTitle(c))
		}
	}
	if len(failed) == 0 {
		failed = append(failed, verdictText(r, r.Production))
	}
	return lang.L("It cannot, because of: {{.Reasons}}; you can still try dev mode.", vals{"Reasons": strings.Join(failed, ", ")})
}

// priceStep: the model and the price coefficient, with an estimate.
func (w *wizard) priceStep() *wizardStep {
	model := wrapLabel(lang.L("Model: {{.Model}}, the stand-in model of dev mode (a small synthetic language model built into the stand-in image).", vals{"Model": engine.DevModelName}))
	if w.mode != engine.ModeDev {
		model.SetText(lang.L("Model: chosen with the official worker release; the app does not set it yet."))
	}
	w.coef = widget.NewEntry()
	w.coef.SetPlaceHolder("1.0")
	w.coefErr = wrapLabel("")
	w.coefErr.Importance = widget.DangerImportance
	w.estimate = wrapLabel("")
	explain := wrapLabel(lang.L("The price coefficient multiplies the network's price per token for your worker: 1.0 is the base price; proxies prefer cheaper workers, so a higher one earns more per request but may get fewer requests."))
	explain.Importance = widget.LowImportance
	w.coef.OnChanged = func(string) { w.showEstimate(); w.refreshNav() }
	content := container.NewVBox(model, widget.NewForm(widget.NewFormItem(lang.L("Price coefficient"), w.coef)), explain, w.coefErr, w.estimate)
	s := &wizardStep{title: lang.L("Model and price"), content: content}
	s.valid = func() bool { _, err := w.coefficient(); return err == nil && w.settings != nil }
	s.enter = func() {
		if w.settings != nil {
			return
		}
		w.run(func() func() {
			set, err := w.api.Settings(w.ctx)
			return func() {
				if err != nil {
					w.coefErr.SetText(lang.L("Could not read the settings: {{.Error}}", vals{"Error": err.Error()}))
					return
				}
				w.settings = &set
				w.coef.SetText(coefficientText(set.Coefficient()))
				w.showEstimate()
			}
		})
	}
	s.leave = func(done func(bool)) {
		k, _ := w.coefficient()
		set := *w.settings
		set.WorkerCoefficient = k
		w.run(func() func() {
			err := w.api.SetSettings(w.ctx, set)
			return func() {
				if err != nil {
					w.coefErr.SetText(lang.L("Not saved: {{.Error}}", vals{"Error": err.Error()}))
					done(false)
					return
				}
				w.settings = &set
				done(true)
			}
		})
	}
	return s
}

// coefficientText writes k (1000 = 1.0×) as the multiplier typed.
func coefficientText(k int64) string {
	return strconv.FormatFloat(float64(k)/1000, 'f', -1, 64)
}

// coefficient reads the coefficient typed as a multiplier ("1.5").
func (w *wizard) coefficient() (int64, error) {
	text := strings.TrimSuffix(strings.TrimSpace(strings.ReplaceAll(w.coef.Text, ",", ".")), "×")
	f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil || f <= 0 || f >= 1_000_000 {
		return 0, errors.New(lang.L("Type a number above 0 such as 1.0 or 1.5."))
	}
	return int64(f*1000 + 0.5), nil
}

func (w *wizard) showEstimate() {
	k, err := w.coefficient()
	if err != nil {
		w.coefErr.SetText(err.Error())
		w.estimate.SetText("")
		return
	}
	w.coefErr.SetText("")
	e := engine.EstimateDevEarnings(k)
	if e.RequestsPerSecond == 0 {
		w.estimate.SetText(lang.L("Estimate: nothing. Dev mode's test client sends no requests to workers above {{.Max}}×.", vals{"Max": coefficientText(e.MaxCoefficient)}))
		return
	}
	w.estimate.SetText(lang.L("Estimate: about {{.Amount}} a day in dev mode's play money. It assumes the built-in test client's load: {{.Rate}} request/s of {{.Prompt}} prompt and {{.Completion}} completion tokens, paid {{.Fee}} nanoTON per adjusted token. Real demand decides real earnings.",
		vals{"Amount": approxTON(e.NanoTONPerDay), "Rate": strconv.FormatFloat(e.RequestsPerSecond, 'f', -1, 64),
			"Prompt": e.Usage.PromptTokens, "Completion": e.Usage.CompletionTokens, "Fee": e.FeePerToken}))
}

// imageStep says what Start will do with the worker image.
func (w *wizard) imageStep() *wizardStep {
	w.image = wrapLabel("")
	s := &wizardStep{title: lang.L("Worker image"), content: w.image, valid: func() bool { return true }}
	s.enter = func() {
		if w.mode != engine.ModeDev {
			w.image.SetText(lang.L("Production runs the official worker release; its image hash must be on the root contract's allow-list. That release and allow-list check is not part of the app yet (pending), so Start runs dev mode."))
			return
		}
		accel := lang.L("KVM when usable, else software emulation")
		if st := w.api.State(); st.Report != nil && st.Report.DevAccel != "" {
			accel = accelText(vm.Accel(st.Report.DevAccel))
		}
		w.image.SetText(lang.L("Dev mode: Start prepares the stand-in image (taken from the cache, or built once from this app's stand-in recipe, which can take a few minutes), boots it under QEMU with {{.Accel}}, and connects it to a stand-in proxy on this machine that sends it test requests. No official release is downloaded and nothing real is earned.",
			vals{"Accel": accel}))
	}
	return s
}

// startStep starts the dev-mode worker and shows its first requests.
func (w *wizard) startStep() *wizardStep {
	w.runState = wrapLabel(lang.L("The worker is not running yet."))
	w.requests = wrapLabel("")
	w.startBtn = widget.NewButtonWithIcon(lang.L("Start"), theme.MediaPlayIcon(), func() { w.start() })
	w.startBtn.Importance = widget.HighImportance
	s := &wizardStep{title: lang.L("Start"), content: container.NewVBox(container.NewHBox(w.startBtn), w.runState, w.requests)}
	s.valid = func() bool { return w.started }
	s.enter = func() { w.showInstance(w.api.State().Dev) }
	return s
}

func (w *wizard) start() {
	if w.startBusy {
		return
	}
	w.startBusy = true
	w.startBtn.Disable()
	w.runState.SetText(lang.L("Starting: preparing the image and booting the worker…"))
	w.run(func() func() {
		err := w.api.StartDev(w.ctx)
		return func() {
			w.startBusy = false
			if err != nil {
				w.startBtn.Enable()
				w.runState.SetText(lang.L("The worker did not start: {{.Error}}", vals{"Error": err.Error()}))
				return
			}
			w.started = true
			w.showInstance(w.api.State().Dev)
		}
	})
}

// showInstance shows the worker's state and its first requests.
func (w *wizard) showInstance(in *engine.Instance) {
	if in == nil || w.runState == nil {
		return
	}
	active := in.State != vm.StateStopped && in.State != vm.StateFailed
	if active && !w.startBusy {
		w.started = true
		w.startBtn.Disable()
	}
	if !w.startBusy {
		w.runState.SetText(lang.L("Stand-in worker: {{.State}}", vals{"State": string(in.State)}))
	}
	switch {
	case in.Load != nil && in.Load.Sent > 0:
		w.requests.SetText(lang.L("Requests arriving: {{.Sent}} sent by the test client, {{.OK}} answered, {{.Failed}} failed.",
			vals{"Sent": in.Load.Sent, "OK": in.Load.OK, "Failed": in.Load.Failed}))
	case in.Stats != nil:
		w.requests.SetText(lang.L("Requests arriving: {{.Count}} so far.", vals{"Count": fmt.Sprintf("%.0f", in.Stats.Counters.Queries.Total())}))
	case active:
		w.requests.SetText(lang.L("Waiting for the first requests…"))
	}
	w.refreshNav()
}

// approxTON writes an estimate with two significant digits: "0.52 TON",
// "12 TON", "340 TON".
func approxTON(nano int64) string {
	ton := float64(nano) / 1e9
	if ton >= 100 {
		return strconv.FormatFloat(math.Round(ton), 'f', 0, 64) + " TON"
	}
	return strconv.FormatFloat(ton, 'g', 2, 64) + " TON"
}
