package store

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSamples(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	addGPU(t, s, "GPU-1")
	addGPU(t, s, "GPU-2")
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

	in := []Sample{
		{GPUKey: "GPU-1", Time: sec(0), UtilPct: Known(87.5), MemUsedMiB: Known(40960), TempC: Known(71), PowerW: Known(612.25)},
		{GPUKey: "GPU-1", Time: sec(1), UtilPct: Known(0), MemUsedMiB: Known(0), TempC: Known(-5), PowerW: Known(0)},
		{GPUKey: "GPU-1", Time: sec(2)}, // nothing known
		{GPUKey: "GPU-1", Time: sec(3), UtilPct: Known(math.NaN()), PowerW: Known(math.Inf(1)), TempC: Known(60)},
		{GPUKey: "GPU-2", Time: sec(0), UtilPct: Known(1)},
	}
	if err := s.AddSamples(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.Samples(ctx, "GPU-1", sec(0), sec(3)) // to is exclusive
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in[:3]) {
		t.Errorf("Samples =\n%+v\nwant\n%+v", got, in[:3])
	}
	got, err = s.Samples(ctx, "GPU-1", sec(3), sec(4))
	if err != nil {
		t.Fatal(err)
	}
	want := []Sample{{GPUKey: "GPU-1", Time: sec(3), TempC: Known(60)}} // NaN and Inf are unknown
	if !reflect.DeepEqual(got, want) {
		t.Errorf("non-finite readings: Samples = %+v, want %+v", got, want)
	}

	// The same GPU and millisecond again replaces the sample.
	again := Sample{GPUKey: "GPU-1", Time: sec(0), UtilPct: Known(12)}
	if err := s.AddSamples(ctx, []Sample{again}); err != nil {
		t.Fatal(err)
	}
	got, err = s.Samples(ctx, "GPU-1", sec(0), sec(1))
	if err != nil || !reflect.DeepEqual(got, []Sample{again}) {
		t.Errorf("after replacing: Samples = %+v, %v; want %+v", got, err, again)
	}

	if err := s.AddSamples(ctx, nil); err != nil {
		t.Errorf("AddSamples(nil) = %v", err)
	}
}

func TestAddSamplesRejects(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	addGPU(t, s, "GPU-1")
	good := Sample{GPUKey: "GPU-1", Time: t0.Add(time.Hour), UtilPct: Known(1)}
	tests := []struct {
		name string
		bad  Sample
		msg  string
	}{
		{"unrecorded gpu", Sample{GPUKey: "GPU-9", Time: t0}, "call UpsertGPU first"},
		{"empty key", Sample{Time: t0}, "empty GPU key"},
		{"before 1970", Sample{GPUKey: "GPU-1", Time: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)}, "before 1970"},
		{"zero time", Sample{GPUKey: "GPU-1"}, "before 1970"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The good sample in the same batch is not stored either.
			err := s.AddSamples(ctx, []Sample{good, tc.bad})
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("AddSamples = %v, want ErrInvalid with %q", err, tc.msg)
			}
			got, err := s.Samples(ctx, "GPU-1", time.UnixMilli(0), t0.Add(48*time.Hour))
			if err != nil || len(got) != 0 {
				t.Errorf("after a rejected batch: %d samples stored (%v), want 0", len(got), err)
			}
		})
	}
}

// agg builds an Agg with n known values.
func agg(avg, max float64, n int64) Agg {
	return Agg{Avg: Known(avg), Max: Known(max), N: n}
}

func TestCompact(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	addGPU(t, s, "GPU-1")
	addGPU(t, s, "GPU-2")
	at := func(d time.Duration) time.Time { return t0.Add(d) } // t0 starts a minute
	now := at(2 * time.Hour)                                   // raw cut-off: t0 + 1h
	m := time.Minute

	in := []Sample{
		// Minute t0 of GPU-1: mixed known and unknown readings.
		{GPUKey: "GPU-1", Time: at(0), UtilPct: Known(10), MemUsedMiB: Known(100), PowerW: Known(50)},
		{GPUKey: "GPU-1", Time: at(20 * time.Second), UtilPct: Known(20), MemUsedMiB: Known(200)},
		{GPUKey: "GPU-1", Time: at(40 * time.Second), UtilPct: Known(30)},
		// Minute t0+1m of GPU-1: nothing known.
		{GPUKey: "GPU-1", Time: at(m + time.Second)},
		// The last millisecond before the cut-off.
		{GPUKey: "GPU-1", Time: at(time.Hour - time.Millisecond), TempC: Known(80)},
		// Kept raw: at and after the cut-off.
		{GPUKey: "GPU-1", Time: at(time.Hour), TempC: Known(81)},
		{GPUKey: "GPU-1", Time: at(time.Hour + 30*time.Second), TempC: Known(82)},
		// Minute t0 of GPU-2.
		{GPUKey: "GPU-2", Time: at(59 * time.Second), UtilPct: Known(99), MemUsedMiB: Known(1), TempC: Known(2), PowerW: Known(3)},
	}
	if err := s.AddSamples(ctx, in); err != nil {
		t.Fatal(err)
	}

	st, err := s.Compact(ctx, now, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := (CompactStats{SamplesRolledUp: 6, RollupsWritten: 4}); st != want {
		t.Errorf("Compact stats = %+v, want %+v", st, want)
	}
	want1 := []Rollup{
		{GPUKey: "GPU-1", Minute: at(0), Samples: 3, UtilPct: agg(20, 30, 3), MemUsedMiB: agg(150, 200, 2), PowerW: agg(50, 50, 1)},
		{GPUKey: "GPU-1", Minute: at(m), Samples: 1},
		{GPUKey: "GPU-1", Minute: at(59 * m), Samples: 1, TempC: agg(80, 80, 1)},
	}
	want2 := []Rollup{
		{GPUKey: "GPU-2", Minute: at(0), Samples: 1, UtilPct: agg(99, 99, 1), MemUsedMiB: agg(1, 1, 1), TempC: agg(2, 2, 1), PowerW: agg(3, 3, 1)},
	}
	checkRollups := func(step string, gpu string, want []Rollup) {
		t.Helper()
		got, err := s.Rollups(ctx, gpu, time.UnixMilli(0), now)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Rollups(%s) =\n%+v\nwant\n%+v", step, gpu, got, want)
		}
	}
	checkRollups("first compaction", "GPU-1", want1)
	checkRollups("first compaction", "GPU-2", want2)
	raw, err := s.Samples(ctx, "GPU-1", time.UnixMilli(0), now)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(raw, in[5:7]) {
		t.Errorf("raw samples left = %+v, want %+v", raw, in[5:7])
	}

	// Twice is the same as once.
	st, err = s.Compact(ctx, now, time.Hour, 0)
	if err != nil || st != (CompactStats{}) {
		t.Errorf("second Compact = %+v, %v; want nothing done", st, err)
	}
	checkRollups("second compaction", "GPU-1", want1)

	// A late sample for a minute already rolled up is merged into it.
	late := Sample{GPUKey: "GPU-1", Time: at(50 * time.Second), UtilPct: Known(60), TempC: Known(70)}
	if err := s.AddSamples(ctx, []Sample{late}); err != nil {
		t.Fatal(err)
	}
	st, err = s.Compact(ctx, now, time.Hour, 0)
	if err != nil || st != (CompactStats{SamplesRolledUp: 1, RollupsWritten: 1}) {
		t.Errorf("Compact of a late sample = %+v, %v", st, err)
	}
	want1[0] = Rollup{GPUKey: "GPU-1", Minute: at(0), Samples: 4,
		UtilPct: agg(30, 60, 4), MemUsedMiB: agg(150, 200, 2), TempC: agg(70, 70, 1), PowerW: agg(50, 50, 1)}
	checkRollups("late sample", "GPU-1", want1)

	// Thirty days on (defaults for both retentions), the old minutes go
	// and the raw samples left are rolled up.
	later := at(DefaultRollupRetention + m + time.Millisecond)
	st, err = s.Compact(ctx, later, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := (CompactStats{SamplesRolledUp: 2, RollupsWritten: 1, RollupsDeleted: 3}); st != want {
		t.Errorf("Compact 30 days on = %+v, want %+v", st, want)
	}
	got, err := s.Rollups(ctx, "GPU-1", time.UnixMilli(0), later)
	if err != nil {
		t.Fatal(err)
	}
	wantLeft := []Rollup{
		want1[2],
		{GPUKey: "GPU-1", Minute: at(time.Hour), Samples: 2, TempC: agg(81.5, 82, 2)},
	}
	if !reflect.DeepEqual(got, wantLeft) {
		t.Errorf("Rollups 30 days on =\n%+v\nwant\n%+v", got, wantLeft)
	}
}
