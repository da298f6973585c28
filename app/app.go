package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/app/tray"
	"github.com/cocoon-provider/cocoon-provider/assets"
	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

// ID is the application ID (reverse DNS), also in FyneApp.toml.
const ID = "io.github.cocoon_provider.CocoonProvider"

// Options configure the desktop app.
type Options struct {
	Version string
	// Hidden starts with only the tray icon (when a tray is available).
	Hidden bool
	Logger *slog.Logger
	// Show asks for the window: a second launch of the app sends on it.
	Show <-chan struct{}
	// Autostart, when set, is offered as "Start with the session" in the tray.
	Autostart Autostart
	// Notices are lines for the user (a new release): a desktop
	// notification and a line under the banner.
	Notices <-chan string
	// Remote names the host api belongs to ("" for this machine).
	Remote string
	// Connect dials a remote host's control API (URL, token, certificate
	// fingerprint); nil leaves "Connect to a remote host" out.
	Connect func(ctx context.Context, target, token, fingerprint string) (engine.API, io.Closer, error)
	// Screen is the screen the window opens on: one of Screens ("" is
	// the machine check, or the wizard on a first run).
	Screen string
}

// Screens are the names Options.Screen takes: the tabs in order, then
// the first-run wizard.
var Screens = []string{"machine", "gpus", "worker", "earnings", "logs", "settings", "wizard"}

// QuitChoice is what the user chose for the worker when quitting.
type QuitChoice int

const (
	// QuitStop stops the worker with the app (also when nothing runs).
	QuitStop QuitChoice = iota
	// QuitLeaveRunning keeps the worker running without the desktop app:
	// the caller hands it over to a headless service.
	QuitLeaveRunning
)

// Run shows the UI until the user quits or ctx ends, and returns what the
// user chose for a running worker.
func Run(ctx context.Context, api engine.API, opts Options) (QuitChoice, error) {
	choice := QuitStop
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := checkDisplay(os.Getenv); err != nil {
		return choice, err
	}
	registerTranslations()
	a := fyneapp.NewWithID(ID)
	applyLanguage(a.Preferences()) // the Settings tab's choice, before any text is built
	a.SetIcon(assets.Icon)
	w := a.NewWindow("Cocoon Provider")
	w.SetIcon(assets.Icon)

	sw := newAPISwitch(api, opts.Remote)
	defer sw.close()
	ui := newMainView(ctx, sw, a.Preferences())
	ui.notify = a.SendNotification
	if opts.Connect != nil {
		local := api
		if opts.Remote != "" {
			local = nil // started for a remote host: there is no local engine
		}
		ui.enableRemote(ctx, w, opts.Connect, local)
	}
	ui.earnings.window = w
	ui.logs.window = w
	ui.settings.setAutostart(opts.Autostart)
	w.SetContent(ui.content)
	// The first-run wizard takes the window's place until it is closed:
	// on a first run (no owner address), and from "Setup wizard…".
	ui.onWizard = func() {
		wz := newWizard(ctx, sw, a.Clipboard(), func() { w.SetContent(ui.content) })
		w.SetContent(wz.content)
	}
	switch opts.Screen {
	case "", "machine":
		go func() {
			if info, err := sw.Wallet(ctx); err == nil && !info.Configured() {
				fyne.Do(ui.onWizard)
			}
		}()
	case "wizard":
		ui.onWizard()
	default: // the command line checked the name
		if i := slices.Index(Screens, opts.Screen); i >= 0 && i < len(ui.tabs.Items) {
			ui.tabs.SelectIndex(i)
		}
	}
	w.Resize(fyne.NewSize(980, 720))

	// Hide the window before quitting, in a later turn of the event loop:
	// Fyne 2.7 can crash on a pointer event that reaches a window it is
	// already destroying.
	quitNow := func() {
		w.Hide()
		go fyne.Do(a.Quit)
	}
	// quit asks first when this machine's worker runs: stop it, or keep it
	// running in the background (the desktop app goes, the worker stays).
	quit := func() {
		if !localWorkerRuns(sw) {
			quitNow()
			return
		}
		w.Show()
		ask := dialog.NewCustomConfirm(lang.L("Quit Cocoon Provider"), lang.L("Keep it running"), lang.L("Stop the worker"),
			widget.NewLabel(lang.L("The worker is running. Keep it running in the background (it goes on earning,\nthe tray icon goes), or stop it with the app?")),
			func(keep bool) {
				if keep {
					choice = QuitLeaveRunning
				}
				quitNow()
			}, w)
		ask.Show()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// report shows the result of a tray action: a notification, and the
	// window's log for when the window is opened.
	report := func(msg string) {
		a.SendNotification(fyne.NewNotification("Cocoon Provider", msg))
		fyne.Do(func() { ui.worker.log.SetText(msg) })
	}
	menu := newTrayMenu(ctx, sw, w.Show, quit, report)
	if opts.Autostart != nil {
		menu.offerAutostart(opts.Autostart, report)
	}
	trayOK, why := tray.Available()
	if trayOK && !tray.Setup(a, assets.Icon, menu.menu) {
		trayOK, why = false, "this platform driver has no tray support"
	}
	if trayOK {
		w.SetCloseIntercept(w.Hide)
	} else {
		log.Info("no system tray; the window stays the way to use the app, and closing it quits", "reason", why)
		w.SetCloseIntercept(quit)
	}

	if trayOK {
		menu.showIcon(trayIcons(assets.Icon), func(r fyne.Resource) { tray.SetIcon(a, r) })
		go menu.follow(ctx, sw)
	}
	go func() {
		for {
			select {
			case <-opts.Show:
				fyne.Do(func() { w.Show(); w.RequestFocus() })
			case msg := <-opts.Notices:
				a.SendNotification(fyne.NewNotification("Cocoon Provider", msg))
				fyne.Do(func() { ui.notice.SetText(msg); ui.notice.Show() })
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		<-ctx.Done()
		fyne.Do(quitNow)
	}()
	ui.start(ctx)
	go func() {
		select {
		case <-ui.ready:
			log.Info("window ready: machine check shown")
		case <-ctx.Done():
		}
	}()

	if opts.Hidden && !trayOK {
		log.Warn("--hidden needs a system tray; showing the window instead")
	}
	if opts.Hidden && trayOK {
		a.Run()
	} else {
		w.ShowAndRun()
	}
	return choice, nil
}

// localWorkerRuns: the app drives a worker VM on this machine that is up.
func localWorkerRuns(sw *apiSwitch) bool {
	if sw.Label() != "" {
		return false
	}
	in := sw.State().Dev
	return in != nil && (in.State == vm.StateRunning || in.State == vm.StateDegraded || in.State == vm.StateBooting)
}

// mainView is the window's content: a mode banner and the tabs.
type mainView struct {
	api      *apiSwitch
	content  fyne.CanvasObject
	banner   *widget.Label
	top      *fyne.Container          // the banner and the actions beside it
	actions  *fyne.Container          // "Setup wizard…" and, with Connect, the remote button
	onWizard func()                   // shows the setup wizard (nil: the button does nothing)
	notice   *widget.Label            // a line for the user under the banner (hidden when none)
	notify   func(*fyne.Notification) // a desktop notification (the app's SendNotification)
	machine  *machineView
	gpus     *gpuView
	worker   *workerView
	earnings *earningsView
	logs     *logsView
	settings *settingsView
	tabs     *container.AppTabs
	ready    chan struct{}
}

// newMainView builds the window's content; prefs keeps the UI settings.
func newMainView(ctx context.Context, api *apiSwitch, prefs fyne.Preferences) *mainView {
	v := &mainView{api: api, machine: newMachineView(), gpus: newGPUView().withCharts(ctx, api), worker: newWorkerView(ctx, api),
		earnings: newEarningsView(ctx, api, prefs), logs: newLogsView(ctx, api), settings: newSettingsView(ctx, api, prefs, nil), ready: make(chan struct{})}
	banner := widget.NewLabel(bannerText(api.Label()))
	banner.Importance = widget.WarningImportance
	banner.Wrapping = fyne.TextWrapWord
	v.banner = banner
	v.actions = container.NewHBox(widget.NewButton(lang.L("Setup wizard…"), func() {
		if v.onWizard != nil {
			v.onWizard()
		}
	}))
	v.top = container.NewBorder(nil, nil, nil, v.actions, banner)
	gpusTab := container.NewTabItem(lang.L("GPUs"), v.gpus.content)
	workerTab := container.NewTabItem(lang.L("Worker"), v.worker.content)
	earningsTab := container.NewTabItem(lang.L("Earnings"), v.earnings.content)
	logsTab := container.NewTabItem(lang.L("Logs"), v.logs.content)
	settingsTab := container.NewTabItem(lang.L("Settings"), v.settings.content)
	tabs := container.NewAppTabs(
		container.NewTabItem(lang.L("Machine check"), v.machine.content),
		gpusTab,
		workerTab,
		earningsTab,
		logsTab,
		settingsTab,
	)
	v.tabs = tabs
	tabs.OnSelected = func(ti *container.TabItem) {
		v.gpus.setVisible(ti == gpusTab)
		v.worker.charts.setVisible(ti == workerTab)
		v.earnings.setVisible(ctx, ti == earningsTab)
		v.logs.setVisible(ctx, ti == logsTab)
		v.settings.setVisible(ctx, ti == settingsTab)
	}
	v.machine.onRecheck = func() { v.runCheck(ctx) }
	v.notice = widget.NewLabel("")
	v.notice.Importance = widget.HighImportance
	v.notice.Wrapping = fyne.TextWrapWord
	v.notice.Hide()
	v.content = container.NewBorder(container.NewVBox(v.top, v.notice), nil, nil, nil, tabs)
	return v
}

// bannerText is the line above the tabs: the mode, and the remote host
// when the app watches one.
func bannerText(remote string) string {
	dev := lang.L("Dev mode (the default): nothing is earned. The machine check below says what earning on COCOON would need.")
	if remote == "" {
		return dev
	}
	return lang.L("Remote host {{.Host}} · {{.Banner}}", vals{"Host": remote, "Banner": dev})
}

// start runs the first check and follows engine events.
func (v *mainView) start(ctx context.Context) {
	events := v.api.Subscribe(ctx)
	go func() {
		for ev := range events {
			st := ev.State
			switch ev.Kind {
			case engine.EventGPUs:
				fyne.Do(func() { v.gpus.show(st.GPUs) })
			case engine.EventError:
				fyne.Do(func() { v.machine.showStoreError(st.StoreError) })
			case engine.EventInstance:
				msg := ev.Message
				// The dev worker and the official workers the app monitors.
				fyne.Do(func() { v.worker.showInstances(st.Dev, st.Attached, msg) })
			case engine.EventEarnings:
				fyne.Do(func() { v.worker.showEarnings(st.Earnings); v.earnings.onEvent(ctx) })
			case engine.EventPause:
				msg := ev.Message
				fyne.Do(func() { v.worker.showPause(st.Pause); v.worker.log.SetText(msg) })
			case engine.EventAlert:
				if a := ev.Alert; a != nil {
					at := ev.Time
					fyne.Do(func() { v.showAlert(*a, at) })
				}
			}
		}
	}()
	// The engine may have reported a problem, earnings or a pause before
	// we subscribed.
	st := v.api.State()
	v.machine.showStoreError(st.StoreError)
	v.worker.showEarnings(st.Earnings)
	v.worker.showPause(st.Pause)
	v.runCheck(ctx)
}

// showAlert shows an engine alert on the notice line and, unless it only
// says that a problem is over (Clear), as a desktop notification. The
// engine decides what is worth an alert and when.
func (v *mainView) showAlert(a engine.Alert, at time.Time) {
	line := a.Body
	if !at.IsZero() {
		line = currentLocale().clock(at.Local(), false) + "  " + line
	}
	v.notice.SetText(line)
	v.notice.Show()
	if !a.Clear && v.notify != nil {
		v.notify(fyne.NewNotification(alertTitle(a), a.Body))
	}
}

// runCheck runs the doctor in the background; the returned channel closes
// once the result is on screen.
func (v *mainView) runCheck(ctx context.Context) <-chan struct{} {
	v.machine.setBusy(true)
	shown := make(chan struct{})
	go func() {
		r, err := v.api.Check(ctx)
		fyne.Do(func() {
			defer close(shown)
			v.machine.setBusy(false)
			if err != nil {
				v.machine.showError(err)
				return
			}
			v.machine.show(r)
			v.gpus.show(v.api.State().GPUs)
			select {
			case <-v.ready:
			default:
				close(v.ready)
			}
		})
	}()
	return shown
}
