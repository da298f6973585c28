package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
)

// Bounds of a series answer.
const (
	// MaxSeriesPoints is the most points one GPUSeries or ActivitySeries
	// answer holds: an hour at 1 s. A finer resolution over a longer
	// window is coarsened to fit.
	MaxSeriesPoints = 3600
	// autoSeriesPoints is how many points an automatic resolution aims
	// at over a window longer than the raw hour: a day in 2-minute
	// buckets, cheap to send to a remote window.
	autoSeriesPoints = 720
	// seriesSlack is how far past now a series looks, for a sample whose
	// clock ran a little ahead of the caller's.
	seriesSlack = time.Minute
)

// ErrBadSeriesQuery: a series query asks for something that cannot be
// answered (no GPU named, a start that is not before now, a negative
// resolution).
var ErrBadSeriesQuery = errors.New("bad series query")

// ErrUnknownGPU: a series query names a GPU this machine has never seen.
var ErrUnknownGPU = errors.New("unknown GPU")

// GPUSeriesQuery selects one GPU's telemetry for a chart.
type GPUSeriesQuery struct {
	// GPUKey is the GPU's gpu.GPU.Key().
	GPUKey string
	// Since is the start of the window; it ends now.
	Since time.Time
	// Resolution is the width of one point. Zero picks one: 1 s for a
	// window within the raw hour (store.DefaultRawRetention), else the
	// window over 720 points in whole minutes (2 min for a day). Under a
	// minute, points come from the raw samples, which are kept for an
	// hour; from a minute up, from the per-minute rollups and the raw
	// samples not yet rolled up. It is coarsened so that the window holds
	// at most MaxSeriesPoints.
	Resolution time.Duration
}

// GPUPoint is one GPU's average readings over one bucket. A reading that
// was never known in the bucket is NaN.
type GPUPoint struct {
	Time       time.Time // start of the bucket: a multiple of its width since 1970
	UtilPct    float64   // utilisation, percent
	MemUsedMiB float64   // memory used, MiB
	TempC      float64   // temperature, °C
	PowerW     float64   // power draw, W
}

// ActivityPoint is what one worker did over one bucket: rates over the
// time its samples cover.
type ActivityPoint struct {
	Time         time.Time // start of the bucket: a multiple of its width since 1970
	RequestsPerS float64
	TokensPerS   float64 // adjusted tokens, all kinds
	// SuccessRate is the share of finished requests that succeeded, 0 to
	// 1; NaN when none finished.
	SuccessRate float64
	// Concurrency is the average number of requests in flight.
	Concurrency float64
}

// resolve checks the window [since, now) and returns the bucket width to
// use: res, or picked when res is zero, coarsened to at most
// MaxSeriesPoints over the window and rounded up to whole milliseconds
// (whole minutes from a minute up).
func resolve(since, now time.Time, res time.Duration, picked func(span time.Duration) time.Duration) (time.Duration, error) {
	switch {
	case since.IsZero() || !since.Before(now):
		return 0, fmt.Errorf("%w: the start %v is not before now (%v)", ErrBadSeriesQuery, since, now)
	case res < 0:
		return 0, fmt.Errorf("%w: resolution %v is negative", ErrBadSeriesQuery, res)
	}
	span := now.Sub(since)
	if res == 0 {
		res = picked(span)
	}
	res = max(res, ceilDiv(span, MaxSeriesPoints), time.Millisecond)
	unit := time.Millisecond
	if res >= time.Minute {
		unit = time.Minute
	}
	return ceilDiv(res, int64(unit)) * unit, nil
}

// ceilDiv is d/n rounded up.
func ceilDiv(d time.Duration, n int64) time.Duration {
	return (d + time.Duration(n) - 1) / time.Duration(n)
}

// ReadGPUSeries reads one GPU's chart from st over [q.Since, now): at most
// two queries, the averaging done by SQLite. A GPU that has no samples in
// the window has no points; one st has never recorded is ErrUnknownGPU.
func ReadGPUSeries(ctx context.Context, st *store.Store, now time.Time, q GPUSeriesQuery) ([]GPUPoint, error) {
	if q.GPUKey == "" {
		return nil, fmt.Errorf("%w: no GPU named", ErrBadSeriesQuery)
	}
	res, err := resolve(q.Since, now, q.Resolution, func(span time.Duration) time.Duration {
		if span <= store.DefaultRawRetention {
			return time.Second
		}
		return ceilDiv(span, autoSeriesPoints)
	})
	if err != nil {
		return nil, err
	}
	seen, err := st.GPUsSeen(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(seen, func(g store.GPUSeen) bool { return g.Key == q.GPUKey }) {
		return nil, fmt.Errorf("%w: %q (no GPU with that key was ever recorded here)", ErrUnknownGPU, q.GPUKey)
	}
	to := now.Add(seriesSlack)
	raw, err := st.SampleBuckets(ctx, q.GPUKey, q.Since, to, res)
	if err != nil {
		return nil, err
	}
	var rolled []store.Bucket
	if res >= time.Minute {
		// Compaction moves whole minutes from the raw table to the rollups
		// in one transaction: together they hold every sample once.
		if rolled, err = st.RollupBuckets(ctx, q.GPUKey, q.Since, to, res); err != nil {
			return nil, err
		}
	}
	out := make([]GPUPoint, 0, min(len(raw)+len(rolled), MaxSeriesPoints+1))
	i, j := 0, 0
	for i < len(raw) || j < len(rolled) {
		var b store.Bucket
		switch {
		case j == len(rolled) || (i < len(raw) && raw[i].Start.Before(rolled[j].Start)):
			b = raw[i]
			i++
		case i == len(raw) || rolled[j].Start.Before(raw[i].Start):
			b = rolled[j]
			j++
		default: // the same bucket in both: late samples of a rolled-up minute
			b = mergeBuckets(rolled[j], raw[i])
			i++
			j++
		}
		out = append(out, GPUPoint{Time: b.Start, UtilPct: avgOf(b.UtilPct), MemUsedMiB: avgOf(b.MemUsedMiB), TempC: avgOf(b.TempC), PowerW: avgOf(b.PowerW)})
	}
	if len(out) > MaxSeriesPoints {
		out = out[len(out)-MaxSeriesPoints:] // a bucket at each end cut by the window
	}
	return out, nil
}

// mergeBuckets combines two summaries of the same bucket.
func mergeBuckets(a, b store.Bucket) store.Bucket {
	m := func(x, y store.Agg) store.Agg {
		switch {
		case x.N == 0:
			return y
		case y.N == 0:
			return x
		}
		r := store.Agg{N: x.N + y.N}
		r.Avg = store.Known((x.Avg.V*float64(x.N) + y.Avg.V*float64(y.N)) / float64(r.N))
		r.Max = store.Known(max(x.Max.V, y.Max.V))
		return r
	}
	return store.Bucket{Start: a.Start, Samples: a.Samples + b.Samples,
		UtilPct: m(a.UtilPct, b.UtilPct), MemUsedMiB: m(a.MemUsedMiB, b.MemUsedMiB),
		TempC: m(a.TempC, b.TempC), PowerW: m(a.PowerW, b.PowerW)}
}

// avgOf is an aggregate's average, NaN when nothing was known.
func avgOf(a store.Agg) float64 {
	if a.N == 0 || !a.Avg.Valid {
		return math.NaN()
	}
	return a.Avg.V
}

// ReadActivitySeries reads one worker's activity from st over [since, now)
// in buckets of width bucket (zero: the window over 720 points, at least
// a second), coarsened to at most MaxSeriesPoints. A sample counts in the
// bucket its end falls in; buckets with no samples are left out.
func ReadActivitySeries(ctx context.Context, st *store.Store, now time.Time, instance int, since time.Time, bucket time.Duration) ([]ActivityPoint, error) {
	if instance < 0 {
		return nil, fmt.Errorf("%w: instance %d is negative", ErrBadSeriesQuery, instance)
	}
	res, err := resolve(since, now, bucket, func(span time.Duration) time.Duration {
		return max(time.Second, ceilDiv(span, autoSeriesPoints))
	})
	if err != nil {
		return nil, err
	}
	samples, err := st.Activity(ctx, int64(instance), since, now.Add(seriesSlack))
	if err != nil {
		return nil, err
	}
	var out []ActivityPoint
	var sum store.ActivitySample
	flush := func() {
		if sum.Interval <= 0 {
			return
		}
		secs := sum.Interval.Seconds()
		p := ActivityPoint{Time: sum.Time, RequestsPerS: sum.Queries / secs, TokensPerS: sum.TokensTotal / secs,
			Concurrency: sum.BusySeconds / secs, SuccessRate: math.NaN()}
		if done := sum.Success + sum.Failed; done > 0 {
			p.SuccessRate = sum.Success / done
		}
		out = append(out, p)
	}
	for _, a := range samples {
		start := time.UnixMilli(a.Time.UnixMilli() - a.Time.UnixMilli()%res.Milliseconds()).UTC()
		if !start.Equal(sum.Time) {
			flush()
			sum = store.ActivitySample{Time: start}
		}
		sum.Interval += a.Interval
		sum.Queries += a.Queries
		sum.Success += a.Success
		sum.Failed += a.Failed
		sum.TokensTotal += a.TokensTotal
		sum.BusySeconds += a.BusySeconds
	}
	flush()
	if len(out) > MaxSeriesPoints {
		out = out[len(out)-MaxSeriesPoints:]
	}
	return out, nil
}

// GPUSeries implements API.
func (s *Service) GPUSeries(ctx context.Context, q GPUSeriesQuery) ([]GPUPoint, error) {
	db := s.currentStore()
	if db == nil {
		return nil, errNoStore
	}
	return ReadGPUSeries(ctx, db, s.opts.Now(), q)
}

// ActivitySeries implements API.
func (s *Service) ActivitySeries(ctx context.Context, instance int, since time.Time, bucket time.Duration) ([]ActivityPoint, error) {
	db := s.currentStore()
	if db == nil {
		return nil, errNoStore
	}
	return ReadActivitySeries(ctx, db, s.opts.Now(), instance, since, bucket)
}
