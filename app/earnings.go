package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
)

// prefPricePerKWh is the preference holding the user's electricity price
// per kWh, in the user's currency.
const prefPricePerKWh = "electricity.price_per_kwh"

// earningsRefreshEvery is the least time between two refreshes caused by
// earnings events.
const earningsRefreshEvery = 5 * time.Second

// earningsPeriod is one choice of the period selector: n buckets of width
// bucket, the last one holding now.
type earningsPeriod struct {
	file   string // for the export's file name
	span   time.Duration
	n      int
	bucket time.Duration
}

var earningsPeriods = []earningsPeriod{
	{"24h", 24 * time.Hour, 24, time.Hour},
	{"7d", 7 * 24 * time.Hour, 7, 24 * time.Hour},
	{"30d", 30 * 24 * time.Hour, 30, 24 * time.Hour},
}

// label names the period in the selector and the texts.
func (p earningsPeriod) label() string {
	switch p.file {
	case "24h":
		return lang.L("24 h")
	case "7d":
		return lang.L("7 d")
	case "30d":
		return lang.L("30 d")
	}
	return p.file
}

// since is the start of the period's first bucket: hours start on the
// hour, days at local midnight.
func (p earningsPeriod) since(now time.Time) time.Time {
	if p.bucket < 24*time.Hour {
		return now.Truncate(p.bucket).Add(-time.Duration(p.n-1) * p.bucket)
	}
	y, m, d := now.Date()
	return time.Date(y, m, d-(p.n-1), 0, 0, 0, 0, now.Location())
}

// stageLabel names a ledger stage as the app shows it.
func stageLabel(st string) string {
	switch st {
	case store.StageEarned:
		return lang.L("earned")
	case store.StageCommitted:
		return lang.L("→ committed (proxy)")
	case store.StageClaimable:
		return lang.L("→ claimable (chain)")
	case store.StagePaid:
		return lang.L("→ paid out")
	case store.StageWallet:
		return lang.L("→ in your wallet")
	}
	return ""
}

// earningsView shows the ledger over a period: a bar chart of what was
// earned per bucket, the totals per stage, an electricity estimate and a
// CSV export. Its fields are touched on the UI thread only.
type earningsView struct {
	api     engine.API
	prefs   fyne.Preferences
	now     func() time.Time
	window  fyne.Window // parent of the save dialog; set by Run
	content fyne.CanvasObject
	card    *widget.Card
	period  *widget.RadioGroup
	chart   *fyne.Container
	bars    *barsLayout
	max     *canvas.Text
	axis    *widget.Label
	totals  *widget.Label
	price   *widget.Entry
	power   *widget.Label
	log     *widget.Label

	periodIdx int
	// visible says whether the tab is shown: it reads the ledger only then.
	visible bool
	// shown closes once the last refresh is on screen.
	shown <-chan struct{}
	gpus  gpu.Inventory
	mode  engine.Mode
	// gen numbers refreshes; a result of an older one is dropped.
	gen         int
	lastRefresh time.Time
	pending     bool // a throttled refresh is scheduled
}

func newEarningsView(ctx context.Context, api engine.API, prefs fyne.Preferences) *earningsView {
	v := &earningsView{
		api: api, prefs: prefs, now: time.Now,
		bars:   &barsLayout{},
		max:    canvas.NewText("", theme.Color(theme.ColorNameForeground)),
		axis:   widget.NewLabel(""),
		totals: widget.NewLabel(lang.L("Nothing read yet.")),
		price:  widget.NewEntry(),
		power:  wrapLabel(""),
		log:    wrapLabel(""),
	}
	v.max.TextSize = theme.CaptionTextSize()
	v.axis.Importance = widget.LowImportance
	v.totals.TextStyle = fyne.TextStyle{Monospace: true}
	v.log.Importance = widget.LowImportance
	v.chart = container.New(v.bars)
	labels := make([]string, len(earningsPeriods))
	for i, p := range earningsPeriods {
		labels[i] = p.label()
	}
	v.period = widget.NewRadioGroup(labels, func(s string) {
		for i, p := range earningsPeriods {
			if p.label() == s && i != v.periodIdx {
				v.periodIdx = i
				v.shown = v.refresh(ctx)
			}
		}
	})
	v.period.Horizontal = true
	v.period.Required = true
	v.period.SetSelected(earningsPeriods[0].label())

	if p := prefs.Float(prefPricePerKWh); p > 0 {
		v.price.SetText(currentLocale().num(p, -1))
	}
	v.price.SetPlaceHolder(lang.L("e.g. 0.30"))
	v.price.OnChanged = func(s string) {
		if p, ok := parsePrice(s); ok {
			v.prefs.SetFloat(prefPricePerKWh, p)
		}
		v.showPower()
	}
	export := widget.NewButtonWithIcon(lang.L("Export CSV…"), theme.DocumentSaveIcon(), func() { v.export(ctx) })

	v.card = widget.NewCard(lang.L("Earnings"), "", container.NewVBox(
		container.NewBorder(nil, nil, v.max, nil), v.chart, v.axis, v.totals))
	v.content = container.NewVScroll(container.NewVBox(
		v.period, v.card,
		widget.NewCard(lang.L("Electricity"), lang.L("an estimate for the GPUs alone"),
			container.NewVBox(container.NewBorder(nil, nil, widget.NewLabel(lang.L("Price per kWh")), nil, v.price), v.power)),
		container.NewHBox(export), v.log))
	return v
}

// parsePrice reads a price per kWh; a comma may stand for the decimal dot.
func parsePrice(s string) (float64, bool) {
	p, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), ",", "."), 64)
	return p, err == nil && p >= 0
}

// setVisible tells the view whether its tab is shown; showing it
// refreshes it.
func (v *earningsView) setVisible(ctx context.Context, visible bool) {
	v.visible = visible
	if visible {
		v.shown = v.refresh(ctx)
	}
}

// onEvent refreshes a shown tab after an earnings event, at most every
// earningsRefreshEvery: an event inside that time schedules one refresh
// at its end.
func (v *earningsView) onEvent(ctx context.Context) {
	if v.pending || !v.visible {
		return
	}
	wait := earningsRefreshEvery - v.now().Sub(v.lastRefresh)
	if wait <= 0 {
		v.shown = v.refresh(ctx)
		return
	}
	v.pending = true
	time.AfterFunc(wait, func() {
		if ctx.Err() != nil {
			return
		}
		fyne.Do(func() {
			v.pending = false
			if v.visible {
				v.shown = v.refresh(ctx)
			}
		})
	})
}

// refresh reads the period's series in the background; the returned
// channel closes once it is on screen (or superseded by a later refresh).
func (v *earningsView) refresh(ctx context.Context) <-chan struct{} {
	v.gen++
	gen, p, now := v.gen, earningsPeriods[v.periodIdx], v.now()
	since := p.since(now)
	v.lastRefresh = now
	done := make(chan struct{})
	go func() {
		bs, err := v.api.EarningsSeries(ctx, since, p.bucket)
		st := v.api.State()
		fyne.Do(func() {
			defer close(done)
			if gen != v.gen {
				return
			}
			v.gpus, v.mode = st.GPUs, st.Mode
			v.showPower()
			if err != nil {
				v.log.SetText(lang.L("Could not read the earnings: {{.Error}}", vals{"Error": err.Error()}))
				return
			}
			v.log.SetText("")
			v.show(p, since, bs)
		})
	}()
	return done
}

// show renders the chart and the totals of one period.
func (v *earningsView) show(p earningsPeriod, since time.Time, bs []engine.EarningsBucket) {
	earned := make([]int64, p.n)
	totals := map[string]int64{}
	for _, b := range bs {
		for st, n := range b.NanoTON {
			totals[st] += n
		}
		i := int(b.Start.Sub(since) / p.bucket)
		if i >= 0 && i < p.n {
			earned[i] += b.NanoTON[store.StageEarned]
		}
	}
	var peak int64
	for _, n := range earned {
		peak = max(peak, n)
	}
	v.bars.frac = make([]float32, p.n)
	objs := make([]fyne.CanvasObject, p.n)
	for i, n := range earned {
		if peak > 0 {
			v.bars.frac[i] = float32(float64(n) / float64(peak))
		}
		objs[i] = canvas.NewRectangle(theme.Color(theme.ColorNamePrimary))
	}
	v.chart.Objects = objs
	v.chart.Refresh()
	loc := currentLocale()
	v.max.Text = lang.L("max {{.Amount}} earned per day", vals{"Amount": loc.ton(peak)})
	if p.bucket < 24*time.Hour {
		v.max.Text = lang.L("max {{.Amount}} earned per hour", vals{"Amount": loc.ton(peak)})
	}
	v.max.Refresh()
	v.axis.SetText(lang.L("{{.Since}} … now", vals{"Since": loc.dateTime(since)}))

	var b strings.Builder
	b.WriteString(lang.L("Last {{.Period}}:", vals{"Period": p.label()}) + "\n")
	for _, st := range store.Stages() {
		fmt.Fprintf(&b, "%-22s %20s\n", stageLabel(st), loc.ton(totals[st]))
	}
	v.totals.SetText(strings.TrimRight(b.String(), "\n"))
	sub := lang.L("what reached each stage in the period")
	if v.mode == engine.ModeDev {
		sub += lang.L(" · dev mode earns nothing real")
	}
	v.card.SetSubTitle(sub)
}

// showPower renders the electricity estimate from the GPUs' power draw.
func (v *earningsView) showPower() {
	var watts float64
	found := false
	for _, g := range v.gpus.GPUs {
		if g.PowerDrawW != nil {
			watts += *g.PowerDrawW
			found = true
		}
	}
	p := earningsPeriods[v.periodIdx]
	loc := currentLocale()
	price, priceOK := parsePrice(v.price.Text)
	switch {
	case !found && v.mode == engine.ModeDev:
		v.power.SetText(lang.L("No GPU power reading (dev mode)."))
	case !found:
		v.power.SetText(lang.L("No GPU power reading."))
	case !priceOK:
		v.power.SetText(lang.L("The GPUs draw {{.Watts}} W now; enter your price per kWh (a number such as 0.30) for an estimate.",
			vals{"Watts": loc.num(watts, 0)}))
	default:
		kwh := watts / 1000 * p.span.Hours()
		v.power.SetText(lang.L("The GPUs draw {{.Watts}} W now: over {{.Period}} that is about {{.KWh}} kWh, costing about {{.Cost}} at {{.Price}} per kWh.",
			vals{"Watts": loc.num(watts, 0), "Period": p.label(), "KWh": loc.num(kwh, 1),
				"Cost": loc.num(kwh*price, 2), "Price": loc.num(price, -1)}))
	}
}

// export asks where to save the period's ledger and writes it there in
// the background.
func (v *earningsView) export(ctx context.Context) {
	if v.window == nil {
		v.log.SetText(lang.L("Export needs the app window."))
		return
	}
	p := earningsPeriods[v.periodIdx]
	since := p.since(v.now())
	d := dialog.NewFileSave(func(wc fyne.URIWriteCloser, err error) {
		if err != nil {
			v.log.SetText(lang.L("Export: {{.Error}}", vals{"Error": err.Error()}))
			return
		}
		if wc == nil {
			return // cancelled
		}
		go func() {
			err := v.api.ExportLedgerCSV(ctx, wc, since)
			if cerr := wc.Close(); err == nil {
				err = cerr
			}
			msg := lang.L("Exported the ledger since {{.Since}} to {{.Path}}", vals{"Since": currentLocale().dateTime(since), "Path": wc.URI().Path()})
			if err != nil {
				msg = lang.L("Export failed: {{.Error}} (try another folder)", vals{"Error": err.Error()})
			}
			fyne.Do(func() { v.log.SetText(msg) })
		}()
	}, v.window)
	d.SetFileName("cocoon-earnings-" + p.file + "-" + v.now().Format("2006-01-02") + ".csv")
	d.Show()
}

// barsLayout places bars side by side from the bottom, each as high as
// its fraction of the full height.
type barsLayout struct{ frac []float32 }

func (l *barsLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	if len(objs) == 0 {
		return
	}
	slot := size.Width / float32(len(objs))
	gap := slot * 0.2
	for i, o := range objs {
		var f float32
		if i < len(l.frac) {
			f = l.frac[i]
		}
		h := size.Height * f
		if f > 0 && h < 1 {
			h = 1 // something earned stays visible
		}
		o.Resize(fyne.NewSize(slot-gap, h))
		o.Move(fyne.NewPos(float32(i)*slot+gap/2, size.Height-h))
	}
}

func (l *barsLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSize(240, 140) }
