package app

import (
	"context"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/lang"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// trayText is what the tray menu shows for one engine state.
type trayText struct {
	Status, Today, Week, Claimable string
	// Payout is the payout item's label: the amount and the most it costs.
	Payout string
	// Float warns that the worker's wallet float is low; "" hides the item.
	Float                       string
	CanPause, CanResume, CanPay bool
}

// payoutFeeBound is what a worker-initiated payout attaches from the
// worker's cocoon wallet for the chain's fees (0.5 TON, interface notes
// §8.4); the contracts send back all but the fees actually spent (about
// 0.006 TON), so it is the most a payout costs.
const payoutFeeBound = 500_000_000

// trayLines formats the tray menu's lines for st at now.
func trayLines(st engine.State, now time.Time) trayText {
	var t trayText
	var today, week, claimable int64
	if e := st.Earnings; e != nil {
		today, week, claimable = e.Today[store.StageEarned], e.Week[store.StageEarned], e.ClaimableNow
	}
	loc := currentLocale()
	t.Today = lang.L("Earned today: {{.Amount}}", vals{"Amount": loc.ton(today)})
	t.Week = lang.L("This week: {{.Amount}}", vals{"Amount": loc.ton(week)})
	t.Claimable = lang.L("Claimable: {{.Amount}}", vals{"Amount": loc.ton(claimable)})
	t.Payout = lang.L("Payout now")
	if claimable > 0 {
		t.Payout = lang.L("Payout now: {{.Amount}} (fee at most {{.Fee}}, from the worker's wallet)",
			vals{"Amount": loc.ton(claimable), "Fee": loc.ton(payoutFeeBound)})
	}
	t.CanPay = claimable > 0

	in := st.Dev
	if in == nil && len(st.Attached) > 0 {
		in = &st.Attached[0]
	}
	switch p := st.Pause; {
	case p != nil && p.Indefinite():
		t.Status = lang.L("Paused until you resume")
	case p != nil:
		until := loc.clock(p.Until.Local(), false)
		if y, m, d := p.Until.Local().Date(); y != now.Local().Year() || m != now.Local().Month() || d != now.Local().Day() {
			until = loc.dayTime(p.Until.Local())
		}
		t.Status = lang.L("Paused until {{.Time}}", vals{"Time": until})
	default:
		t.Status = lang.L("{{.Mode}}: {{.State}}", vals{"Mode": modeText(st.Mode), "State": instanceText(in)})
	}
	t.CanResume = st.Pause != nil
	t.CanPause = st.Pause == nil

	if in != nil && in.Stats != nil {
		s := in.Stats.Status
		if h := s.WalletHealth(); h == worker.WalletLow || h == worker.WalletTooLow {
			t.Float = lang.L("⚠ Worker wallet float low: {{.Amount}} (top up to 5 TON or more)", vals{"Amount": loc.ton(s.WalletBalance)})
		}
	}
	return t
}

func modeText(m engine.Mode) string {
	switch m {
	case engine.ModeProduction:
		return lang.L("Production")
	case engine.ModeTest:
		return lang.L("Test mode")
	}
	return lang.L("Dev mode")
}

func instanceText(in *engine.Instance) string {
	if in == nil || in.State == "" {
		return string(vm.StateStopped)
	}
	s := string(in.State)
	if (in.State == vm.StateRunning || in.State == vm.StateDegraded) && in.Stats != nil {
		s += lang.L(" · {{.Rate}} req/s", vals{"Rate": currentLocale().num(in.Stats.Counters.Queries.Rate(worker.Window10s), 1)})
	}
	return s
}

// trayMenu is the tray menu; its items are updated in place.
type trayMenu struct {
	menu                                  *fyne.Menu
	status, today, week, claimable, float *fyne.MenuItem
	pauses                                []*fyne.MenuItem
	resume, payout, open, quit            *fyne.MenuItem
	// autostart toggles "Start with the session"; nil when not offered.
	autostart *fyne.MenuItem
	shown     trayText
	// paying disables Payout now while a payout runs.
	paying bool
	// icon sets the tray icon from the state; nil without a tray.
	icon *trayIconSetter
}

// showIcon makes follow keep the tray icon in step with the state, from
// icons (trayIcons) through set.
func (t *trayMenu) showIcon(icons map[trayState]fyne.Resource, set func(fyne.Resource)) {
	t.icon = &trayIconSetter{icons: icons, set: set}
}

// newTrayMenu builds the menu; report shows the result of an action.
func newTrayMenu(ctx context.Context, api engine.API, open, quit func(), report func(string)) *trayMenu {
	t := &trayMenu{}
	info := func() *fyne.MenuItem { return &fyne.MenuItem{Disabled: true} }
	t.status, t.today, t.week, t.claimable, t.float = info(), info(), info(), info(), info()
	setPause := func(p *engine.Pause) {
		go func() {
			if err := api.SetPause(ctx, p); err != nil {
				report(lang.L("Pause: {{.Error}}", vals{"Error": err.Error()}))
			}
		}()
	}
	for _, o := range []struct {
		label string
		until func(time.Time) engine.Pause
	}{
		{lang.L("Pause 30 min"), func(now time.Time) engine.Pause { return engine.Pause{Until: now.Add(30 * time.Minute)} }},
		{lang.L("Pause 1 hour"), func(now time.Time) engine.Pause { return engine.Pause{Until: now.Add(time.Hour)} }},
		{lang.L("Pause until tomorrow"), engine.PauseUntilTomorrow},
	} {
		t.pauses = append(t.pauses, fyne.NewMenuItem(o.label, func() { p := o.until(time.Now()); setPause(&p) }))
	}
	t.resume = fyne.NewMenuItem(lang.L("Resume"), func() { setPause(nil) })
	t.payout = fyne.NewMenuItem(lang.L("Payout now"), func() {
		t.paying = true
		t.apply(t.shown, true)
		go func() {
			res, err := api.Payout(ctx)
			report(payoutText(res, err))
			fyne.Do(func() { t.paying = false; t.apply(t.shown, true) })
		}()
	})
	t.open = fyne.NewMenuItem(lang.L("Open dashboard"), open)
	t.quit = fyne.NewMenuItem(lang.L("Quit"), quit)
	t.quit.IsQuit = true
	t.menu = fyne.NewMenu("Cocoon Provider")
	t.apply(trayLines(api.State(), time.Now()), false)
	return t
}

// Autostart starts the app with the desktop session.
type Autostart interface {
	Enabled() bool
	Set(on bool) error
}

// offerAutostart adds "Start with the session" (checked when on).
func (t *trayMenu) offerAutostart(a Autostart, report func(string)) {
	t.autostart = fyne.NewMenuItem(lang.L("Start with the session"), nil)
	t.autostart.Checked = a.Enabled()
	t.autostart.Action = func() {
		on := !a.Enabled()
		if err := a.Set(on); err != nil {
			report(err.Error())
		}
		t.autostart.Checked = a.Enabled()
		t.apply(t.shown, false)
		t.menu.Refresh()
	}
	t.menu.Items = nil // rebuilt with the item by apply
	t.apply(t.shown, false)
}

// apply puts text into the items; refresh says whether to push the menu
// to the tray (only done when something changed).
func (t *trayMenu) apply(text trayText, refresh bool) {
	changed := text != t.shown || len(t.menu.Items) == 0
	t.shown = text
	t.status.Label = text.Status
	t.today.Label, t.week.Label, t.claimable.Label = text.Today, text.Week, text.Claimable
	t.payout.Label = text.Payout
	t.float.Label = text.Float
	for _, p := range t.pauses {
		p.Disabled = !text.CanPause
	}
	t.resume.Disabled = !text.CanResume
	payDisabled := !text.CanPay || t.paying
	if t.payout.Disabled != payDisabled {
		t.payout.Disabled, changed = payDisabled, true
	}
	if !changed {
		return
	}
	items := []*fyne.MenuItem{t.status, fyne.NewMenuItemSeparator(), t.today, t.week, t.claimable}
	if text.Float != "" {
		items = append(items, t.float)
	}
	items = append(items, fyne.NewMenuItemSeparator())
	items = append(items, t.pauses...)
	items = append(items, t.resume, t.payout, fyne.NewMenuItemSeparator(), t.open)
	if t.autostart != nil {
		items = append(items, t.autostart)
	}
	items = append(items, fyne.NewMenuItemSeparator(), t.quit)
	t.menu.Items = items
	if refresh {
		t.menu.Refresh()
	}
}

// follow updates the menu, and the icon when showIcon was called, on
// engine events, at most once a second.
func (t *trayMenu) follow(ctx context.Context, api engine.API) {
	events := api.Subscribe(ctx)
	var fire <-chan time.Time
	var last time.Time
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
			if fire == nil {
				fire = time.After(max(0, time.Second-time.Since(last)))
			}
		case <-fire:
			fire, last = nil, time.Now()
			st := api.State()
			text, icon := trayLines(st, last), trayStateOf(st)
			fyne.Do(func() { t.apply(text, true); t.icon.show(icon) })
		}
	}
}
