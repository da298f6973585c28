package app

import (
	"context"
	"math"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

func waitRefreshed(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the charts were never refreshed")
	}
}

func TestGPUChartsFollowTheSeries(t *testing.T) {
	test.NewTempApp(t)
	ctx := context.Background()
	idx := 0
	inv := gpu.Inventory{NVML: gpu.NVMLStatus{Loaded: true}, GPUs: []gpu.GPU{
		{Source: gpu.SourceNVML, Index: &idx, Name: "NVIDIA H100", UUID: "GPU-1", BusID: "0000:17:00.0"},
		{Source: gpu.SourceSysfs, Name: "other", BusID: "0000:65:00.0"}, // no telemetry: no charts
	}}
	key := inv.GPUs[0].Key()
	api := enginetest.New(engine.State{}, hostcheck.Report{}, inv)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var pts []engine.GPUPoint
	for i := range 60 {
		pts = append(pts, engine.GPUPoint{Time: now.Add(time.Duration(i-60) * time.Second), UtilPct: float64(i % 50),
			MemUsedMiB: 2048, TempC: float64(60 + i%5), PowerW: math.NaN()})
	}
	api.SetGPUSeries(key, pts)

	v := newGPUView().withCharts(ctx, api)
	v.now = func() time.Time { return now }
	v.auto.every = time.Hour // no refresh but the test's own
	v.show(inv)
	if len(v.charts) != 1 || v.charts[key] == nil {
		t.Fatalf("charts for %d GPUs, want the NVML one", len(v.charts))
	}
	if api.SeriesQueries() != 0 {
		t.Fatal("a hidden tab read the series")
	}
	v.setVisible(true)
	waitRefreshed(t, v.refreshed)
	c := v.charts[key]
	check := func(what string, i int, wantN int, wantLo, wantHi, wantLast float64) {
		t.Helper()
		n, lo, hi, last, ok := c.charts[i].Summary()
		if n != wantN || !ok || lo != wantLo || hi != wantHi || last != wantLast {
			t.Errorf("%s: chart %d has %d points, %v..%v, latest %v (known %v); want %d, %v..%v, %v", what, i, n, lo, hi, last, ok, wantN, wantLo, wantHi, wantLast)
		}
	}
	check("util", 0, 60, 0, 49, 9)
	check("memory", 1, 60, 2048, 2048, 2048)
	check("temperature", 2, 60, 60, 64, 64)
	if n, _, _, _, ok := c.charts[3].Summary(); n != 60 || ok {
		t.Errorf("power never known: %d points, known %v", n, ok)
	}

	// The next refresh asks from the last point on and appends.
	now = now.Add(time.Second)
	api.SetGPUSeries(key, append(pts, engine.GPUPoint{Time: now.Add(-time.Second), UtilPct: 99, MemUsedMiB: 4096, TempC: 70, PowerW: 300}))
	waitRefreshed(t, v.refresh())
	check("after a second", 0, 61, 0, 99, 99)
	if q := api.SeriesQueries(); q != 2 {
		t.Errorf("%d series queries, want 2", q)
	}

	// The day: read afresh.
	v.period.SetSelected("Last day")
	waitRefreshed(t, v.refreshed)
	check("day", 0, 61, 0, 99, 99)

	v.setVisible(false)
	if v.auto.stop != nil {
		t.Error("the refreshes go on with the tab hidden")
	}
	v.show(gpu.Inventory{}) // the GPU went away
	if len(v.charts) != 0 {
		t.Errorf("charts of %d GPUs left", len(v.charts))
	}
}

func TestGPUChartsEmptyAndErrors(t *testing.T) {
	test.NewTempApp(t)
	idx := 0
	inv := gpu.Inventory{GPUs: []gpu.GPU{{Source: gpu.SourceNVML, Index: &idx, Name: "NVIDIA H100", UUID: "GPU-1", BusID: "0000:17:00.0"}}}
	api := enginetest.New(engine.State{}, hostcheck.Report{}, inv)
	v := newGPUView().withCharts(context.Background(), api)
	v.auto.every = time.Hour
	v.show(inv)
	v.setVisible(true)
	waitRefreshed(t, v.refreshed)
	if n, _, _, _, ok := v.charts[inv.GPUs[0].Key()].charts[0].Summary(); n != 0 || ok || v.chartsLog.Text != "" {
		t.Errorf("no data: %d points, known %v, log %q", n, ok, v.chartsLog.Text)
	}
	v.setVisible(false)
}

func TestActivityChartsFollowTheInstance(t *testing.T) {
	test.NewTempApp(t)
	ctx := context.Background()
	api := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	api.SetActivitySeries(0, []engine.ActivityPoint{
		{Time: now.Add(-30 * time.Second), RequestsPerS: 2, TokensPerS: 300, SuccessRate: 1, Concurrency: 0.5},
		{Time: now.Add(-20 * time.Second), RequestsPerS: 4, TokensPerS: 500, SuccessRate: 0.75, Concurrency: 1.5},
		{Time: now.Add(-10 * time.Second), SuccessRate: math.NaN()},
	})
	v := newWorkerView(ctx, api)
	a := v.charts
	a.now = func() time.Time { return now }
	a.auto.every = time.Hour
	a.setVisible(true) // no instance yet: nothing to read
	if api.SeriesQueries() != 0 {
		t.Error("read a series with no instance")
	}
	v.show(&engine.Instance{Number: 0, State: vm.StateRunning}, "")
	waitRefreshed(t, a.refreshed)
	for i, want := range []struct{ lo, hi, last float64 }{{0, 4, 0}, {0, 500, 0}, {75, 100, 75}, {0, 1.5, 0}} {
		n, lo, hi, last, ok := a.charts[i].Summary()
		if n != 3 || !ok || lo != want.lo || hi != want.hi || last != want.last {
			t.Errorf("chart %d: %d points, %v..%v latest %v; want 3, %v..%v latest %v", i, n, lo, hi, last, want.lo, want.hi, want.last)
		}
	}
	// Another instance starts afresh; one with no samples shows none.
	v.show(&engine.Instance{Number: 1, State: vm.StateRunning}, "")
	waitRefreshed(t, a.refreshed)
	if n, _, _, _, ok := a.charts[0].Summary(); n != 0 || ok {
		t.Errorf("instance 1: %d points, known %v; want none", n, ok)
	}
	a.setVisible(false)
}

func TestMergeSeries(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	id := func(t time.Time) time.Time { return t }
	old := []time.Time{at(1), at(2), at(3), at(4)}
	// From 4 on replaced, before 2 dropped.
	got := mergeSeries(old, []time.Time{at(4), at(5)}, at(4), at(2), id)
	want := []time.Time{at(2), at(3), at(4), at(5)}
	if len(got) != len(want) {
		t.Fatalf("merge = %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Fatalf("merge = %v, want %v", got, want)
		}
	}
	if s := nextSince(nil, at(10), at(20), id); !s.Equal(at(10)) {
		t.Errorf("nextSince with nothing = %v", s)
	}
	if s := nextSince([]time.Time{at(15)}, at(10), at(20), id); !s.Equal(at(15)) {
		t.Errorf("nextSince = %v", s)
	}
}
