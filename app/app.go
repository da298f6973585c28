package app

import (
	"context"
	"log/slog"
	"os"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/app/tray"
	"github.com/cocoon-provider/cocoon-provider/assets"
	"github.com/cocoon-provider/cocoon-provider/engine"
)

// ID is the application ID (reverse DNS), also in FyneApp.toml.
const ID = "io.github.cocoon_provider.CocoonProvider"

// Options configure the desktop app.
type Options struct {
	Version string
	// Hidden starts with only the tray icon (when a tray is available).
	Hidden bool
	Logger *slog.Logger
}

// Run shows the UI until the user quits or ctx ends.
func Run(ctx context.Context, api engine.API, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := checkDisplay(os.Getenv); err != nil {
		return err
	}
	a := fyneapp.NewWithID(ID)
	a.SetIcon(assets.Icon)
	w := a.NewWindow("Cocoon Provider")
	w.SetIcon(assets.Icon)

	ui := newMainView(ctx, api, a.Preferences())
	ui.earnings.window = w
	w.SetContent(ui.content)
	w.Resize(fyne.NewSize(980, 720))

	// Hide the window before quitting, in a later turn of the event loop:
	// Fyne 2.7 can crash on a pointer event that reaches a window it is
	// already destroying.
	quit := func() {
		w.Hide()
		go fyne.Do(a.Quit)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// report shows the result of a tray action: a notification, and the
	// window's log for when the window is opened.
	report := func(msg string) {
		a.SendNotification(fyne.NewNotification("Cocoon Provider", msg))
		fyne.Do(func() { ui.worker.log.SetText(msg) })
	}
	menu := newTrayMenu(ctx, api, w.Show, quit, report)
	trayOK, why := tray.Available()
	if trayOK && !tray.Setup(a, assets.Icon, menu.menu) {
		trayOK, why = false, "this platform driver has no tray support"
	}
	if trayOK {
		w.SetCloseIntercept(w.Hide)
	} else {
		log.Info("no system tray; the window stays the way to use the app, and closing it quits", "reason", why)
	}

	if trayOK {
		go menu.follow(ctx, api)
	}
	go func() {
		<-ctx.Done()
		fyne.Do(quit)
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
	return nil
}

// mainView is the window's content: a mode banner and the tabs.
type mainView struct {
	api      engine.API
	content  fyne.CanvasObject
	machine  *machineView
	gpus     *gpuView
	worker   *workerView
	earnings *earningsView
	ready    chan struct{}
}

// newMainView builds the window's content; prefs keeps the UI settings.
func newMainView(ctx context.Context, api engine.API, prefs fyne.Preferences) *mainView {
	v := &mainView{api: api, machine: newMachineView(), gpus: newGPUView(), worker: newWorkerView(ctx, api),
		earnings: newEarningsView(ctx, api, prefs), ready: make(chan struct{})}
	banner := widget.NewLabel("Dev mode (the default): nothing is earned. The machine check below says what earning on COCOON would need.")
	banner.Importance = widget.WarningImportance
	banner.Wrapping = fyne.TextWrapWord
	earningsTab := container.NewTabItem("Earnings", v.earnings.content)
	tabs := container.NewAppTabs(
		container.NewTabItem("Machine check", v.machine.content),
		container.NewTabItem("GPUs", v.gpus.content),
		container.NewTabItem("Worker", v.worker.content),
		earningsTab,
	)
	tabs.OnSelected = func(ti *container.TabItem) { v.earnings.setVisible(ctx, ti == earningsTab) }
	v.machine.onRecheck = func() { v.runCheck(ctx) }
	v.content = container.NewBorder(banner, nil, nil, nil, tabs)
	return v
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
				in := st.Dev
				if in == nil && len(st.Attached) > 0 {
					in = &st.Attached[0] // an official worker the app monitors
				}
				fyne.Do(func() { v.worker.show(in, msg) })
			case engine.EventEarnings:
				fyne.Do(func() { v.worker.showEarnings(st.Earnings); v.earnings.onEvent(ctx) })
			case engine.EventPause:
				msg := ev.Message
				fyne.Do(func() { v.worker.showPause(st.Pause); v.worker.log.SetText(msg) })
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
