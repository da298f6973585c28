package engine

import (
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
)

// seriesStore opens an empty store with GPU-1 recorded.
func seriesStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), store.DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.UpsertGPU(t.Context(), store.GPUSeen{Key: "GPU-1", LastSeen: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	return st
}

// seriesNow is a whole hour, so that windows and buckets line up.
var seriesNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func TestGPUSeriesLastHour(t *testing.T) {
	st := seriesStore(t)
	ctx := t.Context()
	// An hour of 1 Hz samples: util = second % 100, temp known on even
	// seconds only, power never known.
	var in []store.Sample
	for sec := range 3600 {
		s := store.Sample{GPUKey: "GPU-1", Time: seriesNow.Add(time.Duration(sec-3600) * time.Second),
			UtilPct: store.Known(float64(sec % 100)), MemUsedMiB: store.Known(1024)}
		if sec%2 == 0 {
			s.TempC = store.Known(60)
		}
		in = append(in, s)
	}
	if err := st.AddSamples(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := ReadGPUSeries(ctx, st, seriesNow, GPUSeriesQuery{GPUKey: "GPU-1", Since: seriesNow.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3600 {
		t.Fatalf("got %d points, want 3600 (an hour at 1 s)", len(got))
	}
	for i, p := range []int{0, 1, 1234, 3599} {
		g := got[p]
		if !g.Time.Equal(in[p].Time) || g.UtilPct != float64(p%100) || g.MemUsedMiB != 1024 || !math.IsNaN(g.PowerW) {
			t.Errorf("%d: point %d = %+v, want util %d at %v, power unknown", i, p, g, p%100, in[p].Time)
		}
		if wantTemp := p%2 == 0; wantTemp != !math.IsNaN(g.TempC) {
			t.Errorf("point %d: temp %v, known want %v", p, g.TempC, wantTemp)
		}
	}

	// 10 s buckets: the average of util over 10 consecutive seconds.
	got, err = ReadGPUSeries(ctx, st, seriesNow, GPUSeriesQuery{GPUKey: "GPU-1", Since: seriesNow.Add(-time.Hour), Resolution: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 360 || got[0].UtilPct != 4.5 || got[1].UtilPct != 14.5 || got[0].TempC != 60 {
		t.Errorf("10 s buckets: %d points, first %+v, second %+v; want 360, util 4.5 then 14.5, temp 60", len(got), got[0], got[1])
	}

	// A finer resolution than fits is coarsened: 1 ms over an hour is 1 s.
	got, err = ReadGPUSeries(ctx, st, seriesNow, GPUSeriesQuery{GPUKey: "GPU-1", Since: seriesNow.Add(-time.Hour), Resolution: time.Millisecond})
	if err != nil || len(got) != 3600 {
		t.Errorf("1 ms over an hour: %d points, %v; want 3600", len(got), err)
	}
}

func TestGPUSeriesDay(t *testing.T) {
	st := seriesStore(t)
	ctx := t.Context()
	// A day of samples, one every 30 s, util = the minute of the day % 50;
	// everything older than the raw hour is rolled up by Compact.
	var in []store.Sample
	for i := range 24 * 120 {
		at := seriesNow.Add(-24*time.Hour + time.Duration(i)*30*time.Second)
		in = append(in, store.Sample{GPUKey: "GPU-1", Time: at, UtilPct: store.Known(float64((i / 2) % 50)), PowerW: store.Known(300)})
	}
	if err := st.AddSamples(ctx, in); err != nil {
		t.Fatal(err)
	}
	cs, err := st.Compact(ctx, seriesNow, store.DefaultRawRetention, 0)
	if err != nil || cs.SamplesRolledUp != 23*120 {
		t.Fatalf("Compact = %+v, %v; want 23 h of samples rolled up", cs, err)
	}
	got, err := ReadGPUSeries(ctx, st, seriesNow, GPUSeriesQuery{GPUKey: "GPU-1", Since: seriesNow.Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// Automatic: 2-minute buckets, the rollups and the raw hour together.
	if len(got) != 720 {
		t.Fatalf("a day: %d points, want 720", len(got))
	}
	for _, p := range []int{0, 1, 689, 690, 719} { // 690 is the first bucket from raw samples
		g := got[p]
		wantT := seriesNow.Add(-24*time.Hour + time.Duration(p)*2*time.Minute)
		// Minutes 2p and 2p+1, two samples each: (a+a+b+b)/4.
		wantU := float64((2*p)%50+(2*p+1)%50) / 2
		if !g.Time.Equal(wantT) || g.UtilPct != wantU || g.PowerW != 300 || !math.IsNaN(g.TempC) {
			t.Errorf("point %d = %+v, want %v util %v power 300", p, g, wantT, wantU)
		}
	}
	// A late sample for a rolled-up minute is merged into its bucket.
	late := store.Sample{GPUKey: "GPU-1", Time: seriesNow.Add(-24*time.Hour + 10*time.Second), UtilPct: store.Known(3), PowerW: store.Known(600)}
	if err := st.AddSamples(ctx, []store.Sample{late}); err != nil {
		t.Fatal(err)
	}
	got, err = ReadGPUSeries(ctx, st, seriesNow, GPUSeriesQuery{GPUKey: "GPU-1", Since: seriesNow.Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if g := got[0]; g.UtilPct != 1 || g.PowerW != 360 {
		t.Errorf("bucket with a late sample = %+v, want util (0+0+1+1+3)/5 = 1, power 360", g)
	}
	// An explicit resolution coarser than auto, and the cap for 30 days.
	if got, err := ReadGPUSeries(ctx, st, seriesNow, GPUSeriesQuery{GPUKey: "GPU-1", Since: seriesNow.Add(-24 * time.Hour), Resolution: time.Hour}); err != nil || len(got) != 24 {
		t.Errorf("hourly: %d points, %v; want 24", len(got), err)
	}
	got, err = ReadGPUSeries(ctx, st, seriesNow, GPUSeriesQuery{GPUKey: "GPU-1", Since: seriesNow.Add(-30 * 24 * time.Hour), Resolution: time.Second})
	if err != nil || len(got) > MaxSeriesPoints || len(got) == 0 {
		t.Errorf("30 days at 1 s: %d points, %v; want 1 to %d", len(got), err, MaxSeriesPoints)
	}
}

func TestGPUSeriesErrors(t *testing.T) {
	st := seriesStore(t)
	ctx := t.Context()
	hour := seriesNow.Add(-time.Hour)
	got, err := ReadGPUSeries(ctx, st, seriesNow, GPUSeriesQuery{GPUKey: "GPU-1", Since: hour})
	if err != nil || len(got) != 0 {
		t.Errorf("a GPU with no samples: %v, %v; want no points, no error", got, err)
	}
	for _, c := range []struct {
		name string
		q    GPUSeriesQuery
		want error
	}{
		{"unknown GPU", GPUSeriesQuery{GPUKey: "GPU-9", Since: hour}, ErrUnknownGPU},
		{"no GPU", GPUSeriesQuery{Since: hour}, ErrBadSeriesQuery},
		{"no start", GPUSeriesQuery{GPUKey: "GPU-1"}, ErrBadSeriesQuery},
		{"start now", GPUSeriesQuery{GPUKey: "GPU-1", Since: seriesNow}, ErrBadSeriesQuery},
		{"negative resolution", GPUSeriesQuery{GPUKey: "GPU-1", Since: hour, Resolution: -time.Second}, ErrBadSeriesQuery},
	} {
		if _, err := ReadGPUSeries(ctx, st, seriesNow, c.q); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestActivitySeries(t *testing.T) {
	st := seriesStore(t)
	ctx := t.Context()
	// Instance 2 polled every 5 s for 20 s: 10 requests and 100 tokens per
	// poll, one failure in the last one, busy 2.5 s of each 5.
	for i := range 4 {
		a := store.ActivitySample{Instance: 2, Time: seriesNow.Add(time.Duration(i*5-20)*time.Second + time.Second), Interval: 5 * time.Second,
			Queries: 10, Success: 10, TokensTotal: 100, BusySeconds: 2.5}
		if i == 3 {
			a.Success, a.Failed = 9, 1
		}
		if err := st.AddActivity(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// Another instance is not counted.
	if err := st.AddActivity(ctx, store.ActivitySample{Instance: 1, Time: seriesNow.Add(-time.Second), Interval: time.Second, Queries: 1000}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadActivitySeries(ctx, st, seriesNow, 2, seriesNow.Add(-time.Hour), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []ActivityPoint{
		{Time: seriesNow.Add(-20 * time.Second), RequestsPerS: 2, TokensPerS: 20, SuccessRate: 1, Concurrency: 0.5},
		{Time: seriesNow.Add(-10 * time.Second), RequestsPerS: 2, TokensPerS: 20, SuccessRate: 0.95, Concurrency: 0.5},
	}
	if len(got) != len(want) {
		t.Fatalf("ActivitySeries = %+v, want %+v", got, want)
	}
	for i := range want {
		if g, w := got[i], want[i]; !g.Time.Equal(w.Time) || g.RequestsPerS != w.RequestsPerS || g.TokensPerS != w.TokensPerS ||
			g.SuccessRate != w.SuccessRate || g.Concurrency != w.Concurrency {
			t.Errorf("point %d = %+v, want %+v", i, g, w)
		}
	}
	// No finished request: the success rate is unknown.
	if err := st.AddActivity(ctx, store.ActivitySample{Instance: 3, Time: seriesNow.Add(-time.Second), Interval: time.Second}); err != nil {
		t.Fatal(err)
	}
	got, err = ReadActivitySeries(ctx, st, seriesNow, 3, seriesNow.Add(-time.Hour), 0)
	if err != nil || len(got) != 1 || !math.IsNaN(got[0].SuccessRate) || got[0].RequestsPerS != 0 {
		t.Errorf("idle instance: %+v, %v; want one point, success NaN", got, err)
	}
	if got, err := ReadActivitySeries(ctx, st, seriesNow, 7, seriesNow.Add(-time.Hour), 0); err != nil || len(got) != 0 {
		t.Errorf("instance with no samples: %v, %v; want none", got, err)
	}
	if _, err := ReadActivitySeries(ctx, st, seriesNow, -1, seriesNow.Add(-time.Hour), 0); !errors.Is(err, ErrBadSeriesQuery) {
		t.Errorf("instance -1: err = %v, want ErrBadSeriesQuery", err)
	}
	if _, err := ReadActivitySeries(ctx, st, seriesNow, 2, seriesNow.Add(time.Hour), 0); !errors.Is(err, ErrBadSeriesQuery) {
		t.Errorf("start after now: err = %v, want ErrBadSeriesQuery", err)
	}
}
