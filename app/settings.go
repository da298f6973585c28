package app

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
)

// settingsDayOrder lists the days as the tab shows them, Monday first;
// the numbers index engine.Schedule.Days (Sunday is 0).
func settingsDayOrder() []struct {
	day   int
	label string
} {
	return []struct {
		day   int
		label string
	}{{1, lang.L("Mon")}, {2, lang.L("Tue")}, {3, lang.L("Wed")}, {4, lang.L("Thu")}, {5, lang.L("Fri")}, {6, lang.L("Sat")}, {0, lang.L("Sun")}}
}

// settingsView edits the settings the engine enforces: the GPU alert
// limit, the automatic pause for hot GPUs, the working schedule and the
// update feed; and, where the desktop offers it, starting with the
// session. Save stores them through the engine, which applies them at
// once. Its fields are touched on the UI thread only.
type settingsView struct {
	api       engine.API
	prefs     fyne.Preferences // UI-only settings (the language); may be nil
	autostart Autostart
	content   fyne.CanvasObject

	limit       *widget.Entry
	pauseOff    *widget.Check
	pauseAbove  *widget.Entry
	resumeBelow *widget.Entry
	scheduleOn  *widget.Check
	days        [7]*widget.Check // by engine day (Sunday is 0)
	from, to    *widget.Entry
	feed        *widget.Entry
	startup     *widget.Check
	save        *widget.Button
	status      *widget.Label

	// gpusAll uses every GPU; else the ticked gpuChecks (by key, in
	// gpuKeys order, the GPUs present first) are the GPUs to use.
	gpusAll   *widget.Check
	gpuBox    *fyne.Container
	gpuKeys   []string
	gpuChecks map[string]*widget.Check
	idleOn    *widget.Check
	idleMin   *widget.Entry
	busyOn    *widget.Check
	powerOff  *widget.Check
	pauseW    *widget.Entry
	resumeW   *widget.Entry
	language  *widget.Select
	dataDir   *widget.Label
	liteCfg   *widget.Entry
	// present are the host's GPUs, as last loaded.
	present []settingsGPU
	// Telegram alerts: the check and chat id are saved with the form; the
	// token is stored (or removed) at once by its own buttons, and is never
	// shown: tgTokenSet says whether one is stored.
	tgOn       *widget.Check
	tgChat     *widget.Entry
	tgToken    *widget.Entry
	tgState    *widget.Label
	tgStore    *widget.Button
	tgRemove   *widget.Button
	tgTest     *widget.Button
	tgResult   *widget.Label
	tgTokenSet bool
	// tgDone closes once the last token or test action's outcome is on
	// screen (tests wait on it).
	tgDone <-chan struct{}

	// loaded are the settings as last loaded: what the form does not show
	// (the price coefficient, set by the wizard) is saved unchanged.
	loaded engine.Settings
	// saved is the form as last loaded or saved; Save is enabled while
	// the form differs from it.
	saved settingsForm
	// filling: the form is being set from the engine; changes are not edits.
	filling bool
	// visible says whether the tab is shown; stale that the form was not
	// loaded yet from the host the app now watches.
	visible bool
	stale   atomic.Bool
	// shown closes once the loaded settings are on screen; done closes
	// once the last save finished (tests wait on them).
	shown <-chan struct{}
	done  <-chan struct{}
}

// settingsForm is what the form holds, as typed.
type settingsForm struct {
	limit, pauseAbove, resumeBelow string
	pauseOff, scheduleOn           bool
	days                           [7]bool
	from, to, feed                 string
	startup                        bool
	// gpus are the ticked GPU keys, one a line; "" with gpusAll.
	gpus                     string
	gpusAll, idleOn, busyOn  bool
	idleMin, pauseW, resumeW string
	powerOff                 bool
	language, liteCfg        string
	tgOn                     bool
	tgChat                   string
}

// Language choices: the preference's value, and its name in its own
// language ("" follows the system).
const prefLanguage = "language"

// settingsLanguages are the languages the tab offers, by preference value.
func settingsLanguages() []struct{ code, name string } {
	return []struct{ code, name string }{{"", lang.L("System language")}, {"en", "English"}, {"ru", "Русский"},
		{"uk", "Українська"}, {"fr", "Français"}, {"ar", "العربية"}}
}

// newSettingsView builds the tab and loads the settings in the
// background; prefs keeps the language (nil hides the choice); autostart
// may be nil (the check is then hidden).
func newSettingsView(ctx context.Context, api engine.API, prefs fyne.Preferences, autostart Autostart) *settingsView {
	v := &settingsView{
		api: api, prefs: prefs, autostart: autostart,
		limit: widget.NewEntry(), pauseAbove: widget.NewEntry(), resumeBelow: widget.NewEntry(),
		from: widget.NewEntry(), to: widget.NewEntry(), feed: widget.NewEntry(),
		status:  wrapLabel(""),
		idleMin: widget.NewEntry(), pauseW: widget.NewEntry(), resumeW: widget.NewEntry(), liteCfg: widget.NewEntry(),
		gpuBox: container.NewVBox(), gpuChecks: map[string]*widget.Check{}, dataDir: wrapLabel(""),
	}
	changed := func() { v.edited() }
	changedText := func(string) { v.edited() }
	for _, e := range []*widget.Entry{v.limit, v.pauseAbove, v.resumeBelow, v.from, v.to, v.feed, v.idleMin, v.pauseW, v.resumeW, v.liteCfg} {
		e.OnChanged = changedText
	}
	v.limit.SetPlaceHolder(strconv.Itoa(engine.DefaultGPUTempLimitC))
	v.pauseAbove.SetPlaceHolder(lang.L("e.g. 83"))
	v.resumeBelow.SetPlaceHolder(lang.L("e.g. 75"))
	v.from.SetPlaceHolder("22:00")
	v.to.SetPlaceHolder("06:00")
	v.feed.SetPlaceHolder(lang.L("empty: the project's releases"))
	v.pauseOff = widget.NewCheck(lang.L("Off"), func(bool) { v.enableFields(); changed() })
	v.scheduleOn = widget.NewCheck(lang.L("Work only at these times"), func(bool) { v.enableFields(); changed() })
	dayChecks := container.NewHBox()
	for _, d := range settingsDayOrder() {
		c := widget.NewCheck(d.label, func(bool) { changed() })
		v.days[d.day] = c
		dayChecks.Add(c)
	}
	v.startup = widget.NewCheck(lang.L("Start with the session"), func(bool) { changed() })
	if autostart == nil {
		v.startup.Hide()
	}
	v.save = widget.NewButtonWithIcon(lang.L("Save"), theme.DocumentSaveIcon(), func() { v.done = v.saveNow(ctx) })
	v.save.Importance = widget.HighImportance
	v.save.Disable()

	celsius := func(e *widget.Entry) fyne.CanvasObject {
		return container.NewBorder(nil, nil, nil, widget.NewLabel("°C"), e)
	}
	alerts := widget.NewCard(lang.L("GPU temperature"), lang.L("an alert when a GPU reaches the limit"),
		widget.NewForm(widget.NewFormItem(lang.L("Alert limit"), celsius(v.limit))))
	pause := widget.NewCard(lang.L("Pause when hot"), lang.L("the workers take no new requests while a GPU is this hot, and go on once every GPU stayed cool for a minute"),
		container.NewVBox(v.pauseOff, widget.NewForm(
			widget.NewFormItem(lang.L("Pause above"), celsius(v.pauseAbove)),
			widget.NewFormItem(lang.L("Resume below"), celsius(v.resumeBelow)))))
	schedule := widget.NewCard(lang.L("Schedule"), lang.L("outside these times the workers pause (local time; a time to before the time from runs overnight)"),
		container.NewVBox(v.scheduleOn, dayChecks, widget.NewForm(
			widget.NewFormItem(lang.L("From"), v.from), widget.NewFormItem(lang.L("To"), v.to))))
	other := widget.NewCard(lang.L("Updates and start"), "",
		container.NewVBox(widget.NewForm(widget.NewFormItem(lang.L("Update feed URL"), v.feed)), v.startup))
	v.content = container.NewVScroll(container.NewVBox(v.buildAdded(), alerts, v.buildTelegram(ctx), pause, v.buildPower(), schedule, v.buildWhen(), other,
		v.buildHost(), container.NewHBox(v.save), v.status))
	v.enableFields()
	v.stale.Store(true)
	if sw, ok := api.(*apiSwitch); ok {
		go v.followSwitch(ctx, sw)
	}
	return v
}

// followSwitch marks the form stale when the app switches to another
// host: the settings shown are the other host's.
func (v *settingsView) followSwitch(ctx context.Context, sw *apiSwitch) {
	for {
		_, changed := sw.current()
		select {
		case <-ctx.Done():
			return
		case <-changed:
			v.stale.Store(true)
		}
	}
}

// setVisible tells the view whether its tab is shown; showing it loads
// the settings, unless the form holds edits not yet saved (of the same
// host).
func (v *settingsView) setVisible(ctx context.Context, visible bool) {
	v.visible = visible
	if visible && (v.stale.Load() || v.form() == v.saved) {
		v.shown = v.load(ctx)
	}
}

// load reads the settings in the background and puts them into the form;
// the returned channel closes once they are on screen.
func (v *settingsView) load(ctx context.Context) <-chan struct{} {
	v.stale.Store(false)
	done := make(chan struct{})
	go func() {
		set, err := v.api.Settings(ctx)
		st := v.api.State()
		inv := st.GPUs
		if err == nil && len(inv.GPUs) == 0 {
			if scanned, gerr := v.api.GPUs(ctx); gerr == nil {
				inv = scanned
			}
		}
		fyne.Do(func() {
			defer close(done)
			v.setHost(inv, st.DataDir)
			if err != nil {
				v.showError(lang.L("Could not read the settings: {{.Error}}", vals{"Error": err.Error()}))
				return
			}
			v.fill(set)
		})
	}()
	return done
}

// fill puts set into the form and takes it as the saved state.
func (v *settingsView) fill(set engine.Settings) {
	v.filling = true
	defer func() { v.filling = false }()
	v.loaded = set
	v.limit.SetText(strconv.Itoa(set.GPUTempLimitC))
	v.pauseOff.SetChecked(set.PauseAboveC == 0)
	v.pauseAbove.SetText("")
	v.resumeBelow.SetText("")
	if set.PauseAboveC != 0 {
		v.pauseAbove.SetText(strconv.Itoa(set.PauseAboveC))
		v.resumeBelow.SetText(strconv.Itoa(set.ResumeBelowC))
	}
	sc := set.Schedule
	v.scheduleOn.SetChecked(sc != nil)
	if sc == nil {
		sc = &engine.Schedule{}
	}
	for d, c := range v.days {
		c.SetChecked(sc.Days[d])
	}
	v.from.SetText(sc.From)
	v.to.SetText(sc.To)
	v.feed.SetText(set.UpdateFeedURL)
	v.fillAdded(set)
	if v.autostart != nil {
		v.startup.SetChecked(v.autostart.Enabled())
	}
	v.enableFields()
	v.saved = v.form()
	v.save.Disable()
}

// form returns what the form holds.
func (v *settingsView) form() settingsForm {
	f := settingsForm{limit: v.limit.Text, pauseAbove: v.pauseAbove.Text, resumeBelow: v.resumeBelow.Text,
		pauseOff: v.pauseOff.Checked, scheduleOn: v.scheduleOn.Checked, from: v.from.Text, to: v.to.Text,
		feed: v.feed.Text, startup: v.startup.Checked}
	for d, c := range v.days {
		f.days[d] = c.Checked
	}
	v.addedForm(&f)
	return f
}

// edited follows a change of the form: Save is enabled while it differs
// from what was saved.
func (v *settingsView) edited() {
	if v.filling || v.save == nil {
		return
	}
	if v.form() == v.saved {
		v.save.Disable()
	} else {
		v.save.Enable()
		v.status.SetText("")
	}
}

// enableFields disables the fields a check turns off.
func (v *settingsView) enableFields() {
	for _, e := range []*widget.Entry{v.pauseAbove, v.resumeBelow} {
		if v.pauseOff.Checked {
			e.Disable()
		} else {
			e.Enable()
		}
	}
	for _, c := range v.days {
		if v.scheduleOn.Checked {
			c.Enable()
		} else {
			c.Disable()
		}
	}
	for _, e := range []*widget.Entry{v.from, v.to} {
		if v.scheduleOn.Checked {
			e.Enable()
		} else {
			e.Disable()
		}
	}
	v.enableAdded()
}

// settings reads the form; an error says what to correct.
func (v *settingsView) settings() (engine.Settings, error) {
	set := engine.Settings{WorkerCoefficient: v.loaded.WorkerCoefficient}
	num := func(e *widget.Entry, what string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(e.Text), "°C")))
		if err != nil {
			return 0, errors.New(lang.L("{{.What}} must be a whole number of °C, not {{.Text}}", vals{"What": what, "Text": strconv.Quote(e.Text)}))
		}
		return n, nil
	}
	var err error
	if set.GPUTempLimitC, err = num(v.limit, lang.L("the GPU temperature alert limit")); err != nil {
		return set, err
	}
	if !v.pauseOff.Checked {
		if set.PauseAboveC, err = num(v.pauseAbove, lang.L("pause above")); err != nil {
			return set, err
		}
		if set.PauseAboveC == 0 {
			return set, errors.New(lang.L("pause above must be a temperature; tick Off to turn the pause off"))
		}
		if set.ResumeBelowC, err = num(v.resumeBelow, lang.L("resume below")); err != nil {
			return set, err
		}
	}
	if v.scheduleOn.Checked {
		sc := &engine.Schedule{From: strings.TrimSpace(v.from.Text), To: strings.TrimSpace(v.to.Text)}
		for d, c := range v.days {
			sc.Days[d] = c.Checked
		}
		set.Schedule = sc
	}
	set.UpdateFeedURL = strings.TrimSpace(v.feed.Text)
	if err := v.addedSettings(&set); err != nil {
		return set, err
	}
	return set, set.Validate()
}

// saveNow checks the form and stores it in the background; the returned
// channel closes once the outcome is on screen.
func (v *settingsView) saveNow(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	set, err := v.settings()
	if err != nil {
		v.showError(sentence(err.Error()))
		close(done)
		return done
	}
	if v.stale.Load() {
		v.showError(lang.L("The settings were not loaded from this host yet; they are being loaded now: check them and save again."))
		v.shown = v.load(ctx)
		close(done)
		return done
	}
	form := v.form()
	startupChanged := v.autostart != nil && form.startup != v.autostart.Enabled()
	languageChanged := v.saveLanguage(form.language)
	v.save.Disable()
	v.status.Importance = widget.LowImportance
	v.status.SetText(lang.L("Saving…"))
	go func() {
		err := v.api.SetSettings(ctx, set)
		var aerr error
		if err == nil && startupChanged {
			aerr = v.autostart.Set(form.startup)
		}
		fyne.Do(func() {
			defer close(done)
			if err != nil {
				v.showError(lang.L("Not saved: {{.Error}}", vals{"Error": err.Error()}))
				v.edited()
				return
			}
			v.saved = form
			if v.autostart != nil {
				v.saved.startup = v.autostart.Enabled()
			}
			if aerr != nil {
				v.showError(lang.L("Saved, but starting with the session could not be changed: {{.Error}}", vals{"Error": aerr.Error()}))
				return
			}
			v.edited()
			v.status.Importance = widget.SuccessImportance
			v.status.SetText(lang.L("Saved."))
			if languageChanged {
				v.status.SetText(lang.L("Saved. The language applies after a restart of the app."))
			}
		})
	}()
	return done
}

// setAutostart offers "Start with the session" backed by a; nil hides it.
func (v *settingsView) setAutostart(a Autostart) {
	v.autostart = a
	if a == nil {
		v.startup.Hide()
		return
	}
	v.filling = true
	v.startup.SetChecked(a.Enabled())
	v.filling = false
	v.saved.startup = v.startup.Checked
	v.startup.Show()
	v.edited()
}

// showError puts msg under the form.
func (v *settingsView) showError(msg string) {
	v.status.Importance = widget.DangerImportance
	v.status.SetText(msg)
	if v.form() != v.saved {
		v.save.Enable()
	}
}

// sentence starts msg with a capital letter and ends it with a full stop.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// settingsGPU is a GPU the host has now, as the tab lists it.
type settingsGPU struct{ key, label string }

// buildAdded builds the card of the GPUs to use.
func (v *settingsView) buildAdded() fyne.CanvasObject {
	v.gpusAll = widget.NewCheck(lang.L("All GPUs"), func(bool) { v.enableAdded(); v.edited() })
	return widget.NewCard(lang.L("GPUs to use"), lang.L("the workers use only the ticked GPUs; the automatic pauses watch only these"),
		container.NewVBox(v.gpusAll, v.gpuBox))
}

// buildPower builds the card of the pause for a high power draw.
func (v *settingsView) buildPower() fyne.CanvasObject {
	v.powerOff = widget.NewCheck(lang.L("Off"), func(bool) { v.enableAdded(); v.edited() })
	v.pauseW.SetPlaceHolder(lang.L("e.g. 400"))
	v.resumeW.SetPlaceHolder(lang.L("e.g. 350"))
	watts := func(e *widget.Entry) fyne.CanvasObject {
		return container.NewBorder(nil, nil, nil, widget.NewLabel("W"), e)
	}
	return widget.NewCard(lang.L("Pause on power draw"), lang.L("the workers take no new requests while a GPU draws this much, and go on once every GPU stayed below the resume level for a minute"),
		container.NewVBox(v.powerOff, widget.NewForm(
			widget.NewFormItem(lang.L("Pause above"), watts(v.pauseW)),
			widget.NewFormItem(lang.L("Resume below"), watts(v.resumeW)))))
}

// buildWhen builds the card of the pauses for the user and for other
// programs on the GPUs.
func (v *settingsView) buildWhen() fyne.CanvasObject {
	v.idleOn = widget.NewCheck(lang.L("Run only when the computer is not in use"), func(bool) { v.enableAdded(); v.edited() })
	v.idleMin.SetPlaceHolder("10")
	v.busyOn = widget.NewCheck(lang.L("Pause while another program uses a GPU (a game)"), func(bool) { v.edited() })
	return widget.NewCard(lang.L("When you use the computer"), "",
		container.NewVBox(v.idleOn,
			widget.NewForm(widget.NewFormItem(lang.L("Resume after no input for"),
				container.NewBorder(nil, nil, nil, widget.NewLabel(lang.L("min")), v.idleMin))),
			wrapLabel(lang.L("This uses the idle hint of logind, which desktops such as GNOME report; it needs no root. Where it is unavailable (a server without a desktop, another system) the workers are not paused for activity, and the event log says so.")),
			v.busyOn,
			wrapLabel(lang.L("Programs of this app (its worker VMs) do not count; the workers go on a minute after the other program ended."))))
}

// buildHost builds the card of the language, the data folder and the
// TON config.
func (v *settingsView) buildHost() fyne.CanvasObject {
	var names []string
	for _, l := range settingsLanguages() {
		names = append(names, l.name)
	}
	v.language = widget.NewSelect(names, func(string) { v.edited() })
	items := []*widget.FormItem{widget.NewFormItem(lang.L("Language"), v.language)}
	if v.prefs == nil {
		v.language.Hide()
		items = nil
	}
	v.liteCfg.SetPlaceHolder(lang.L("empty: the worker's or the wallet's"))
	items = append(items, widget.NewFormItem(lang.L("Data folder"), v.dataDir),
		widget.NewFormItem(lang.L("TON global config"), v.liteCfg))
	notes := container.NewVBox(
		wrapLabel(lang.L("The language applies after a restart of the app.")),
		wrapLabel(lang.L("The data folder cannot be changed or moved here while the app runs: quit, move the folder if you like, and start the app with --data-dir FOLDER.")),
		wrapLabel(lang.L("The TON global config is a file on the host or an https:// address; the liteserver check (cocoon-provider liteservers) uses it.")))
	if v.prefs == nil {
		notes.Objects[0].Hide()
	}
	return widget.NewCard(lang.L("App and host"), "", container.NewVBox(widget.NewForm(items...), notes))
}

// setHost shows the host's data folder and keeps its GPUs for the list.
func (v *settingsView) setHost(inv gpu.Inventory, dataDir string) {
	if dataDir == "" {
		dataDir = lang.L("unknown")
	}
	v.dataDir.SetText(dataDir)
	v.present = v.present[:0]
	for _, g := range inv.GPUs {
		k := g.Key()
		if k == "" {
			continue
		}
		name := g.Name
		if name == "" {
			name = g.BusID
		}
		label := name + " (" + k + ")"
		if g.Index != nil {
			label = lang.L("GPU {{.Index}}: {{.Name}}", vals{"Index": *g.Index, "Name": label})
		}
		v.present = append(v.present, settingsGPU{key: k, label: label})
	}
}

// fillAdded puts the added settings and the language into the form.
func (v *settingsView) fillAdded(set engine.Settings) {
	v.gpuBox.RemoveAll()
	v.gpuKeys, v.gpuChecks = nil, map[string]*widget.Check{}
	add := func(key, label string) {
		c := widget.NewCheck(label, func(bool) { v.edited() })
		c.SetChecked(slices.Contains(set.GPUs, key))
		v.gpuKeys = append(v.gpuKeys, key)
		v.gpuChecks[key] = c
		v.gpuBox.Add(c)
	}
	for _, g := range v.present {
		if v.gpuChecks[g.key] == nil {
			add(g.key, g.label)
		}
	}
	for _, k := range set.GPUs {
		if v.gpuChecks[k] == nil {
			add(k, lang.L("{{.Key}} (not present now)", vals{"Key": k}))
		}
	}
	v.gpusAll.SetChecked(len(set.GPUs) == 0)
	v.idleOn.SetChecked(set.IdleAfterMin > 0)
	v.idleMin.SetText("")
	if set.IdleAfterMin > 0 {
		v.idleMin.SetText(strconv.Itoa(set.IdleAfterMin))
	}
	v.busyOn.SetChecked(set.PauseWhenGPUBusy)
	v.powerOff.SetChecked(set.PauseAboveW == 0)
	v.pauseW.SetText("")
	v.resumeW.SetText("")
	if set.PauseAboveW != 0 {
		v.pauseW.SetText(strconv.Itoa(set.PauseAboveW))
		v.resumeW.SetText(strconv.Itoa(set.ResumeBelowW))
	}
	v.liteCfg.SetText(set.LiteserverConfig)
	v.tgOn.SetChecked(set.TelegramEnabled)
	v.tgChat.SetText(set.TelegramChatID)
	v.showTelegramToken(set.TelegramTokenSet)
	code := ""
	if v.prefs != nil {
		code = v.prefs.String(prefLanguage)
	}
	v.language.SetSelectedIndex(0)
	for i, l := range settingsLanguages() {
		if l.code == code {
			v.language.SetSelectedIndex(i)
		}
	}
}

// addedForm puts what the added fields hold into f.
func (v *settingsView) addedForm(f *settingsForm) {
	f.gpusAll, f.idleOn, f.busyOn, f.powerOff = v.gpusAll.Checked, v.idleOn.Checked, v.busyOn.Checked, v.powerOff.Checked
	f.idleMin, f.pauseW, f.resumeW, f.liteCfg = v.idleMin.Text, v.pauseW.Text, v.resumeW.Text, v.liteCfg.Text
	f.gpus = strings.Join(v.tickedGPUs(), "\n")
	f.tgOn, f.tgChat = v.tgOn.Checked, v.tgChat.Text
	if i := v.language.SelectedIndex(); i >= 0 {
		f.language = settingsLanguages()[i].code
	}
}

// tickedGPUs are the keys of the ticked GPUs, in the list's order.
func (v *settingsView) tickedGPUs() []string {
	var keys []string
	for _, k := range v.gpuKeys {
		if v.gpuChecks[k].Checked {
			keys = append(keys, k)
		}
	}
	return keys
}

// enableAdded disables the added fields a check turns off.
func (v *settingsView) enableAdded() {
	enable := func(on bool, ws ...fyne.Disableable) {
		for _, w := range ws {
			if on {
				w.Enable()
			} else {
				w.Disable()
			}
		}
	}
	for _, c := range v.gpuChecks {
		enable(!v.gpusAll.Checked, c)
	}
	enable(v.idleOn.Checked, v.idleMin)
	enable(!v.powerOff.Checked, v.pauseW, v.resumeW)
}

// addedSettings reads the added fields into set; an error says what to
// correct.
func (v *settingsView) addedSettings(set *engine.Settings) error {
	whole := func(e *widget.Entry, unit string) (int, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(e.Text), unit)))
		return n, err == nil
	}
	if !v.gpusAll.Checked {
		if set.GPUs = v.tickedGPUs(); len(set.GPUs) == 0 {
			return errors.New(lang.L("tick at least one GPU to use, or All GPUs"))
		}
	}
	if v.idleOn.Checked {
		n, ok := whole(v.idleMin, "min")
		if !ok || n <= 0 {
			return errors.New(lang.L("the idle time must be a whole number of minutes, not {{.Text}}", vals{"Text": strconv.Quote(v.idleMin.Text)}))
		}
		set.IdleAfterMin = n
	}
	set.PauseWhenGPUBusy = v.busyOn.Checked
	if !v.powerOff.Checked {
		var ok bool
		if set.PauseAboveW, ok = whole(v.pauseW, "W"); !ok || set.PauseAboveW == 0 {
			return errors.New(lang.L("the power limit must be a whole number of watts; tick Off to turn it off"))
		}
		if set.ResumeBelowW, ok = whole(v.resumeW, "W"); !ok {
			return errors.New(lang.L("the power to resume below must be a whole number of watts, not {{.Text}}", vals{"Text": strconv.Quote(v.resumeW.Text)}))
		}
	}
	set.LiteserverConfig = strings.TrimSpace(v.liteCfg.Text)
	set.TelegramEnabled, set.TelegramChatID = v.tgOn.Checked, strings.TrimSpace(v.tgChat.Text)
	return nil
}

// buildTelegram builds the card of the Telegram alerts.
func (v *settingsView) buildTelegram(ctx context.Context) fyne.CanvasObject {
	v.tgOn = widget.NewCheck(lang.L("Send the alerts to Telegram too"), func(bool) { v.edited() })
	v.tgChat = widget.NewEntry()
	v.tgChat.SetPlaceHolder(lang.L("e.g. 123456789, or -100… for a group"))
	v.tgChat.OnChanged = func(string) { v.edited() }
	v.tgToken = widget.NewPasswordEntry()
	v.tgToken.SetPlaceHolder(lang.L("the token @BotFather gave you"))
	v.tgState = wrapLabel("")
	v.tgResult = wrapLabel("")
	v.tgStore = widget.NewButton(lang.L("Store token"), func() { v.tgDone = v.setTelegramToken(ctx, v.tgToken.Text) })
	v.tgRemove = widget.NewButton(lang.L("Remove"), func() { v.tgDone = v.setTelegramToken(ctx, "") })
	v.tgTest = widget.NewButton(lang.L("Send a test message"), func() { v.tgDone = v.testTelegram(ctx) })
	v.showTelegramToken(false)
	return widget.NewCard(lang.L("Telegram alerts"),
		lang.L("the same alerts as a message from your own bot: make one with @BotFather, send it /start, then enter its token and your chat id"),
		container.NewVBox(v.tgOn, widget.NewForm(
			widget.NewFormItem(lang.L("Chat id"), v.tgChat),
			widget.NewFormItem(lang.L("Bot token"), container.NewBorder(nil, nil, nil, container.NewHBox(v.tgStore, v.tgRemove), v.tgToken))),
			v.tgState, container.NewHBox(v.tgTest), v.tgResult))
}

// showTelegramToken shows whether a token is stored.
func (v *settingsView) showTelegramToken(set bool) {
	v.tgTokenSet = set
	if set {
		v.tgState.SetText(lang.L("A token is stored (encrypted). Enter another to replace it."))
		v.tgStore.SetText(lang.L("Replace"))
		v.tgRemove.Enable()
	} else {
		v.tgState.SetText(lang.L("No token is stored."))
		v.tgStore.SetText(lang.L("Store token"))
		v.tgRemove.Disable()
	}
}

// setTelegramToken stores token ("" removes the stored one) in the
// background; the returned channel closes once the outcome is on screen.
// The entry is emptied either way: the token is never kept in the form.
func (v *settingsView) setTelegramToken(ctx context.Context, token string) <-chan struct{} {
	done := make(chan struct{})
	token = strings.TrimSpace(token)
	if token == "" && !v.tgTokenSet {
		v.showTelegramResult(widget.DangerImportance, lang.L("Enter the bot token first."))
		close(done)
		return done
	}
	v.tgToken.SetText("")
	v.tgStore.Disable()
	v.tgRemove.Disable()
	go func() {
		err := v.api.SetTelegramToken(ctx, token)
		fyne.Do(func() {
			defer close(done)
			v.tgStore.Enable()
			if err != nil {
				v.showTelegramToken(v.tgTokenSet)
				v.showTelegramResult(widget.DangerImportance, lang.L("The token was not stored: {{.Error}}", vals{"Error": err.Error()}))
				return
			}
			v.showTelegramToken(token != "")
			if token == "" {
				v.showTelegramResult(widget.SuccessImportance, lang.L("The token was removed."))
			} else {
				v.showTelegramResult(widget.SuccessImportance, lang.L("The token was stored."))
			}
		})
	}()
	return done
}

// testTelegram sends a test message with the saved settings in the
// background and shows the outcome.
func (v *settingsView) testTelegram(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	if f := v.form(); f.tgChat != v.saved.tgChat || f.tgOn != v.saved.tgOn {
		v.showTelegramResult(widget.DangerImportance, lang.L("Save the settings first: the test message goes to the saved chat id."))
		close(done)
		return done
	}
	v.tgTest.Disable()
	v.showTelegramResult(widget.LowImportance, lang.L("Sending…"))
	go func() {
		err := v.api.TestTelegram(ctx)
		fyne.Do(func() {
			defer close(done)
			v.tgTest.Enable()
			if err != nil {
				v.showTelegramResult(widget.DangerImportance, lang.L("The test message was not sent: {{.Error}}", vals{"Error": err.Error()}))
				return
			}
			v.showTelegramResult(widget.SuccessImportance, lang.L("Test message sent: check the chat."))
		})
	}()
	return done
}

func (v *settingsView) showTelegramResult(imp widget.Importance, msg string) {
	v.tgResult.Importance = imp
	v.tgResult.SetText(msg)
}

// saveLanguage stores the chosen language in the preferences and reports
// whether it changed; it applies at the next start (applyLanguage).
func (v *settingsView) saveLanguage(code string) bool {
	if v.prefs == nil || v.prefs.String(prefLanguage) == code {
		return false
	}
	v.prefs.SetString(prefLanguage, code)
	return true
}
