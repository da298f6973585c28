package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// workerView shows the dev-mode worker VM, its live activity and the
// earnings pipeline, and starts, stops, pauses it and pays out.
type workerView struct {
	content  fyne.CanvasObject
	state    *widget.Label
	details  *widget.Label
	activity *widget.Label
	trust    *widget.Label
	earnings *widget.Label
	paused   *widget.Label
	log      *widget.Label
	start    *widget.Button
	stop     *widget.Button
	resume   *widget.Button
	payout   *widget.Button
	pauses   []*widget.Button
}

func newWorkerView(ctx context.Context, api engine.API) *workerView {
	v := &workerView{
		state:    widget.NewLabelWithStyle("Not running", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		details:  wrapLabel("Dev mode runs a stand-in worker in a local VM with a stand-in proxy sending it synthetic requests: it exercises everything but earns nothing."),
		activity: wrapLabel("No requests yet."),
		trust:    wrapLabel("Not checked yet: the verdict comes once the worker runs."),
		earnings: widget.NewLabel("Nothing earned yet."),
		paused:   wrapLabel(""),
		log:      wrapLabel(""),
	}
	v.earnings.TextStyle = fyne.TextStyle{Monospace: true}
	v.log.Importance = widget.LowImportance
	v.paused.Importance = widget.WarningImportance
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
	setPause := func(p *engine.Pause) {
		go func() {
			if err := api.SetPause(ctx, p); err != nil {
				fyne.Do(func() { v.log.SetText("Pause: " + err.Error()) })
			}
		}()
	}
	for _, o := range []struct {
		label string
		until func(time.Time) engine.Pause
	}{
		{"Pause 30 min", func(now time.Time) engine.Pause { return engine.Pause{Until: now.Add(30 * time.Minute)} }},
		{"Pause 1 h", func(now time.Time) engine.Pause { return engine.Pause{Until: now.Add(time.Hour)} }},
		{"Pause until tomorrow", engine.PauseUntilTomorrow},
	} {
		v.pauses = append(v.pauses, widget.NewButtonWithIcon(o.label, theme.MediaPauseIcon(), func() {
			p := o.until(time.Now())
			setPause(&p)
		}))
	}
	v.resume = widget.NewButtonWithIcon("Resume", theme.MediaPlayIcon(), func() { setPause(nil) })
	v.resume.Disable()
	v.payout = widget.NewButtonWithIcon("Payout now", theme.UploadIcon(), func() {
		v.payout.Disable()
		go func() {
			res, err := api.Payout(ctx)
			fyne.Do(func() { v.log.SetText(payoutText(res, err)) })
		}()
	})
	v.payout.Disable()
	pauseRow := container.NewHBox()
	for _, b := range v.pauses {
		pauseRow.Add(b)
	}
	pauseRow.Add(v.resume)
	v.content = container.NewVScroll(container.NewVBox(
		widget.NewCard("Worker (dev mode)", "", container.NewVBox(v.state, v.details)),
		container.NewHBox(v.start, v.stop),
		widget.NewCard("Live activity", "synthetic requests from the stand-in client", v.activity),
		widget.NewCard("Trust", "will the network accept this worker?", v.trust),
		pauseRow, v.paused,
		widget.NewCard("Earnings", "each amount has reached that stage · dev mode earns nothing real", v.earnings),
		container.NewHBox(v.payout),
		v.log))
	return v
}

// payoutText says what a payout did.
func payoutText(res []engine.TargetResult, err error) string {
	if errors.Is(err, engine.ErrNothingClaimable) {
		return "Payout: " + err.Error()
	}
	var parts []string
	for _, r := range res {
		switch {
		case r.Proxy == "":
			parts = append(parts, fmt.Sprintf("%s: %v", r.Target.Label, r.Err))
		case r.Err != nil:
			parts = append(parts, fmt.Sprintf("%s not paid out: %v", wallet.TONString(r.Amount), r.Err))
		default:
			parts = append(parts, fmt.Sprintf("payout of %s sent (the worker's wallet pays about 0.006 TON gas)", wallet.TONString(r.Amount)))
		}
	}
	if err != nil {
		parts = append(parts, err.Error())
	}
	return "Payout: " + strings.Join(parts, "; ")
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
	if t := in.Trust; t != nil {
		v.trust.SetText(trustText(*t))
		v.trust.Importance = widget.SuccessImportance
		if !t.Accepted {
			v.trust.Importance = widget.DangerImportance
		}
		v.trust.Refresh()
	}
	switch {
	case in.Stats != nil:
		v.activity.SetText(activityText(in))
	case in.StatsError != "":
		v.activity.SetText("Worker not answering yet: " + in.StatsError)
	}
}

// activityText is the live activity of a worker: rates over the last
// poll interval and totals since the worker started.
func activityText(in *engine.Instance) string {
	var b strings.Builder
	c := in.Stats.Counters
	// The worker's own 10-second rates (§6.4) are steadier than one poll.
	fmt.Fprintf(&b, "Last 10 s: %.2f requests/s · %.0f adjusted tokens/s · concurrency %.2f",
		c.Queries.Rate(worker.Window10s), c.TotalAdjustedTokens.Rate(worker.Window10s), c.Time.Rate(worker.Window10s))
	if a := in.Activity; a != nil && a.Queries > 0 {
		fmt.Fprintf(&b, " · success %.0f%%", 100*a.SuccessRate())
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Since the worker started: %.0f requests (%.0f failed) · %.0f adjusted tokens (prompt %.0f, cached %.0f, completion %.0f, reasoning %.0f) · %s in, %s out",
		c.Queries.Total(), c.Failed.Total(), c.TotalAdjustedTokens.Total(), c.PromptAdjustedTokens.Total(),
		c.CachedAdjustedTokens.Total(), c.CompletionAdjustedTokens.Total(), c.ReasoningAdjustedTokens.Total(),
		bytesText(c.BytesReceived.Total()), bytesText(c.BytesSent.Total()))
	if w := in.Stats.Wallet; w != nil {
		health := in.Stats.Status.WalletHealth()
		fmt.Fprintf(&b, "\nCocoon wallet float: %s (%s", wallet.TONString(w.Balance), health)
		switch health {
		case worker.WalletTooLow:
			b.WriteString(": under 2.1 TON the worker does not start; top it up")
		case worker.WalletLow:
			b.WriteString(": under 5 TON; top it up soon")
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "\nConnected proxies: %d", len(in.Stats.Proxies))
	if l := in.Load; l != nil {
		fmt.Fprintf(&b, " · stand-in client: %d sent, %d answered, %d failed", l.Sent, l.OK, l.Failed)
	}
	return b.String()
}

// trustText explains a trust verdict.
func trustText(t engine.Trust) string {
	var b strings.Builder
	b.WriteString(strings.ToUpper(t.Verdict()[:1]) + t.Verdict()[1:] + ".")
	if t.ImageHash != "" {
		fmt.Fprintf(&b, "\nImage hash %s… (%s), %d allowed · model hash %s…, %d allowed",
			t.ImageHash[:16], t.Source, t.AllowedImages, t.ModelHash[:16], t.AllowedModels)
	}
	if !t.CertNotBefore.IsZero() {
		fmt.Fprintf(&b, "\nRA-TLS certificate made %s ago, valid until %s",
			time.Since(t.CertNotBefore).Round(time.Minute), t.CertNotAfter.Local().Format("Mon 15:04"))
	}
	return b.String()
}

func bytesText(n float64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

// showEarnings renders the settlement pipeline for four periods.
func (v *workerView) showEarnings(e *engine.Earnings) {
	if e == nil || e.All == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s %16s %16s %16s %16s\n", "", "today", "7 days", "30 days", "all time")
	for _, st := range store.Stages() {
		fmt.Fprintf(&b, "%-22s %16s %16s %16s %16s\n", stageLabels[st], wallet.TONString(e.Today[st]),
			wallet.TONString(e.Week[st]), wallet.TONString(e.Month[st]), wallet.TONString(e.All[st]))
	}
	fmt.Fprintf(&b, "Claimable now: %s", wallet.TONString(e.ClaimableNow))
	v.earnings.SetText(b.String())
	if e.ClaimableNow > 0 {
		v.payout.Enable()
	} else {
		v.payout.Disable()
	}
}

// showPause renders the pause state.
func (v *workerView) showPause(p *engine.Pause) {
	switch {
	case p == nil:
		v.paused.SetText("")
		v.resume.Disable()
	case p.Auto:
		v.paused.SetText("Paused automatically (" + p.Reason + "): proxies send no new requests; the VM stays up and resumes by itself when that is over. Resume to work anyway.")
		v.resume.Enable()
	case p.Indefinite():
		v.paused.SetText("Paused until you resume: proxies send no new requests; the VM stays up.")
		v.resume.Enable()
	default:
		v.paused.SetText("Paused until " + p.Until.Local().Format("Mon 15:04") + ": proxies send no new requests; the VM stays up and resumes by itself.")
		v.resume.Enable()
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
