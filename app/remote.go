package app

import (
	"context"
	"io"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine"
)

// connectFunc dials a remote host's control API.
type connectFunc func(ctx context.Context, target, token, fingerprint string) (engine.API, io.Closer, error)

// enableRemote adds "Remote host…" beside the banner: connect to a worker
// host's control API, or (when the app has a local engine) back to this
// machine.
func (v *mainView) enableRemote(ctx context.Context, w fyne.Window, connect connectFunc, local engine.API) {
	var button *widget.Button
	button = widget.NewButton(lang.L("Remote host…"), func() {
		if v.api.Label() != "" && local != nil {
			dialog.ShowConfirm(lang.L("Remote host"), lang.L("Watching {{.Host}}. Go back to this machine?", vals{"Host": v.api.Label()}), func(back bool) {
				if back {
					v.switchTo(ctx, local, "", nil)
				}
			}, w)
			return
		}
		v.connectDialog(ctx, w, connect)
	})
	v.actions.Add(button)
}

// connectDialog asks for the host's API address, token and certificate
// fingerprint and switches to it once it answers.
func (v *mainView) connectDialog(ctx context.Context, w fyne.Window, connect connectFunc) {
	target := widget.NewEntry()
	target.SetPlaceHolder("https://worker-host:9311")
	token := widget.NewPasswordEntry()
	token.SetPlaceHolder(lang.L("the content of api-token on the worker host"))
	fp := widget.NewEntry()
	fp.SetPlaceHolder(lang.L("SHA-256 fingerprint (https only)"))
	items := []*widget.FormItem{
		{Text: lang.L("Address"), Widget: target, HintText: lang.L("cocoon-provider run --headless --api … prints it")},
		{Text: lang.L("Token"), Widget: token},
		{Text: lang.L("Fingerprint"), Widget: fp},
	}
	d := dialog.NewForm(lang.L("Connect to a remote host"), lang.L("Connect"), lang.L("Cancel"), items, func(ok bool) {
		if !ok {
			return
		}
		t := strings.TrimSpace(target.Text)
		busy := dialog.NewCustomWithoutButtons(lang.L("Connecting to {{.Host}}", vals{"Host": t}), widget.NewProgressBarInfinite(), w)
		busy.Show()
		go func() {
			api, closer, err := connect(ctx, t, strings.TrimSpace(token.Text), strings.TrimSpace(fp.Text))
			fyne.Do(func() {
				busy.Hide()
				if err != nil {
					dialog.ShowError(err, w)
					return
				}
				v.switchTo(ctx, api, t, closer)
			})
		}()
	}, w)
	d.Resize(fyne.NewSize(560, 0))
	d.Show()
}

// switchTo makes api the one every view follows; the returned channel
// closes once the new host's machine check is on screen.
func (v *mainView) switchTo(ctx context.Context, api engine.API, label string, closer io.Closer) <-chan struct{} {
	v.api.use(api, label, closer)
	v.banner.SetText(bannerText(label))
	return v.runCheck(ctx)
}
