package app

import (
	"context"
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

// workerView shows the dev-mode worker VM and starts or stops it.
type workerView struct {
	content fyne.CanvasObject
	state   *widget.Label
	details *widget.Label
	stats   *widget.Label
	log     *widget.Label
	start   *widget.Button
	stop    *widget.Button
}

func newWorkerView(ctx context.Context, api engine.API) *workerView {
	v := &workerView{
		state:   widget.NewLabelWithStyle("Not running", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		details: wrapLabel("Dev mode runs a stand-in worker in a local VM: it exercises everything but earns nothing."),
		stats:   wrapLabel(""),
		log:     wrapLabel(""),
	}
	v.log.Importance = widget.LowImportance
	v.start = widget.NewButtonWithIcon("Start dev mode", theme.MediaPlayIcon(), func() {
		v.start.Disable()
		go func() {
			if err := api.StartDev(ctx); err != nil {
				fyne.Do(func() { v.log.SetText("Could not start: " + err.Error()); v.start.Enable() })
			}
		}()
	})
	v.stop = widget.NewButtonWithIcon("Stop", theme.MediaStopIcon(), func() {
		v.stop.Disable()
		go func() {
			// Quitting meanwhile must not turn a graceful stop into a kill.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if err := api.StopDev(sctx); err != nil {
				fyne.Do(func() { v.log.SetText("Stop: " + err.Error()) })
			}
		}()
	})
	v.stop.Disable()
	v.content = container.NewVBox(
		widget.NewCard("Worker (dev mode)", "", container.NewVBox(v.state, v.details, v.stats)),
		container.NewHBox(v.start, v.stop), v.log)
	return v
}

// show renders the instance; msg is the latest event text.
func (v *workerView) show(in *engine.Instance, msg string) {
	if msg != "" {
		v.log.SetText(msg)
	}
	if in == nil {
		return
	}
	active := in.State != vm.StateStopped && in.State != vm.StateFailed
	if active {
		v.start.Disable()
		if in.State != vm.StateStopping {
			v.stop.Enable()
		}
	} else {
		v.start.Enable()
		v.stop.Disable()
	}
	v.state.SetText(fmt.Sprintf("Stand-in worker: %s", in.State))
	d := fmt.Sprintf("Acceleration %s · QEMU PID %d · restarts %d · stats http://%s/stats", accelText(in.Accel), in.PID, in.Restarts, in.StatsAddr)
	if in.BootTime > 0 {
		d += fmt.Sprintf(" · ready in %s", in.BootTime.Round(100*time.Millisecond))
	}
	if in.LastExit != "" {
		d += "\nLast exit: " + in.LastExit
	}
	v.details.SetText(d)
	switch {
	case in.Stats != nil:
		c := in.Stats.Counters
		v.stats.SetText(fmt.Sprintf("Requests %.0f (failed %.0f) · adjusted tokens %.0f · proxies %d · synthetic, earns nothing",
			c.Queries.Total(), c.Failed.Total(), c.TotalAdjustedTokens.Total(), len(in.Stats.Proxies)))
	case in.StatsError != "":
		v.stats.SetText("Worker not answering yet: " + in.StatsError)
	default:
		v.stats.SetText("")
	}
}

func accelText(a vm.Accel) string {
	switch a {
	case vm.AccelKVM:
		return "KVM"
	case vm.AccelTCG:
		return "software emulation (TCG)"
	case "":
		return "not chosen yet"
	}
	return string(a)
}
