package store

import (
	"database/sql"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestSampleBuckets(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	addGPU(t, s, "GPU-1")
	addGPU(t, s, "GPU-2")
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) } // t0 starts a minute
	in := []Sample{
		{GPUKey: "GPU-1", Time: sec(0), UtilPct: Known(10), TempC: Known(60)},
		{GPUKey: "GPU-1", Time: sec(5), UtilPct: Known(30)},
		{GPUKey: "GPU-1", Time: sec(9), UtilPct: Known(20), PowerW: Known(500)},
		{GPUKey: "GPU-1", Time: sec(10)}, // nothing known
		{GPUKey: "GPU-1", Time: sec(35), MemUsedMiB: Known(1024)},
		{GPUKey: "GPU-2", Time: sec(1), UtilPct: Known(99)},
	}
	if err := s.AddSamples(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.SampleBuckets(ctx, "GPU-1", sec(0), sec(60), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	none := Agg{}
	agg := func(avg, mx float64, n int64) Agg { return Agg{Avg: Known(avg), Max: Known(mx), N: n} }
	want := []Bucket{
		{Start: sec(0), Samples: 3, UtilPct: agg(20, 30, 3), TempC: agg(60, 60, 1), PowerW: agg(500, 500, 1), MemUsedMiB: none},
		{Start: sec(10), Samples: 1},
		{Start: sec(30), Samples: 1, MemUsedMiB: agg(1024, 1024, 1)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SampleBuckets =\n%+v\nwant\n%+v", got, want)
	}
	// from and to bound the samples, not the buckets: from = 5 s leaves the
	// first sample out but keeps the bucket's start aligned.
	got, err = s.SampleBuckets(ctx, "GPU-1", sec(5), sec(10), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Bucket{{Start: sec(0), Samples: 2, UtilPct: agg(25, 30, 2), PowerW: agg(500, 500, 1)}}; !reflect.DeepEqual(got, want) {
		t.Errorf("SampleBuckets from 5 s =\n%+v\nwant\n%+v", got, want)
	}
	if got, err := s.SampleBuckets(ctx, "GPU-9", sec(0), sec(60), time.Second); err != nil || got != nil {
		t.Errorf("unknown GPU: %v, %v; want nothing", got, err)
	}
	if _, err := s.SampleBuckets(ctx, "GPU-1", sec(0), sec(60), 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("bucket 0: err = %v, want ErrInvalid", err)
	}
}

func TestRollupBuckets(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	addGPU(t, s, "GPU-1")
	base := t0.Truncate(2 * time.Minute) // the start of a 2-minute bucket
	at := func(min, sec int) time.Time {
		return base.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
	}
	in := []Sample{
		// Minute 0: util 10, 20. Minute 1: util 60. Both in bucket 0.
		{GPUKey: "GPU-1", Time: at(0, 0), UtilPct: Known(10), TempC: Known(50)},
		{GPUKey: "GPU-1", Time: at(0, 30), UtilPct: Known(20)},
		{GPUKey: "GPU-1", Time: at(1, 0), UtilPct: Known(60), TempC: Known(70)},
		// Minute 4: bucket 2, nothing known.
		{GPUKey: "GPU-1", Time: at(4, 0)},
	}
	if err := s.AddSamples(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compact(ctx, at(70, 0), time.Hour, 0); err != nil {
		t.Fatal(err)
	}
	got, err := s.RollupBuckets(ctx, "GPU-1", at(0, 0), at(10, 0), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []Bucket{
		// The average weighs each minute by its count: (10+20+60)/3.
		{Start: at(0, 0), Samples: 3, UtilPct: Agg{Avg: Known(30), Max: Known(60), N: 3}, TempC: Agg{Avg: Known(60), Max: Known(70), N: 2}},
		{Start: at(4, 0), Samples: 1, UtilPct: Agg{Avg: sql.Null[float64]{}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RollupBuckets =\n%+v\nwant\n%+v", got, want)
	}
	for _, b := range []time.Duration{0, 30 * time.Second, 90 * time.Second} {
		if _, err := s.RollupBuckets(ctx, "GPU-1", at(0, 0), at(10, 0), b); !errors.Is(err, ErrInvalid) {
			t.Errorf("bucket %v: err = %v, want ErrInvalid", b, err)
		}
	}
}
