package app

import (
	"context"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/app/widgets"
	"github.com/cocoon-provider/cocoon-provider/engine"
)

// The activity charts show the last hour in 10-second points: a worker is
// polled every few seconds, so finer points would be mostly empty.
const (
	activityWindow = time.Hour
	activityBucket = 10 * time.Second
)

// activityCharts chart one worker instance's requests/s, tokens/s,
// success rate and concurrency over the last hour, read while the Worker
// tab is shown. Its fields are touched on the UI thread only.
type activityCharts struct {
	ctx      context.Context
	api      engine.API
	now      func() time.Time
	content  fyne.CanvasObject
	charts   [4]*widgets.LineChart
	log      *widget.Label
	instance int
	has      bool // an instance is known
	pts      []engine.ActivityPoint
	buf      []widgets.Point
	auto     autoRefresh
	visible  bool
	inFlight bool
	gen      int
	// refreshed closes once the last refresh is on screen (tests).
	refreshed <-chan struct{}
}

// activityMetrics read the four charted values of a point, in charts order.
var activityMetrics = [4]func(engine.ActivityPoint) float64{
	func(p engine.ActivityPoint) float64 { return p.RequestsPerS },
	func(p engine.ActivityPoint) float64 { return p.TokensPerS },
	func(p engine.ActivityPoint) float64 { return 100 * p.SuccessRate },
	func(p engine.ActivityPoint) float64 { return p.Concurrency },
}

func activityPointTime(p engine.ActivityPoint) time.Time { return p.Time }

func newActivityCharts(ctx context.Context, api engine.API) *activityCharts {
	a := &activityCharts{ctx: ctx, api: api, now: time.Now, log: wrapLabel(""), auto: autoRefresh{every: chartsRefreshEvery}}
	a.log.Importance = widget.LowImportance
	a.charts = [4]*widgets.LineChart{newChart(formatFixed(2, "")), newChart(formatFixed(0, "")), newChart(formatFixed(1, "%")), newChart(formatFixed(2, ""))}
	a.charts[2].Lo, a.charts[2].Hi = 0, 100
	titles := [4]string{lang.L("Requests/s"), lang.L("Tokens/s"), lang.L("Success rate %"), lang.L("Concurrency")}
	grid := container.NewGridWithColumns(2)
	for i, c := range a.charts {
		grid.Add(titledChart(titles[i], c))
	}
	a.content = container.NewVBox(grid, a.log)
	return a
}

// setInstance chooses the instance charted; another one starts afresh.
func (a *activityCharts) setInstance(n int) {
	if a.has && a.instance == n {
		return
	}
	a.has, a.instance = true, n
	a.pts = a.pts[:0]
	a.gen++ // an answer in flight is for the other instance
	a.inFlight = false
	if a.visible {
		a.refreshed = a.refresh()
	}
}

// setVisible tells the charts whether their tab is shown: they are read
// at once and then every chartsRefreshEvery until it is hidden.
func (a *activityCharts) setVisible(visible bool) {
	a.visible = visible
	a.auto.set(a.ctx, visible, func() { a.refreshed = a.refresh() })
}

// refresh reads the instance's new points in the background and shows
// them; the returned channel closes once they are on screen.
func (a *activityCharts) refresh() <-chan struct{} {
	done := make(chan struct{})
	if a.inFlight || !a.has {
		close(done)
		return done
	}
	a.inFlight = true
	a.gen++
	gen, instance, now := a.gen, a.instance, a.now()
	start := now.Add(-activityWindow)
	since := nextSince(a.pts, start, now, activityPointTime)
	go func() {
		pts, err := a.api.ActivitySeries(a.ctx, instance, since, activityBucket)
		fyne.Do(func() {
			defer close(done)
			if gen != a.gen {
				return
			}
			a.inFlight = false
			if err != nil {
				a.log.SetText(lang.L("Could not read the activity charts: {{.Error}}", vals{"Error": err.Error()}))
				return
			}
			a.log.SetText("")
			a.pts = mergeSeries(a.pts, pts, since, start, activityPointTime)
			for i, c := range a.charts {
				fillPoints(c, &a.buf, a.pts, activityPointTime, activityMetrics[i])
			}
		})
	}()
	return done
}
