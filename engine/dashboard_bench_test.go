package engine

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
)

// Dashboard benchmark sizes: what a long-running multi-GPU host
// accumulates (raw telemetry normally lives an hour; a million raw samples
// is what a host whose compaction failed for a day and a half holds).
const (
	dashLedgerRows = 1_000_000
	dashSamples    = 1_000_000
	dashGPUs       = 8
	dashLedgerDays = 90
	// DASH_BENCH_DIR puts the database elsewhere (default: /dev/shm when
	// present, so that building it does not wait on fsync).
	dashDirEnv = "DASH_BENCH_DIR"
)

var dash struct {
	once sync.Once
	st   *store.Store
	now  time.Time
	err  error
}

// dashStore builds, once per run, a store with dashLedgerRows ledger rows
// over dashLedgerDays days and dashSamples raw telemetry samples, all
// through the store's own API, and reports how long that took.
func dashStore(b *testing.B) (*store.Store, time.Time) {
	b.Helper()
	dash.once.Do(func() {
		dir := os.Getenv(dashDirEnv)
		if dir == "" {
			dir = os.TempDir()
			if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
				dir = "/dev/shm"
			}
		}
		if dir, dash.err = os.MkdirTemp(dir, "cocoon-dashboard-bench-"); dash.err != nil {
			return
		}
		start := time.Now()
		dash.st, dash.now, dash.err = buildDashStore(b, filepath.Join(dir, store.DefaultFileName))
		fmt.Fprintf(os.Stderr, "dashboard bench: %d ledger rows and %d raw samples stored in %s\n",
			dashLedgerRows, dashSamples, time.Since(start).Round(time.Second))
	})
	if dash.err != nil {
		b.Fatal(dash.err)
	}
	return dash.st, dash.now
}

func buildDashStore(b *testing.B, path string) (*store.Store, time.Time, error) {
	ctx := b.Context()
	// Not closed: the store serves every sub-benchmark of the run; its
	// folder is removed with the process's temporary files by the OS.
	st, err := store.Open(ctx, path)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := time.Date(2026, 11, 24, 18, 30, 0, 0, time.UTC)
	stages := store.Stages()
	span := dashLedgerDays * 24 * time.Hour
	step := span / dashLedgerRows
	for i := range dashLedgerRows {
		e := store.LedgerEntry{
			Source: fmt.Sprintf("bench:%d", i), Time: now.Add(-span + time.Duration(i)*step),
			Stage: stages[i%len(stages)], AmountNanoTON: int64(1000 + i%5000), Tokens: int64(10 + i%500), FeePerToken: 20,
			Proxy: fmt.Sprintf("proxy-%d", i%4),
		}
		e.Instance.V, e.Instance.Valid = int64(i%dashGPUs), true
		if _, err := st.AddLedger(ctx, e); err != nil {
			return nil, time.Time{}, err
		}
	}
	for g := range dashGPUs {
		if err := st.UpsertGPU(ctx, store.GPUSeen{Key: dashGPU(g), LastSeen: now}); err != nil {
			return nil, time.Time{}, err
		}
	}
	const perGPU = dashSamples / dashGPUs
	batch := make([]store.Sample, 0, 8*1024)
	for sec := range perGPU {
		t := now.Add(time.Duration(sec-perGPU) * time.Second)
		for g := range dashGPUs {
			batch = append(batch, store.Sample{GPUKey: dashGPU(g), Time: t, UtilPct: store.Known(float64(sec % 101)),
				MemUsedMiB: store.Known(40960), TempC: store.Known(float64(55 + sec%20)), PowerW: store.Known(550)})
		}
		if len(batch) == cap(batch) || sec == perGPU-1 {
			if err := st.AddSamples(ctx, batch); err != nil {
				return nil, time.Time{}, err
			}
			batch = batch[:0]
		}
	}
	return st, now, nil
}

func dashGPU(g int) string { return fmt.Sprintf("GPU-%d", g) }

// BenchmarkDashboardQueries times each store query the desktop app's
// screens run, over dashLedgerRows ledger rows and dashSamples raw samples,
// and reports p50 and p99 per query besides the mean (ns/op).
func BenchmarkDashboardQueries(b *testing.B) {
	st, now := dashStore(b)
	ctx := b.Context()
	day := 24 * time.Hour
	queries := []struct {
		name string
		run  func() error
	}{
		// The tray and the Worker tab: today, 7 d, 30 d and all time.
		{"earnings-totals", func() error { _, err := ReadEarnings(ctx, st, now); return err }},
		// The Earnings tab's charts.
		{"series-24h-hourly", func() error { _, err := ReadEarningsSeries(ctx, st, now.Add(-day), time.Hour); return err }},
		{"series-7d-daily", func() error { _, err := ReadEarningsSeries(ctx, st, now.Add(-7*day), day); return err }},
		{"series-30d-daily", func() error { _, err := ReadEarningsSeries(ctx, st, now.Add(-30*day), day); return err }},
		// Export CSV for the chosen period.
		{"export-csv-24h", func() error { return WriteLedgerCSV(ctx, st, io.Discard, now.Add(-day)) }},
		{"export-csv-30d", func() error { return WriteLedgerCSV(ctx, st, io.Discard, now.Add(-30*day)) }},
		// A GPU chart: the last hour at 1 s resolution, and the day as
		// per-minute rollups.
		{"gpu-last-hour", func() error {
			_, err := st.Samples(ctx, dashGPU(3), now.Add(-time.Hour), now.Add(time.Second))
			return err
		}},
		{"gpu-day-rollups", func() error { _, err := st.Rollups(ctx, dashGPU(3), now.Add(-day), now); return err }},
		// The GPUs tab's charts through the API's query: here the day
		// comes from raw samples, as compaction never ran.
		{"gpu-series-hour", func() error {
			_, err := ReadGPUSeries(ctx, st, now, GPUSeriesQuery{GPUKey: dashGPU(3), Since: now.Add(-time.Hour), Resolution: time.Second})
			return err
		}},
		{"gpu-series-day-uncompacted", func() error {
			_, err := ReadGPUSeries(ctx, st, now, GPUSeriesQuery{GPUKey: dashGPU(3), Since: now.Add(-day)})
			return err
		}},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) { benchQuery(b, q.run) })
	}
}

// benchQuery times run in b's loop and reports p50 and p99 besides the
// mean.
func benchQuery(b *testing.B, run func() error) {
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		if err := run(); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	pct := func(p float64) float64 {
		return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// seriesBench is a store as a compacting host holds it: dashGPUs GPUs
// with the last hour of raw 1 Hz samples and 30 days of per-minute
// rollups.
var seriesBench struct {
	once sync.Once
	st   *store.Store
	now  time.Time
	err  error
}

func seriesBenchStore(b *testing.B) (*store.Store, time.Time) {
	b.Helper()
	seriesBench.once.Do(func() {
		start := time.Now()
		seriesBench.st, seriesBench.now, seriesBench.err = buildSeriesBenchStore(b)
		fmt.Fprintf(os.Stderr, "series bench: %d GPUs, an hour of raw samples and 30 days of rollups stored in %s\n",
			dashGPUs, time.Since(start).Round(time.Millisecond))
	})
	if seriesBench.err != nil {
		b.Fatal(seriesBench.err)
	}
	return seriesBench.st, seriesBench.now
}

func buildSeriesBenchStore(b *testing.B) (*store.Store, time.Time, error) {
	ctx := b.Context()
	dir := os.Getenv(dashDirEnv)
	if fi, err := os.Stat("/dev/shm"); dir == "" && err == nil && fi.IsDir() {
		dir = "/dev/shm" // as dashStore: building it does not wait on fsync
	}
	dir, err := os.MkdirTemp(dir, "cocoon-series-bench-")
	if err != nil {
		return nil, time.Time{}, err
	}
	// Not closed: it serves every sub-benchmark of the run.
	st, err := store.Open(ctx, filepath.Join(dir, store.DefaultFileName))
	if err != nil {
		return nil, time.Time{}, err
	}
	now := time.Date(2026, 11, 24, 18, 30, 0, 0, time.UTC)
	for g := range dashGPUs {
		if err := st.UpsertGPU(ctx, store.GPUSeen{Key: dashGPU(g), LastSeen: now}); err != nil {
			return nil, time.Time{}, err
		}
	}
	// The rollups come from one sample per GPU and minute, rolled up by
	// Compact: a rollup row costs a query the same whatever it summarises.
	batch := make([]store.Sample, 0, 8*1024)
	flush := func() error {
		err := st.AddSamples(ctx, batch)
		batch = batch[:0]
		return err
	}
	const days = 30
	for m := range days * 24 * 60 {
		t := now.Add(-days*24*time.Hour + time.Duration(m)*time.Minute)
		if !t.Before(now.Add(-time.Hour)) {
			break
		}
		for g := range dashGPUs {
			batch = append(batch, store.Sample{GPUKey: dashGPU(g), Time: t, UtilPct: store.Known(float64(m % 101)),
				MemUsedMiB: store.Known(40960), TempC: store.Known(float64(55 + m%20)), PowerW: store.Known(550)})
		}
		if len(batch) >= cap(batch)-dashGPUs {
			if err := flush(); err != nil {
				return nil, time.Time{}, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, time.Time{}, err
	}
	if _, err := st.Compact(ctx, now, store.DefaultRawRetention, store.DefaultRollupRetention); err != nil {
		return nil, time.Time{}, err
	}
	for sec := range 3600 {
		t := now.Add(time.Duration(sec-3600) * time.Second)
		for g := range dashGPUs {
			batch = append(batch, store.Sample{GPUKey: dashGPU(g), Time: t, UtilPct: store.Known(float64(sec % 101)),
				MemUsedMiB: store.Known(40960), TempC: store.Known(float64(55 + sec%20)), PowerW: store.Known(550)})
		}
		if len(batch) >= cap(batch)-dashGPUs {
			if err := flush(); err != nil {
				return nil, time.Time{}, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, time.Time{}, err
	}
	return st, now, nil
}

// BenchmarkGPUSeries times the GPUs tab's chart reads: one GPUSeries
// query per GPU for all dashGPUs GPUs (what one refresh of the tab asks),
// over the last hour at 1 s and over a day (2-minute points from the
// rollups and the raw hour), and an incremental refresh (the last few
// seconds).
func BenchmarkGPUSeries(b *testing.B) {
	st, now := seriesBenchStore(b)
	ctx := b.Context()
	all := func(since time.Time, res time.Duration, want int) func() error {
		return func() error {
			for g := range dashGPUs {
				ps, err := ReadGPUSeries(ctx, st, now, GPUSeriesQuery{GPUKey: dashGPU(g), Since: since, Resolution: res})
				if err != nil {
					return err
				}
				if len(ps) < want {
					return fmt.Errorf("gpu %d: %d points, want at least %d", g, len(ps), want)
				}
			}
			return nil
		}
	}
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"hour-1s-8gpus", all(now.Add(-time.Hour), time.Second, 3599)},
		{"day-auto-8gpus", all(now.Add(-24*time.Hour), 0, 719)},
		{"refresh-5s-8gpus", all(now.Add(-5*time.Second), time.Second, 4)},
	} {
		b.Run(c.name, func(b *testing.B) { benchQuery(b, c.run) })
	}
}
