package app

import (
	"context"
	"errors"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/app/widgets"
	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
)

// gpuView lists GPUs with live telemetry, one card per GPU, with charts
// of the telemetry over the last hour or day. Its fields are touched on
// the UI thread only.
type gpuView struct {
	content fyne.CanvasObject
	status  *widget.Label
	cards   *fyne.Container
	// shown remembers each card's value labels so refreshes update text in place.
	shown map[string][]*widget.Label

	// The charts; api is nil in a view without them.
	ctx       context.Context
	api       engine.API
	now       func() time.Time
	period    *widget.RadioGroup
	chartsLog *widget.Label
	spanIdx   int
	charts    map[string]*gpuCharts // by GPU key, NVML GPUs only
	auto      autoRefresh
	visible   bool
	inFlight  bool
	gen       int // numbers refreshes; a period change drops older ones
	// refreshed closes once the last refresh is on screen (tests).
	refreshed <-chan struct{}
}

// gpuSpan is a choice of the charts' period: the window and the width of
// a point (the engine's 1 s raw samples, or its rollups in 2-minute
// points).
type gpuSpan struct {
	span, res  time.Duration
	timeFormat string
}

var gpuSpans = []gpuSpan{{time.Hour, time.Second, "15:04"}, {24 * time.Hour, 2 * time.Minute, "Mon 15:04"}}

// gpuCharts are one GPU's four charts and the points they show.
type gpuCharts struct {
	box    fyne.CanvasObject
	charts [4]*widgets.LineChart // utilisation, memory, temperature, power
	pts    []engine.GPUPoint
	buf    []widgets.Point
}

// gpuMetrics read the four charted values of a point, in gpuCharts order.
var gpuMetrics = [4]func(engine.GPUPoint) float64{
	func(p engine.GPUPoint) float64 { return p.UtilPct },
	func(p engine.GPUPoint) float64 { return p.MemUsedMiB },
	func(p engine.GPUPoint) float64 { return p.TempC },
	func(p engine.GPUPoint) float64 { return p.PowerW },
}

func gpuPointTime(p engine.GPUPoint) time.Time { return p.Time }

func newGPUView() *gpuView {
	v := &gpuView{status: wrapLabel(lang.L("Looking for GPUs…")), cards: container.NewVBox(), shown: map[string][]*widget.Label{}}
	v.content = container.NewBorder(v.status, nil, nil, nil, container.NewVScroll(container.NewPadded(v.cards)))
	return v
}

// withCharts adds the telemetry charts, read from api while the tab is
// shown.
func (v *gpuView) withCharts(ctx context.Context, api engine.API) *gpuView {
	v.ctx, v.api, v.now = ctx, api, time.Now
	v.charts = map[string]*gpuCharts{}
	v.auto.every = chartsRefreshEvery
	v.chartsLog = wrapLabel("")
	v.chartsLog.Importance = widget.LowImportance
	v.period = widget.NewRadioGroup([]string{lang.L("Last hour"), lang.L("Last day")}, func(s string) {
		for i, o := range v.period.Options {
			if o == s && i != v.spanIdx {
				v.spanIdx = i
				for _, c := range v.charts {
					c.pts = c.pts[:0]
					for _, ch := range c.charts {
						ch.TimeFormat = gpuSpans[i].timeFormat
					}
				}
				v.gen++ // the answer in flight is for the other period
				v.inFlight = false
				if v.visible {
					v.refreshed = v.refresh()
				}
			}
		}
	})
	v.period.Horizontal = true
	v.period.Required = true
	v.period.SetSelected(lang.L("Last hour"))
	v.content = container.NewBorder(container.NewVBox(v.status, v.period, v.chartsLog), nil, nil, nil,
		container.NewVScroll(container.NewPadded(v.cards)))
	return v
}

// newGPUCharts builds one GPU's charts.
func newGPUCharts(timeFormat string) *gpuCharts {
	c := &gpuCharts{}
	c.charts = [4]*widgets.LineChart{newChart(formatFixed(0, "%")), newChart(formatMiB), newChart(formatFixed(0, "°C")), newChart(formatFixed(0, "W"))}
	c.charts[0].Lo, c.charts[0].Hi = 0, 100
	titles := [4]string{lang.L("Utilisation %"), lang.L("Memory used"), lang.L("Temperature °C"), lang.L("Power W")}
	grid := container.NewGridWithColumns(2)
	for i, ch := range c.charts {
		ch.TimeFormat = timeFormat
		grid.Add(titledChart(titles[i], ch))
	}
	c.box = grid
	return c
}

// setVisible tells the view whether its tab is shown: the charts are
// read at once and then every chartsRefreshEvery until it is hidden.
func (v *gpuView) setVisible(visible bool) {
	if v.api == nil {
		return
	}
	v.visible = visible
	v.auto.set(v.ctx, visible, func() { v.refreshed = v.refresh() })
}

// refresh reads the new points of every GPU's series in the background
// (from the last point on, so that a refresh sends little) and shows
// them; the returned channel closes once they are on screen. A refresh
// still in flight is not asked again.
func (v *gpuView) refresh() <-chan struct{} {
	done := make(chan struct{})
	if v.inFlight || len(v.charts) == 0 {
		close(done)
		return done
	}
	v.inFlight = true
	v.gen++
	gen, sp, now := v.gen, gpuSpans[v.spanIdx], v.now()
	start := now.Add(-sp.span)
	type read struct {
		key   string
		since time.Time
		pts   []engine.GPUPoint
		err   error
	}
	reads := make([]read, 0, len(v.charts))
	for key, c := range v.charts {
		reads = append(reads, read{key: key, since: nextSince(c.pts, start, now, gpuPointTime)})
	}
	go func() {
		for i := range reads {
			r := &reads[i]
			r.pts, r.err = v.api.GPUSeries(v.ctx, engine.GPUSeriesQuery{GPUKey: r.key, Since: r.since, Resolution: sp.res})
			if errors.Is(r.err, engine.ErrUnknownGPU) {
				r.err = nil // not recorded yet: no data
			}
		}
		fyne.Do(func() {
			defer close(done)
			if gen != v.gen {
				return
			}
			v.inFlight = false
			var failed error
			for _, r := range reads {
				c := v.charts[r.key]
				if c == nil {
					continue
				}
				if r.err != nil {
					failed = r.err
					continue
				}
				c.pts = mergeSeries(c.pts, r.pts, r.since, start, gpuPointTime)
				for i, ch := range c.charts {
					fillPoints(ch, &c.buf, c.pts, gpuPointTime, gpuMetrics[i])
				}
			}
			if failed != nil {
				v.chartsLog.SetText(lang.L("Could not read the GPU charts: {{.Error}}", vals{"Error": failed.Error()}))
			} else {
				v.chartsLog.SetText("")
			}
		})
	}()
	return done
}

// show renders an inventory, rebuilding cards only when the set of GPUs changes.
func (v *gpuView) show(inv gpu.Inventory) {
	v.status.SetText(inventorySummary(inv))
	same := len(inv.GPUs) == len(v.shown)
	for _, g := range inv.GPUs {
		if labels, ok := v.shown[g.Key()]; !ok || len(labels) != len(g.Describe()) {
			same = false
		}
	}
	if same {
		for _, g := range inv.GPUs {
			labels := v.shown[g.Key()]
			for i, r := range g.Describe() {
				labels[i].SetText(r.Value)
			}
		}
		return
	}
	v.shown = map[string][]*widget.Label{}
	cards := make([]fyne.CanvasObject, 0, len(inv.GPUs))
	charts := map[string]*gpuCharts{}
	for _, g := range inv.GPUs {
		form := container.New(layout.NewFormLayout())
		var labels []*widget.Label
		for _, r := range g.Describe() {
			val := wrapLabel(r.Value)
			labels = append(labels, val)
			form.Add(widget.NewLabelWithStyle(r.Label, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true}))
			form.Add(val)
		}
		v.shown[g.Key()] = labels
		var body fyne.CanvasObject = form
		if v.api != nil && g.Source == gpu.SourceNVML {
			c := v.charts[g.Key()]
			if c == nil {
				c = newGPUCharts(gpuSpans[v.spanIdx].timeFormat)
			}
			charts[g.Key()] = c
			body = container.NewVBox(form, c.box)
		}
		cards = append(cards, widget.NewCard(g.DisplayName(), lang.L("{{.Bus}} · found through {{.Source}}", vals{"Bus": g.BusID, "Source": g.Source}), body))
	}
	if v.api != nil {
		v.charts = charts
		if v.visible {
			v.refreshed = v.refresh()
		}
	}
	v.cards.Objects = cards
	v.cards.Refresh()
}

func inventorySummary(inv gpu.Inventory) string {
	nvmlText := lang.L("NVIDIA driver library loaded")
	if !inv.NVML.Loaded {
		nvmlText = lang.L("NVIDIA driver library not available ({{.Reason}}): GPUs are read from the PCI bus, without telemetry", vals{"Reason": inv.NVML.Reason})
	} else if inv.NVML.DriverVersion != "" {
		nvmlText = lang.L("NVIDIA driver {{.Driver}}, CUDA {{.CUDA}}", vals{"Driver": inv.NVML.DriverVersion, "CUDA": gpu.FormatText(inv.NVML.CUDAVersion)})
	}
	switch len(inv.GPUs) {
	case 0:
		return lang.L("No GPU found. Dev mode needs none; earning needs an NVIDIA H100 or newer. {{.Driver}}.", vals{"Driver": nvmlText})
	case 1:
		return lang.L("1 GPU. {{.Driver}}.", vals{"Driver": nvmlText})
	}
	return lang.L("{{.Count}} GPUs. {{.Driver}}.", vals{"Count": len(inv.GPUs), "Driver": nvmlText})
}
