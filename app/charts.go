package app

import (
	"context"
	"fmt"
	"math"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"

	"github.com/cocoon-provider/cocoon-provider/app/widgets"
)

// chartsRefreshEvery is how often the charts of a shown tab are read
// again; a hidden tab reads nothing.
const chartsRefreshEvery = 3 * time.Second

// autoRefresh calls a refresh on the UI thread at once and then every
// interval while its tab is shown. Its fields are touched on the UI
// thread only.
type autoRefresh struct {
	every time.Duration
	stop  context.CancelFunc
}

// set starts (on) or stops the refreshes; refresh runs on the UI thread.
func (a *autoRefresh) set(ctx context.Context, on bool, refresh func()) {
	if !on {
		if a.stop != nil {
			a.stop()
			a.stop = nil
		}
		return
	}
	refresh()
	if a.stop != nil {
		return
	}
	auto, cancel := context.WithCancel(ctx)
	a.stop = cancel
	go func() {
		tick := time.NewTicker(a.every)
		defer tick.Stop()
		for {
			select {
			case <-auto.Done():
				return
			case <-tick.C:
				fyne.Do(func() {
					if auto.Err() == nil {
						refresh()
					}
				})
			}
		}
	}()
}

// mergeSeries appends fresh points, read from since on, to old: the old
// points from since on (a bucket that was still filling) are replaced,
// and those before cut dropped. old's array is reused.
func mergeSeries[P any](old, fresh []P, since, cut time.Time, at func(P) time.Time) []P {
	keep := len(old)
	for keep > 0 && !at(old[keep-1]).Before(since) {
		keep--
	}
	drop := 0
	for drop < keep && at(old[drop]).Before(cut) {
		drop++
	}
	out := append(old[:0], old[drop:keep]...)
	for _, p := range fresh {
		if !at(p).Before(cut) {
			out = append(out, p)
		}
	}
	return out
}

// nextSince is where the next incremental read starts: at the last point
// (its bucket may have been filling), or at the window's start.
func nextSince[P any](pts []P, windowStart, now time.Time, at func(P) time.Time) time.Time {
	if len(pts) == 0 {
		return windowStart
	}
	since := at(pts[len(pts)-1])
	if since.Before(windowStart) || !since.Before(now) {
		return windowStart
	}
	return since
}

// fillPoints writes the chart points of pts, one value each, into buf
// (reused) and shows them on c.
func fillPoints[P any](c *widgets.LineChart, buf *[]widgets.Point, pts []P, at func(P) time.Time, value func(P) float64) {
	b := (*buf)[:0]
	for _, p := range pts {
		b = append(b, widgets.Point{T: at(p), V: value(p)})
	}
	*buf = b
	c.SetPoints(b)
}

// titledChart is a chart with a caption above it.
func titledChart(title string, c *widgets.LineChart) fyne.CanvasObject {
	t := canvas.NewText(title, theme.Color(theme.ColorNameForeground))
	t.TextStyle.Bold = true
	return container.NewBorder(t, nil, nil, nil, c)
}

// newChart returns an empty line chart whose values read with format.
func newChart(format func(float64) string) *widgets.LineChart {
	return widgets.NewLineChart(format, lang.L("no data yet"))
}

// formatFixed returns a format with decimals digits and a unit.
func formatFixed(decimals int, unit string) func(float64) string {
	return func(v float64) string {
		if unit == "" {
			return fmt.Sprintf("%.*f", decimals, v)
		}
		return fmt.Sprintf("%.*f %s", decimals, v, unit)
	}
}

// formatMiB renders memory in GiB from 1 GiB up.
func formatMiB(v float64) string {
	if math.Abs(v) >= 1024 {
		return fmt.Sprintf("%.1f GiB", v/1024)
	}
	return fmt.Sprintf("%.0f MiB", v)
}
