package app

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/diag"
)

const (
	// logsRefreshEvery is how often a shown Logs tab reads the log again.
	logsRefreshEvery = 5 * time.Second
	// logsSearchDelay is how long the search waits for the next keystroke.
	logsSearchDelay = 300 * time.Millisecond
	// logsLimit is how many lines the tab shows.
	logsLimit = engine.DefaultLogLimit
)

// logSources are the choices of the source selector.
func logSources() []struct {
	label  string
	source engine.LogSource
} {
	return []struct {
		label  string
		source engine.LogSource
	}{
		{lang.L("App log"), engine.LogApp},
		{lang.L("VM console"), engine.LogConsole},
	}
}

// diagExplanation says what a diagnostic bundle holds.
func diagExplanation() string {
	return lang.L("The diagnostic bundle is a zip to attach to a bug report. It holds the machine check, the GPUs, the settings (secret values removed), recent events, earnings totals per stage, the worker's state and the end of its console, and the end of the app's log.\n\nRecovery phrases, keys, tokens and passwords, IP addresses, your user, host and home folder names are replaced by placeholders; TON addresses too, unless you include them below. The wallet keystore and the API token are never included. manifest.txt in the zip lists every file and what was replaced: look through it before you share the bundle.")
}

// logsView shows the app's log or the VM console, newest lines at the
// bottom, with a search, and writes diagnostic bundles. Its fields are
// touched on the UI thread only.
type logsView struct {
	api     engine.API
	now     func() time.Time
	window  fyne.Window // parent of the dialogs; set by Run
	content fyne.CanvasObject
	source  *widget.RadioGroup
	search  *widget.Entry
	text    *widget.Label // the lines, monospace, selectable
	scroll  *container.Scroll
	count   *widget.Label
	status  *widget.Label // what the last bundle came to
	diagBtn *widget.Button

	src engine.LogSource
	// visible says whether the tab is shown: it refreshes itself only then.
	visible bool
	// auto reads the log every logsRefreshEvery while the tab is shown
	// (tests lengthen it).
	auto autoRefresh
	// keys counts keystrokes in the search entry.
	keys atomic.Int64
	// searched receives each search's refresh (for tests; nobody reads it
	// in the app, and a search does not wait for a reader).
	searched chan (<-chan struct{})
	// gen numbers refreshes; a result of an older one is dropped.
	gen      int
	inFlight bool
	shown    <-chan struct{} // closes once the last refresh is on screen
	last     engine.LogQuery // the query on screen
	// diagAddrs is the open bundle dialog's address checkbox; diagDone
	// closes when the last bundle is written.
	diagAddrs *widget.Check
	diagDone  <-chan struct{}
}

func newLogsView(ctx context.Context, api engine.API) *logsView {
	v := &logsView{api: api, now: time.Now, src: engine.LogApp, auto: autoRefresh{every: logsRefreshEvery}, searched: make(chan (<-chan struct{}), 1),
		text:   widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true}),
		search: widget.NewEntry(),
		count:  widget.NewLabel(lang.L("Nothing read yet.")),
		status: wrapLabel(""),
	}
	v.text.Selectable = true
	v.scroll = container.NewScroll(v.text)
	v.count.Importance = widget.LowImportance
	v.status.Importance = widget.LowImportance
	sources := logSources()
	labels := make([]string, len(sources))
	for i, s := range sources {
		labels[i] = s.label
	}
	v.source = widget.NewRadioGroup(labels, nil)
	v.source.Horizontal = true
	v.source.Required = true
	v.source.SetSelected(sources[0].label)
	v.source.OnChanged = func(label string) {
		for _, s := range sources {
			if s.label == label && s.source != v.src {
				v.src = s.source
				v.shown = v.refresh(ctx)
			}
		}
	}
	v.search.SetPlaceHolder(lang.L("Search (any case)"))
	typed := make(chan struct{}, 1)
	v.search.OnChanged = func(string) {
		v.keys.Add(1)
		select {
		case typed <- struct{}{}:
		default: // a search is due already
		}
	}
	go v.searchAfterTyping(ctx, typed)
	refresh := widget.NewButtonWithIcon(lang.L("Refresh"), theme.ViewRefreshIcon(), func() { v.shown = v.refresh(ctx) })
	v.diagBtn = widget.NewButtonWithIcon(lang.L("Diagnostic bundle…"), theme.DocumentSaveIcon(), func() { v.openDiag(ctx) })
	top := container.NewBorder(nil, nil, v.source, container.NewHBox(refresh, v.diagBtn), v.search)
	v.content = container.NewBorder(top, container.NewVBox(v.count, v.status), nil, nil, v.scroll)
	return v
}

// searchAfterTyping searches once the keystrokes pause for
// logsSearchDelay.
func (v *logsView) searchAfterTyping(ctx context.Context, typed <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-typed:
		}
		pause := time.NewTimer(logsSearchDelay)
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				pause.Stop()
				return
			case <-typed:
				pause.Reset(logsSearchDelay)
			case <-pause.C:
				waiting = false
			}
		}
		v.keys.Load() // orders the keystrokes before the search (they may share no other sync)
		var done <-chan struct{}
		fyne.DoAndWait(func() {
			done = v.refresh(ctx)
			v.shown = done
		})
		select {
		case v.searched <- done:
		default:
		}
	}
}

// setVisible tells the view whether its tab is shown: showing it reads
// the log at once and then every logsRefreshEvery until it is hidden.
func (v *logsView) setVisible(ctx context.Context, visible bool) {
	v.visible = visible
	v.auto.set(ctx, visible, func() {
		// A slow read (a search over a long log) is not asked again before
		// it answers.
		if v.visible && !v.inFlight {
			v.shown = v.refresh(ctx)
		}
	})
}

// refresh reads the log in the background; the returned channel closes
// once the lines are on screen (or superseded by a later refresh).
func (v *logsView) refresh(ctx context.Context) <-chan struct{} {
	v.gen++
	gen := v.gen
	q := engine.LogQuery{Source: v.src, Contains: v.search.Text, Limit: logsLimit}
	v.inFlight = true
	done := make(chan struct{})
	go func() {
		if q.Source == engine.LogConsole {
			if in := v.api.State().Dev; in != nil {
				q.Instance = in.Number
			}
		}
		p, err := v.api.Logs(ctx, q)
		fyne.Do(func() {
			defer close(done)
			if gen != v.gen {
				return
			}
			v.inFlight = false
			if err != nil {
				v.count.SetText(lang.L("Could not read the log: {{.Error}}", vals{"Error": err.Error()}))
				return
			}
			v.show(q, p)
		})
	}()
	return done
}

// show puts a page on screen. The view follows the newest line when it
// showed the newest line before, or when the source or search changed;
// a user who scrolled up to read stays where they are.
func (v *logsView) show(q engine.LogQuery, p engine.LogPage) {
	follow := q != v.last || v.atBottom()
	v.last = q
	if text := strings.Join(p.Lines, "\n"); text != v.text.Text {
		v.text.SetText(text)
	}
	if follow {
		// The label grows at the next layout; size it now so that the
		// scroll reaches its new end.
		want, size := v.text.MinSize(), v.scroll.Size()
		v.text.Resize(fyne.NewSize(max(want.Width, size.Width), max(want.Height, size.Height)))
		v.scroll.ScrollToBottom()
	}
	v.count.SetText(countText(q, p))
}

// atBottom reports whether the newest line is in view.
func (v *logsView) atBottom() bool {
	return v.scroll.Offset.Y >= v.text.Size().Height-v.scroll.Size().Height-theme.Padding()
}

// countText is the line under the log: how many lines, and whether more exist.
func countText(q engine.LogQuery, p engine.LogPage) string {
	n := len(p.Lines)
	lines := lang.L("{{.Count}} lines", vals{"Count": n})
	if n == 1 {
		lines = lang.L("1 line")
	}
	d := vals{"Lines": lines, "Search": q.Contains, "Limit": q.Limit}
	switch {
	case n == 0 && q.Contains != "" && p.Truncated:
		return lang.L("no lines match '{{.Search}}' in the newest part of the log (older lines were not searched)", d)
	case n == 0 && q.Contains != "":
		return lang.L("no lines match '{{.Search}}'", d)
	case n == 0 && q.Source == engine.LogConsole:
		return lang.L("No VM console output yet: the worker has not run with this data directory.")
	case n == 0:
		return lang.L("The app log is empty.")
	case q.Contains != "" && p.Truncated && n >= q.Limit:
		return lang.L("{{.Lines}} match '{{.Search}}' · newest {{.Limit}} shown, older lines may match too", d)
	case q.Contains != "" && p.Truncated:
		return lang.L("{{.Lines}} match '{{.Search}}' · older lines were not searched", d)
	case q.Contains != "":
		return lang.L("{{.Lines}} match '{{.Search}}'", d)
	case p.Truncated && n >= q.Limit:
		return lang.L("{{.Lines}} · newest {{.Limit}} shown, the log holds more", d)
	case p.Truncated:
		return lang.L("{{.Lines}} · older lines were not read", d)
	}
	return lines
}

// diagFileName is the bundle's default name.
func diagFileName(now time.Time) string {
	return "cocoon-provider-diag-" + now.Format("20060102-150405") + ".zip"
}

// openDiag explains the bundle and asks whether to keep addresses; Save
// then asks where.
func (v *logsView) openDiag(ctx context.Context) {
	if v.window == nil {
		v.status.SetText(lang.L("The diagnostic bundle needs the app window."))
		return
	}
	addrs := widget.NewCheck(lang.L("Include TON addresses (they identify your wallet)"), nil)
	v.diagAddrs = addrs
	info := wrapLabel(diagExplanation())
	d := dialog.NewCustomConfirm(lang.L("Diagnostic bundle"), lang.L("Save…"), lang.L("Cancel"), container.NewVBox(info, addrs), func(ok bool) {
		if ok {
			v.saveDiag(ctx, addrs.Checked)
		}
	}, v.window)
	d.Resize(fyne.NewSize(560, 0))
	d.Show()
}

// saveDiag asks where to save the bundle and writes it there.
func (v *logsView) saveDiag(ctx context.Context, includeAddresses bool) {
	d := dialog.NewFileSave(func(wc fyne.URIWriteCloser, err error) {
		if err != nil {
			v.status.SetText(lang.L("Diagnostic bundle: {{.Error}}", vals{"Error": err.Error()}))
			return
		}
		if wc == nil {
			return // cancelled
		}
		v.diagDone = v.writeDiag(ctx, wc, includeAddresses)
	}, v.window)
	d.SetFileName(diagFileName(v.now()))
	d.SetFilter(storage.NewExtensionFileFilter([]string{".zip"}))
	d.Show()
}

// writeDiag writes the bundle to wc in the background; the returned
// channel closes once the result is on screen. A bundle that could not be
// written whole is removed.
func (v *logsView) writeDiag(ctx context.Context, wc fyne.URIWriteCloser, includeAddresses bool) <-chan struct{} {
	v.status.SetText(lang.L("Writing the diagnostic bundle…"))
	v.diagBtn.Disable()
	done := make(chan struct{})
	go func() {
		m, err := v.api.DiagBundle(ctx, wc, includeAddresses)
		if cerr := wc.Close(); err == nil {
			err = cerr
		}
		var msg string
		if err != nil {
			_ = storage.Delete(wc.URI())
			msg = lang.L("The diagnostic bundle could not be written: {{.Error}}", vals{"Error": err.Error()})
		} else {
			msg = diagSavedText(wc.URI().Path(), m)
		}
		fyne.Do(func() {
			defer close(done)
			v.diagBtn.Enable()
			v.status.SetText(msg)
		})
	}()
	return done
}

// diagSavedText says where the bundle went and what it holds.
func diagSavedText(path string, m diag.Manifest) string {
	hidden := 0
	for _, n := range m.Redactions {
		hidden += n
	}
	files := lang.L("{{.Count}} files", vals{"Count": len(m.Files)})
	if len(m.Files) == 1 {
		files = lang.L("1 file")
	}
	redactions := lang.L("{{.Count}} redactions", vals{"Count": hidden})
	if hidden == 1 {
		redactions = lang.L("1 redaction")
	}
	s := lang.L("Saved {{.Path}} ({{.Files}}, {{.Redactions}})", vals{"Path": path, "Files": files, "Redactions": redactions})
	if m.AddressesKept {
		s += lang.L(" · TON addresses included")
	}
	return s
}
