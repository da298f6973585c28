package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
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
	// charts are the shown instance's activity over the last hour.
	charts *activityCharts
	// picker chooses the instance shown when there are several (the dev
	// worker and official workers the app monitors, one per GPU); chosen
	// is its number, instances the latest list.
	picker    *widget.Select
	chosen    int
	instances []engine.Instance
	lastMsg   string
}

func newWorkerView(ctx context.Context, api engine.API) *workerView {
	v := &workerView{
		state:    widget.NewLabelWithStyle(lang.L("Not running"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		details:  wrapLabel(lang.L("Dev mode runs a stand-in worker in a local VM with a stand-in proxy sending it synthetic requests: it exercises everything but earns nothing.")),
		activity: wrapLabel(lang.L("No requests yet.")),
		trust:    wrapLabel(lang.L("Not checked yet: the verdict comes once the worker runs.")),
		earnings: widget.NewLabel(lang.L("Nothing earned yet.")),
		paused:   wrapLabel(""),
		log:      wrapLabel(""),
		charts:   newActivityCharts(ctx, api),
	}
	v.picker = widget.NewSelect(nil, func(string) {
		if i := v.picker.SelectedIndex(); i >= 0 && i < len(v.instances) && v.instances[i].Number != v.chosen {
			v.chosen = v.instances[i].Number
			in := v.instances[i]
			v.show(&in, "")
		}
	})
	v.picker.Hide()
	v.earnings.TextStyle = fyne.TextStyle{Monospace: true}
	v.log.Importance = widget.LowImportance
	v.paused.Importance = widget.WarningImportance
	v.start = widget.NewButtonWithIcon(lang.L("Start dev mode"), theme.MediaPlayIcon(), func() {
		v.start.Disable()
		go func() {
			if err := api.StartDev(ctx); err != nil {
				fyne.Do(func() {
					v.log.SetText(lang.L("Could not start: {{.Error}}", vals{"Error": err.Error()}))
					v.start.Enable()
				})
			}
		}()
	})
	v.stop = widget.NewButtonWithIcon(lang.L("Stop"), theme.MediaStopIcon(), func() {
		v.stop.Disable()
		go func() {
			// Quitting meanwhile must not turn a graceful stop into a kill.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if err := api.StopDev(sctx); err != nil {
				fyne.Do(func() { v.log.SetText(lang.L("Stop: {{.Error}}", vals{"Error": err.Error()})) })
			}
		}()
	})
	v.stop.Disable()
	setPause := func(p *engine.Pause) {
		go func() {
			if err := api.SetPause(ctx, p); err != nil {
				fyne.Do(func() { v.log.SetText(lang.L("Pause: {{.Error}}", vals{"Error": err.Error()})) })
			}
		}()
	}
	for _, o := range []struct {
		label string
		until func(time.Time) engine.Pause
	}{
		{lang.L("Pause 30 min"), func(now time.Time) engine.Pause { return engine.Pause{Until: now.Add(30 * time.Minute)} }},
		{lang.L("Pause 1 h"), func(now time.Time) engine.Pause { return engine.Pause{Until: now.Add(time.Hour)} }},
		{lang.L("Pause until tomorrow"), engine.PauseUntilTomorrow},
	} {
		v.pauses = append(v.pauses, widget.NewButtonWithIcon(o.label, theme.MediaPauseIcon(), func() {
			p := o.until(time.Now())
			setPause(&p)
		}))
	}
	v.resume = widget.NewButtonWithIcon(lang.L("Resume"), theme.MediaPlayIcon(), func() { setPause(nil) })
	v.resume.Disable()
	v.payout = widget.NewButtonWithIcon(lang.L("Payout now"), theme.UploadIcon(), func() {
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
		v.picker,
		widget.NewCard(lang.L("Worker (dev mode)"), "", container.NewVBox(v.state, v.details)),
		container.NewHBox(v.start, v.stop),
		widget.NewCard(lang.L("Live activity"), lang.L("synthetic requests from the stand-in client"), v.activity),
		widget.NewCard(lang.L("Activity, last hour"), lang.L("10-second points, refreshed while this tab is shown"), v.charts.content),
		widget.NewCard(lang.L("Trust"), lang.L("will the network accept this worker?"), v.trust),
		pauseRow, v.paused,
		widget.NewCard(lang.L("Earnings"), lang.L("each amount has reached that stage · dev mode earns nothing real"), v.earnings),
		container.NewHBox(v.payout),
		v.log))
	return v
}

// payoutText says what a payout did.
func payoutText(res []engine.TargetResult, err error) string {
	if errors.Is(err, engine.ErrNothingClaimable) {
		return lang.L("Payout: {{.Result}}", vals{"Result": err.Error()})
	}
	var parts []string
	for _, r := range res {
		switch {
		case r.Proxy == "":
			parts = append(parts, fmt.Sprintf("%s: %v", r.Target.Label, r.Err))
		case r.Err != nil:
			parts = append(parts, lang.L("{{.Amount}} not paid out: {{.Error}}", vals{"Amount": currentLocale().ton(r.Amount), "Error": r.Err.Error()}))
		default:
			parts = append(parts, lang.L("payout of {{.Amount}} sent (the worker's wallet pays about 0.006 TON gas)", vals{"Amount": currentLocale().ton(r.Amount)}))
		}
	}
	if err != nil {
		parts = append(parts, err.Error())
	}
	return lang.L("Payout: {{.Result}}", vals{"Result": strings.Join(parts, "; ")})
}

// showInstances renders the chosen one of the dev worker (nil: none) and
// the monitored ones; with several, the picker above offers them all, so
// each worker's state, activity and charts are seen apart.
func (v *workerView) showInstances(dev *engine.Instance, attached []engine.Instance, msg string) {
	var ins []engine.Instance
	if dev != nil {
		ins = append(ins, *dev)
	}
	ins = append(ins, attached...)
	v.instances = ins
	i := slices.IndexFunc(ins, func(in engine.Instance) bool { return in.Number == v.chosen })
	if i < 0 {
		i = 0
	}
	if len(ins) > 1 {
		opts := make([]string, len(ins))
		for k, in := range ins {
			opts[k] = instanceLabel(in, dev != nil && k == 0)
		}
		v.picker.Options = opts
		v.chosen = ins[i].Number
		v.picker.SetSelectedIndex(i) // the same number: OnChanged does nothing
		v.picker.Show()
	} else {
		v.picker.Hide()
	}
	if len(ins) == 0 {
		v.show(nil, msg)
		return
	}
	v.chosen = ins[i].Number
	in := ins[i]
	v.show(&in, msg)
}

// instanceLabel names an instance in the picker.
func instanceLabel(in engine.Instance, dev bool) string {
	if dev {
		return lang.L("Instance {{.N}}: stand-in worker ({{.State}})", vals{"N": in.Number, "State": string(in.State)})
	}
	return lang.L("Instance {{.N}}: {{.Addr}} ({{.State}})", vals{"N": in.Number, "Addr": in.StatsAddr, "State": string(in.State)})
}

// show renders the instance; msg is the latest event text.
func (v *workerView) show(in *engine.Instance, msg string) {
	if msg != "" {
		v.log.SetText(msg)
	}
	if in == nil {
		return
	}
	v.charts.setInstance(in.Number)
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
	v.state.SetText(lang.L("Stand-in worker: {{.State}}", vals{"State": string(in.State)}))
	d := lang.L("Acceleration {{.Accel}} · QEMU PID {{.PID}} · restarts {{.Restarts}} · stats http://{{.Addr}}/stats",
		vals{"Accel": accelText(in.Accel), "PID": in.PID, "Restarts": in.Restarts, "Addr": in.StatsAddr})
	if in.BootTime > 0 {
		d += lang.L(" · ready in {{.Duration}}", vals{"Duration": in.BootTime.Round(100 * time.Millisecond).String()})
	}
	if in.LastExit != "" {
		d += "\n" + lang.L("Last exit: {{.Exit}}", vals{"Exit": in.LastExit})
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
		v.activity.SetText(lang.L("Worker not answering yet: {{.Error}}", vals{"Error": in.StatsError}))
	}
}

// activityText is the live activity of a worker: rates over the last
// poll interval and totals since the worker started.
func activityText(in *engine.Instance) string {
	var b strings.Builder
	loc := currentLocale()
	c := in.Stats.Counters
	// The worker's own 10-second rates (§6.4) are steadier than one poll.
	b.WriteString(lang.L("Last 10 s: {{.Requests}} requests/s · {{.Tokens}} adjusted tokens/s · concurrency {{.Concurrency}}",
		vals{"Requests": loc.num(c.Queries.Rate(worker.Window10s), 2), "Tokens": loc.num(c.TotalAdjustedTokens.Rate(worker.Window10s), 0),
			"Concurrency": loc.num(c.Time.Rate(worker.Window10s), 2)}))
	if a := in.Activity; a != nil && a.Queries > 0 {
		b.WriteString(lang.L(" · success {{.Percent}}%", vals{"Percent": loc.num(100*a.SuccessRate(), 0)}))
	}
	b.WriteString("\n")
	f0 := func(x float64) string { return loc.num(x, 0) }
	b.WriteString(lang.L("Since the worker started: {{.Requests}} requests ({{.Failed}} failed) · {{.Tokens}} adjusted tokens (prompt {{.Prompt}}, cached {{.Cached}}, completion {{.Completion}}, reasoning {{.Reasoning}}) · {{.In}} in, {{.Out}} out",
		vals{"Requests": f0(c.Queries.Total()), "Failed": f0(c.Failed.Total()), "Tokens": f0(c.TotalAdjustedTokens.Total()),
			"Prompt": f0(c.PromptAdjustedTokens.Total()), "Cached": f0(c.CachedAdjustedTokens.Total()),
			"Completion": f0(c.CompletionAdjustedTokens.Total()), "Reasoning": f0(c.ReasoningAdjustedTokens.Total()),
			"In": bytesText(c.BytesReceived.Total()), "Out": bytesText(c.BytesSent.Total())}))
	if w := in.Stats.Wallet; w != nil {
		health := in.Stats.Status.WalletHealth()
		state := health.String()
		switch health {
		case worker.WalletTooLow:
			state = lang.L("{{.State}}: under 2.1 TON the worker does not start; top it up", vals{"State": state})
		case worker.WalletLow:
			state = lang.L("{{.State}}: under 5 TON; top it up soon", vals{"State": state})
		}
		b.WriteString("\n" + lang.L("Cocoon wallet float: {{.Amount}} ({{.State}})", vals{"Amount": loc.ton(w.Balance), "State": state}))
	}
	b.WriteString("\n" + lang.L("Connected proxies: {{.Count}}", vals{"Count": len(in.Stats.Proxies)}))
	if l := in.Load; l != nil {
		b.WriteString(lang.L(" · stand-in client: {{.Sent}} sent, {{.OK}} answered, {{.Failed}} failed", vals{"Sent": l.Sent, "OK": l.OK, "Failed": l.Failed}))
	}
	return b.String()
}

// trustText explains a trust verdict.
func trustText(t engine.Trust) string {
	var b strings.Builder
	b.WriteString(strings.ToUpper(t.Verdict()[:1]) + t.Verdict()[1:] + ".")
	if t.ImageHash != "" {
		b.WriteString("\n" + lang.L("Image hash {{.Image}}… ({{.Source}}), {{.Images}} allowed · model hash {{.Model}}…, {{.Models}} allowed",
			vals{"Image": t.ImageHash[:16], "Source": t.Source, "Images": t.AllowedImages, "Model": t.ModelHash[:16], "Models": t.AllowedModels}))
	}
	if !t.CertNotBefore.IsZero() {
		b.WriteString("\n" + lang.L("RA-TLS certificate made {{.Age}} ago, valid until {{.Until}}",
			vals{"Age": time.Since(t.CertNotBefore).Round(time.Minute).String(), "Until": currentLocale().dayTime(t.CertNotAfter.Local())}))
	}
	return b.String()
}

func bytesText(n float64) string {
	loc := currentLocale()
	switch {
	case n >= 1<<20:
		return loc.num(n/(1<<20), 1) + " MiB"
	case n >= 1<<10:
		return loc.num(n/(1<<10), 1) + " KiB"
	}
	return loc.num(n, 0) + " B"
}

// showEarnings renders the settlement pipeline for four periods.
func (v *workerView) showEarnings(e *engine.Earnings) {
	if e == nil || e.All == nil {
		return
	}
	var b strings.Builder
	loc := currentLocale()
	fmt.Fprintf(&b, "%-22s %16s %16s %16s %16s\n", "", lang.L("today"), lang.L("7 days"), lang.L("30 days"), lang.L("all time"))
	for _, st := range store.Stages() {
		fmt.Fprintf(&b, "%-22s %16s %16s %16s %16s\n", stageLabel(st), loc.ton(e.Today[st]),
			loc.ton(e.Week[st]), loc.ton(e.Month[st]), loc.ton(e.All[st]))
	}
	b.WriteString(lang.L("Claimable now: {{.Amount}}", vals{"Amount": loc.ton(e.ClaimableNow)}))
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
		v.paused.SetText(lang.L("Paused automatically ({{.Reason}}): proxies send no new requests; the VM stays up and resumes by itself when that is over. Resume to work anyway.", vals{"Reason": pauseReason(*p)}))
		v.resume.Enable()
	case p.Indefinite():
		v.paused.SetText(lang.L("Paused until you resume: proxies send no new requests; the VM stays up."))
		v.resume.Enable()
	default:
		v.paused.SetText(lang.L("Paused until {{.Time}}: proxies send no new requests; the VM stays up and resumes by itself.", vals{"Time": currentLocale().dayTime(p.Until.Local())}))
		v.resume.Enable()
	}
}

func accelText(a vm.Accel) string {
	switch a {
	case vm.AccelKVM:
		return "KVM"
	case vm.AccelTCG:
		return lang.L("software emulation (TCG)")
	case "":
		return lang.L("not chosen yet")
	}
	return string(a)
}
