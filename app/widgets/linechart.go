// Package widgets holds the app's own Fyne widgets. It imports only Fyne:
// callers pass the texts in, already translated.
package widgets

import (
	"math"
	"strconv"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// MaxDrawn is the most points a LineChart draws; a longer series is
// averaged down to it (its labels still come from every point).
const MaxDrawn = 600

// Point is one value of a series at a time; a NaN value is unknown and
// leaves a gap in the line.
type Point struct {
	T time.Time
	V float64
}

// LineChart draws a time series as a line, with the largest and smallest
// value beside it, the latest value above it and the first and last
// times below it. SetPoints replaces the series; redrawing reuses the
// canvas objects.
type LineChart struct {
	widget.BaseWidget
	// Format renders values for the labels; nil uses up to one decimal.
	Format func(float64) string
	// TimeFormat renders the times below the line; "" is "15:04".
	TimeFormat string
	// Empty is shown when the series has no known value.
	Empty string
	// Lo and Hi fix the value range when Hi > Lo (0 to 100 for a
	// percentage); otherwise the range fits the values.
	Lo, Hi float64

	pts              []Point // what is drawn: at most MaxDrawn, oldest first
	n                int     // points in the series set
	lo, hi, last     float64 // over every known value of the series
	known            bool    // some value is known
	first, lastTime  time.Time
	drawnLo, drawnHi float64 // the plot's value range
}

// NewLineChart returns an empty chart showing empty until it has points.
func NewLineChart(format func(float64) string, empty string) *LineChart {
	c := &LineChart{Format: format, Empty: empty}
	c.ExtendBaseWidget(c)
	return c
}

// SetPoints replaces the series, oldest first, and redraws. ps is not
// kept.
func (c *LineChart) SetPoints(ps []Point) {
	c.known, c.n = false, len(ps)
	c.lo, c.hi, c.last = math.Inf(1), math.Inf(-1), math.NaN()
	for _, p := range ps {
		if math.IsNaN(p.V) || math.IsInf(p.V, 0) {
			continue
		}
		c.known = true
		c.lo, c.hi, c.last = min(c.lo, p.V), max(c.hi, p.V), p.V
	}
	c.pts = c.pts[:0]
	if len(ps) > 0 {
		c.first, c.lastTime = ps[0].T, ps[len(ps)-1].T
	}
	if len(ps) <= MaxDrawn {
		c.pts = append(c.pts, ps...)
	} else {
		// Average consecutive runs of points down to MaxDrawn.
		for i := range MaxDrawn {
			from, to := i*len(ps)/MaxDrawn, (i+1)*len(ps)/MaxDrawn
			sum, n := 0.0, 0
			for _, p := range ps[from:to] {
				if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
					sum += p.V
					n++
				}
			}
			v := math.NaN()
			if n > 0 {
				v = sum / float64(n)
			}
			c.pts = append(c.pts, Point{T: ps[from].T, V: v})
		}
	}
	c.drawnLo, c.drawnHi = c.lo, c.hi
	if c.Hi > c.Lo {
		c.drawnLo, c.drawnHi = min(c.Lo, c.lo), max(c.Hi, c.hi)
	}
	if c.drawnHi <= c.drawnLo { // a flat line sits in the middle
		c.drawnLo, c.drawnHi = c.drawnLo-1, c.drawnHi+1
	}
	c.Refresh()
}

func (c *LineChart) format(v float64) string {
	if c.Format != nil {
		return c.Format(v)
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// CreateRenderer implements fyne.Widget.
func (c *LineChart) CreateRenderer() fyne.WidgetRenderer {
	text := func(bold bool, align fyne.TextAlign) *canvas.Text {
		t := canvas.NewText("", nil)
		t.TextStyle.Bold = bold
		t.Alignment = align
		return t
	}
	r := &chartRenderer{c: c, frame: canvas.NewRectangle(nil),
		max: text(false, fyne.TextAlignLeading), min: text(false, fyne.TextAlignLeading),
		latest: text(true, fyne.TextAlignTrailing),
		start:  text(false, fyne.TextAlignLeading), end: text(false, fyne.TextAlignTrailing),
		empty: text(false, fyne.TextAlignCenter)}
	r.rebuild()
	r.Refresh()
	return r
}

// chartRenderer draws a LineChart. Its lines are a pool that grows to the
// most points drawn so far (never past MaxDrawn) and is reused.
type chartRenderer struct {
	c                            *LineChart
	frame                        *canvas.Rectangle
	max, min, latest, start, end *canvas.Text
	empty                        *canvas.Text
	lines                        []*canvas.Line
	objects                      []fyne.CanvasObject
}

// rebuild lists the objects after the pool grew.
func (r *chartRenderer) rebuild() {
	r.objects = append(r.objects[:0], r.frame)
	for _, l := range r.lines {
		r.objects = append(r.objects, l)
	}
	r.objects = append(r.objects, r.max, r.min, r.latest, r.start, r.end, r.empty)
}

func (r *chartRenderer) Objects() []fyne.CanvasObject { return r.objects }

func (r *chartRenderer) Destroy() {}

// MinSize is room for two rows of labels and a small plot.
func (r *chartRenderer) MinSize() fyne.Size {
	h := r.latest.MinSize().Height
	return fyne.NewSize(160, 3*h+48)
}

// Refresh updates the texts and grows the pool when needed, then places
// everything.
func (r *chartRenderer) Refresh() {
	c := r.c
	th, v := c.Theme(), fyne.CurrentApp().Settings().ThemeVariant()
	if need := max(len(c.pts)-1, 1); need > len(r.lines) {
		for len(r.lines) < need {
			l := canvas.NewLine(nil)
			l.StrokeWidth = 1.5
			r.lines = append(r.lines, l)
		}
		r.rebuild()
	}
	// The theme may have changed since the last refresh.
	line, dim := th.Color(theme.ColorNamePrimary, v), th.Color(theme.ColorNamePlaceHolder, v)
	for _, l := range r.lines {
		l.StrokeColor = line
	}
	small := th.Size(theme.SizeNameCaptionText)
	for _, t := range []*canvas.Text{r.max, r.min, r.latest, r.start, r.end} {
		t.Color, t.TextSize = dim, small
	}
	r.latest.Color = th.Color(theme.ColorNameForeground, v)
	r.empty.Color, r.empty.TextSize = dim, th.Size(theme.SizeNameText)
	r.frame.FillColor = th.Color(theme.ColorNameInputBackground, v)
	r.frame.CornerRadius = th.Size(theme.SizeNameInputRadius)
	if c.known {
		r.max.Text, r.min.Text = c.format(c.hi), c.format(c.lo)
		r.latest.Text = c.format(c.last)
		tf := c.TimeFormat
		if tf == "" {
			tf = "15:04"
		}
		r.start.Text, r.end.Text = c.first.Local().Format(tf), c.lastTime.Local().Format(tf)
		r.empty.Text = ""
	} else {
		r.max.Text, r.min.Text, r.latest.Text, r.start.Text, r.end.Text = "", "", "", "", ""
		r.empty.Text = c.Empty
	}
	r.Layout(c.Size())
	for _, t := range []*canvas.Text{r.max, r.min, r.latest, r.start, r.end, r.empty} {
		t.Refresh()
	}
	r.frame.Refresh()
}

// Layout places the labels and moves the pooled lines onto the points:
// the latest value top right, the range left of the plot, the times
// below it.
func (r *chartRenderer) Layout(size fyne.Size) {
	c := r.c
	pad := float32(4)
	rowH := r.latest.MinSize().Height
	labelW := max(r.max.MinSize().Width, r.min.MinSize().Width)
	plot := fyne.NewPos(labelW+2*pad, rowH)
	plotSize := fyne.NewSize(max(size.Width-plot.X, 1), max(size.Height-2*rowH, 1))

	r.latest.Move(fyne.NewPos(size.Width-r.latest.MinSize().Width, 0))
	r.latest.Resize(r.latest.MinSize())
	r.max.Move(fyne.NewPos(pad, plot.Y))
	r.max.Resize(r.max.MinSize())
	r.min.Move(fyne.NewPos(pad, plot.Y+plotSize.Height-rowH))
	r.min.Resize(r.min.MinSize())
	r.start.Move(fyne.NewPos(plot.X, plot.Y+plotSize.Height))
	r.start.Resize(r.start.MinSize())
	r.end.Move(fyne.NewPos(size.Width-r.end.MinSize().Width, plot.Y+plotSize.Height))
	r.end.Resize(r.end.MinSize())
	r.frame.Move(plot)
	r.frame.Resize(plotSize)
	r.empty.Move(plot)
	r.empty.Resize(plotSize)

	used := 0
	if c.known {
		span := float32(c.lastTime.Sub(c.first))
		x := func(t time.Time) float32 {
			if span <= 0 {
				return plot.X + plotSize.Width/2
			}
			return plot.X + plotSize.Width*float32(t.Sub(c.first))/span
		}
		y := func(v float64) float32 {
			return plot.Y + plotSize.Height*float32(1-(v-c.drawnLo)/(c.drawnHi-c.drawnLo))
		}
		known := func(p Point) bool { return !math.IsNaN(p.V) && !math.IsInf(p.V, 0) }
		if len(c.pts) == 1 { // one point: a short dash
			px, py := x(c.pts[0].T), y(c.pts[0].V)
			r.lines[0].Position1, r.lines[0].Position2 = fyne.NewPos(px-2, py), fyne.NewPos(px+2, py)
			r.lines[0].Show()
			used = 1
		}
		for i := 1; i < len(c.pts); i++ {
			a, b := c.pts[i-1], c.pts[i]
			if !known(a) || !known(b) {
				continue
			}
			l := r.lines[used]
			l.Position1, l.Position2 = fyne.NewPos(x(a.T), y(a.V)), fyne.NewPos(x(b.T), y(b.V))
			l.Show()
			used++
		}
	}
	for _, l := range r.lines[used:] {
		l.Hide()
	}
}

// Summary describes the series set last: how many points it had (drawn
// or not), and the smallest, largest and latest known values (ok false
// when none is known).
func (c *LineChart) Summary() (n int, lo, hi, last float64, ok bool) {
	return c.n, c.lo, c.hi, c.last, c.known
}
