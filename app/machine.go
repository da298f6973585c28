package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
)

// machineView shows the doctor's verdicts and checklist.
type machineView struct {
	content   fyne.CanvasObject
	prodIcon  *widget.Icon
	prodText  *widget.Label
	devIcon   *widget.Icon
	devText   *widget.Label
	checked   *widget.Label
	storeErr  *widget.Label
	list      *fyne.Container
	recheck   *widget.Button
	progress  *widget.ProgressBarInfinite
	onRecheck func()
}

func newMachineView() *machineView {
	v := &machineView{
		prodIcon: widget.NewIcon(theme.QuestionIcon()),
		prodText: wrapLabel(lang.L("Checking this machine…")),
		devIcon:  widget.NewIcon(theme.QuestionIcon()),
		devText:  wrapLabel(lang.L("Checking this machine…")),
		checked:  widget.NewLabel(""),
		storeErr: wrapLabel(""),
		list:     container.NewVBox(),
		progress: widget.NewProgressBarInfinite(),
	}
	v.storeErr.Importance = widget.DangerImportance
	v.storeErr.Hide()
	v.recheck = widget.NewButtonWithIcon(lang.L("Check again"), theme.ViewRefreshIcon(), func() {
		if v.onRecheck != nil {
			v.onRecheck()
		}
	})
	verdicts := container.NewGridWithColumns(2,
		widget.NewCard(lang.L("Earning on COCOON"), "", container.NewBorder(nil, nil, v.prodIcon, nil, v.prodText)),
		widget.NewCard(lang.L("Dev mode (try it)"), "", container.NewBorder(nil, nil, v.devIcon, nil, v.devText)),
	)
	top := container.NewVBox(verdicts, v.storeErr, container.NewBorder(nil, nil, nil, v.recheck, container.NewStack(v.progress, v.checked)))
	v.content = container.NewBorder(top, nil, nil, nil, container.NewVScroll(container.NewPadded(v.list)))
	return v
}

func wrapLabel(s string) *widget.Label {
	l := widget.NewLabel(s)
	l.Wrapping = fyne.TextWrapWord
	l.Alignment = currentLocale().align()
	return l
}

func (v *machineView) setBusy(busy bool) {
	if busy {
		v.recheck.Disable()
		v.progress.Show()
		v.progress.Start()
		v.checked.Hide()
		return
	}
	v.recheck.Enable()
	v.progress.Stop()
	v.progress.Hide()
	v.checked.Show()
}

func (v *machineView) showError(err error) {
	v.prodIcon.SetResource(statusIcon(hostcheck.StatusUnknown))
	v.prodText.SetText(lang.L("The check could not run: {{.Error}}", vals{"Error": err.Error()}))
}

func (v *machineView) showStoreError(msg string) {
	if msg == "" {
		v.storeErr.Hide()
		return
	}
	v.storeErr.SetText(lang.L("Nothing is being recorded: {{.Error}}", vals{"Error": msg}))
	v.storeErr.Show()
}

// show renders a report.
func (v *machineView) show(r hostcheck.Report) {
	v.prodIcon.SetResource(verdictIcon(r.Production))
	v.prodText.SetText(verdictText(r, r.Production))
	v.devIcon.SetResource(verdictIcon(r.Dev))
	v.devText.SetText(verdictText(r, r.Dev))
	v.checked.SetText(lang.L("Checked {{.Time}} on {{.Host}} ({{.OS}}, kernel {{.Kernel}})",
		vals{"Time": currentLocale().clock(r.Time, true), "Host": r.Host.Hostname, "OS": r.Host.OS, "Kernel": r.Host.Kernel}))
	rows := make([]fyne.CanvasObject, 0, len(r.Checks))
	for _, c := range r.Checks {
		rows = append(rows, checkRow(c))
	}
	v.list.Objects = rows
	v.list.Refresh()
}

func checkRow(c hostcheck.Check) fyne.CanvasObject {
	title := widget.NewLabelWithStyle(checkTitle(c), currentLocale().align(), fyne.TextStyle{Bold: true})
	observed := wrapLabel(c.Observed)
	lines := []fyne.CanvasObject{container.NewBorder(nil, nil, title, devBadge(c), observed)}
	if c.Fix != "" && c.Status != hostcheck.StatusOK {
		fix := wrapLabel(lang.L("Fix: {{.Fix}}", vals{"Fix": checkFix(c)}))
		fix.Importance = widget.HighImportance
		lines = append(lines, fix)
	}
	if c.Status != hostcheck.StatusOK {
		why := wrapLabel(lang.L("Why it matters: {{.Why}}", vals{"Why": checkWhy(c)}))
		why.TextStyle = fyne.TextStyle{Italic: true}
		lines = append(lines, why)
	}
	return container.NewBorder(nil, widget.NewSeparator(), container.NewVBox(widget.NewIcon(statusIcon(c.Status))), nil, container.NewVBox(lines...))
}

// devBadge shows the dev-mode status where it differs from earning's.
func devBadge(c hostcheck.Check) fyne.CanvasObject {
	if c.DevStatus == hostcheck.StatusNone || c.DevStatus == c.Status {
		return nil
	}
	l := widget.NewLabel(lang.L("dev mode: {{.Status}}", vals{"Status": statusText(c.DevStatus)}))
	l.Importance = widget.LowImportance
	return l
}

func verdictIcon(v hostcheck.Verdict) fyne.Resource {
	switch {
	case !v.Ready:
		return statusIcon(hostcheck.StatusFail)
	case len(v.Unconfirmed) > 0:
		return statusIcon(hostcheck.StatusUnknown)
	}
	return statusIcon(hostcheck.StatusOK)
}

func statusIcon(s hostcheck.Status) fyne.Resource {
	switch s {
	case hostcheck.StatusOK:
		return theme.NewSuccessThemedResource(theme.ConfirmIcon())
	case hostcheck.StatusWarn:
		return theme.NewWarningThemedResource(theme.WarningIcon())
	case hostcheck.StatusFail:
		return theme.NewErrorThemedResource(theme.CancelIcon())
	}
	return theme.QuestionIcon()
}
