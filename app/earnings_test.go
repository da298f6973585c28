package app

import (
	"context"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
)

// bars collects the chart's bars under o.
func bars(o fyne.CanvasObject) []*canvas.Rectangle {
	var out []*canvas.Rectangle
	var walk func(fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		switch w := o.(type) {
		case *canvas.Rectangle:
			out = append(out, w)
		case *widget.Card:
			if w.Content != nil {
				walk(w.Content)
			}
		case *fyne.Container:
			for _, c := range w.Objects {
				walk(c)
			}
		case *container.Scroll:
			walk(w.Content)
		}
	}
	walk(o)
	return out
}

func waitShown(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the earnings were never shown")
	}
}

func TestEarningsViewShowsTotalsAndBars(t *testing.T) {
	a := test.NewTempApp(t)
	now := time.Date(2026, 11, 23, 14, 30, 0, 0, time.Local)
	hour := now.Truncate(time.Hour)
	watts := 350.0
	api := enginetest.New(engine.State{Mode: engine.ModeDev, GPUs: gpu.Inventory{GPUs: []gpu.GPU{{PowerDrawW: &watts}}}},
		hostcheck.Report{}, gpu.Inventory{})
	stages := func(earned, paid int64) map[string]int64 {
		return map[string]int64{store.StageEarned: earned, store.StagePaid: paid}
	}
	api.SetEarningsSeries([]engine.EarningsBucket{
		{Start: hour.Add(-48 * time.Hour), NanoTON: stages(1_000_000_000, 0)}, // in 7 d, not in 24 h
		{Start: hour.Add(-2 * time.Hour), NanoTON: stages(500_000_000, 0)},
		{Start: hour, NanoTON: stages(1_500_000_000, 250_000_000)},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := newEarningsView(ctx, api, a.Preferences())
	v.now = func() time.Time { return now }
	v.price.SetText("0.5")
	v.setVisible(ctx, true)
	waitShown(t, v.shown)

	got := texts(v.content)
	for _, want := range []string{"Last 24 h", "2 TON", "0.25 TON", "dev mode earns nothing real",
		"350 W", "about 8.4 kWh, costing about 4.20"} {
		if !contains(got, want) {
			t.Errorf("24 h view lacks %q in %q", want, got)
		}
	}
	if n := len(bars(v.content)); n != 24 {
		t.Errorf("24 h chart has %d bars, want 24", n)
	}
	if f := v.bars.frac; f[23] != 1 || f[21] != float32(1)/3 || f[0] != 0 {
		t.Errorf("24 h bar heights %v", f)
	}
	if a.Preferences().Float(prefPricePerKWh) != 0.5 {
		t.Error("the price per kWh was not saved")
	}

	for _, c := range []struct {
		period string
		bars   int
		earned string
	}{{"7 d", 7, "3 TON"}, {"30 d", 30, "3 TON"}} {
		v.period.SetSelected(c.period)
		waitShown(t, v.shown)
		if n := len(bars(v.content)); n != c.bars {
			t.Errorf("%s chart has %d bars, want %d", c.period, n, c.bars)
		}
		if got := texts(v.content); !contains(got, "Last "+c.period) || !contains(got, c.earned) {
			t.Errorf("%s view texts %q, want earned %s", c.period, got, c.earned)
		}
	}
}

func TestEarningsViewWithoutPowerReading(t *testing.T) {
	a := test.NewTempApp(t)
	api := enginetest.New(engine.State{Mode: engine.ModeDev}, hostcheck.Report{}, gpu.Inventory{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := newEarningsView(ctx, api, a.Preferences())
	waitShown(t, v.refresh(ctx))
	if got := texts(v.content); !contains(got, "No GPU power reading (dev mode)") {
		t.Errorf("texts %q lack the missing power reading", got)
	}
	if n := len(bars(v.content)); n != 24 {
		t.Errorf("empty chart has %d bars, want 24", n)
	}
}

func TestEarningsViewThrottlesEvents(t *testing.T) {
	a := test.NewTempApp(t)
	api := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := newEarningsView(ctx, api, a.Preferences())
	v.onEvent(ctx)
	if v.gen != 0 || v.pending {
		t.Fatal("a hidden tab refreshed on an event")
	}
	v.setVisible(ctx, true)
	waitShown(t, v.shown)
	gen := v.gen
	v.onEvent(ctx)
	v.onEvent(ctx)
	if v.gen != gen || !v.pending {
		t.Errorf("events within %s of a refresh: gen %d → %d, pending %v; want one refresh scheduled", earningsRefreshEvery, gen, v.gen, v.pending)
	}
	v.now = func() time.Time { return time.Now().Add(earningsRefreshEvery) }
	v.pending = false
	v.onEvent(ctx)
	waitShown(t, v.shown)
	if v.gen != gen+1 {
		t.Errorf("an event %s after the last refresh: gen %d → %d, want one refresh", earningsRefreshEvery, gen, v.gen)
	}
}
