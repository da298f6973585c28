package widgets

import (
	"fmt"
	"math"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// series returns n points a second apart with values f(i).
func series(n int, f func(i int) float64) []Point {
	ps := make([]Point, n)
	for i := range ps {
		ps[i] = Point{T: t0.Add(time.Duration(i) * time.Second), V: f(i)}
	}
	return ps
}

// render shows c in a window of a fixed size and returns its renderer.
func render(t *testing.T, c *LineChart) *chartRenderer {
	t.Helper()
	w := test.NewTempWindow(t, c)
	w.Resize(fyne.NewSize(400, 200))
	return test.TempWidgetRenderer(t, c).(*chartRenderer)
}

// shown counts the visible line segments.
func (r *chartRenderer) shown() int {
	n := 0
	for _, l := range r.lines {
		if l.Visible() {
			n++
		}
	}
	return n
}

func TestLineChartEmpty(t *testing.T) {
	c := NewLineChart(nil, "no data yet")
	r := render(t, c)
	if r.empty.Text != "no data yet" || r.shown() != 0 || r.max.Text != "" || r.latest.Text != "" {
		t.Errorf("empty chart: text %q, %d lines, max %q, latest %q", r.empty.Text, r.shown(), r.max.Text, r.latest.Text)
	}
	// Only unknown values: still no data.
	c.SetPoints(series(5, func(int) float64 { return math.NaN() }))
	if r.empty.Text != "no data yet" || r.shown() != 0 {
		t.Errorf("all unknown: text %q, %d lines", r.empty.Text, r.shown())
	}
}

func TestLineChartPoints(t *testing.T) {
	c := NewLineChart(func(v float64) string { return fmt.Sprintf("%.0f W", v) }, "no data yet")
	r := render(t, c)
	c.SetPoints(series(50, func(i int) float64 { return float64(100 + (i*7)%40) }))
	if n := r.shown(); n != 49 {
		t.Errorf("50 points: %d segments shown, want 49", n)
	}
	if r.max.Text != "139 W" || r.min.Text != "100 W" || r.latest.Text != fmt.Sprintf("%d W", 100+(49*7)%40) || r.empty.Text != "" {
		t.Errorf("labels: max %q min %q latest %q empty %q", r.max.Text, r.min.Text, r.latest.Text, r.empty.Text)
	}
	if r.start.Text != t0.Local().Format("15:04") || r.end.Text != t0.Add(49*time.Second).Local().Format("15:04") {
		t.Errorf("time axis %q … %q", r.start.Text, r.end.Text)
	}
	// Every segment lies inside the plot, left to right in time order.
	frame := r.frame.Position()
	size := r.frame.Size()
	var prevX float32 = -1
	for _, l := range r.lines[:49] {
		for _, p := range []fyne.Position{l.Position1, l.Position2} {
			if p.X < frame.X-0.5 || p.X > frame.X+size.Width+0.5 || p.Y < frame.Y-0.5 || p.Y > frame.Y+size.Height+0.5 {
				t.Fatalf("segment end %v outside the plot %v %v", p, frame, size)
			}
		}
		if l.Position1.X < prevX {
			t.Fatalf("segments out of order at x %v", l.Position1.X)
		}
		prevX = l.Position1.X
	}

	// Fewer points later: the pool is reused and the rest hidden.
	pool := len(r.lines)
	c.SetPoints(series(10, func(i int) float64 { return float64(i) }))
	if r.shown() != 9 || len(r.lines) != pool {
		t.Errorf("10 points: %d segments shown of a pool of %d (was %d)", r.shown(), len(r.lines), pool)
	}
	// A gap: segments touching an unknown value are not drawn.
	c.SetPoints(series(10, func(i int) float64 {
		if i == 4 {
			return math.NaN()
		}
		return float64(i)
	}))
	if r.shown() != 7 || r.min.Text != "0 W" || r.max.Text != "9 W" {
		t.Errorf("gap: %d segments, min %q max %q; want 7, 0 W, 9 W", r.shown(), r.min.Text, r.max.Text)
	}
}

func TestLineChartCapsPoints(t *testing.T) {
	c := NewLineChart(nil, "no data yet")
	r := render(t, c)
	// An hour at 1 s: drawn as MaxDrawn points; the labels see them all.
	c.SetPoints(series(3600, func(i int) float64 {
		if i == 1234 {
			return 99.5 // a one-second spike
		}
		return float64(i % 10)
	}))
	if len(c.pts) != MaxDrawn || r.shown() != MaxDrawn-1 || len(r.lines) != MaxDrawn-1 {
		t.Errorf("3600 points: %d drawn, %d segments shown, pool %d; want %d", len(c.pts), r.shown(), len(r.lines), MaxDrawn)
	}
	if r.max.Text != "99.5" || r.min.Text != "0" || r.latest.Text != "9" {
		t.Errorf("labels: max %q min %q latest %q", r.max.Text, r.min.Text, r.latest.Text)
	}
}

func TestLineChartFixedRangeAndOnePoint(t *testing.T) {
	c := NewLineChart(nil, "")
	c.Lo, c.Hi = 0, 100
	r := render(t, c)
	c.SetPoints([]Point{{T: t0, V: 50}})
	if r.shown() != 1 || r.latest.Text != "50" {
		t.Fatalf("one point: %d segments, latest %q", r.shown(), r.latest.Text)
	}
	// 50 of 0..100 sits in the middle of the plot.
	mid := r.frame.Position().Y + r.frame.Size().Height/2
	if y := r.lines[0].Position1.Y; math.Abs(float64(y-mid)) > 0.5 {
		t.Errorf("50%% drawn at y %v, want %v", y, mid)
	}
}

func BenchmarkLineChartSetPoints(b *testing.B) {
	test.NewTempApp(b)
	c := NewLineChart(nil, "")
	w := test.NewTempWindow(b, c)
	w.Resize(fyne.NewSize(400, 200))
	ps := series(3600, func(i int) float64 { return float64(i % 97) })
	b.ReportAllocs()
	for b.Loop() {
		c.SetPoints(ps)
	}
}
