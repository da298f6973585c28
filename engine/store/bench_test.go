package store

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkAddLedger measures one committed (fsynced) ledger entry.
func BenchmarkAddLedger(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	for i := 0; b.Loop(); i++ {
		e := LedgerEntry{Source: fmt.Sprintf("bench:%d", i), Time: t0, Stage: StageEarned, AmountNanoTON: int64(i)}
		if _, err := s.AddLedger(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// benchGPUs is the number of GPUs the telemetry benchmarks use.
const benchGPUs = 8

func benchSample(gpu, sec int) Sample {
	return Sample{
		GPUKey: fmt.Sprintf("GPU-%d", gpu), Time: t0.Add(time.Duration(sec) * time.Second),
		UtilPct: Known(float64(sec % 100)), MemUsedMiB: Known(40960), TempC: Known(65), PowerW: Known(550.5),
	}
}

func benchStore(b *testing.B) *Store {
	s := openTemp(b)
	for g := range benchGPUs {
		addGPU(b, s, fmt.Sprintf("GPU-%d", g))
	}
	return s
}

// BenchmarkAddSamples measures one committed batch of one sample for each
// of eight GPUs, what a one-second telemetry tick writes.
func BenchmarkAddSamples(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	batch := make([]Sample, benchGPUs)
	for sec := 0; b.Loop(); sec++ {
		for g := range batch {
			batch[g] = benchSample(g, sec)
		}
		if err := s.AddSamples(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSamplesLastHour measures reading the last hour of raw samples
// (3600 a GPU, one a second) of all eight GPUs.
func BenchmarkSamplesLastHour(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	const hour = 3600
	all := make([]Sample, 0, hour*benchGPUs)
	for sec := range hour {
		for g := range benchGPUs {
			all = append(all, benchSample(g, sec))
		}
	}
	if err := s.AddSamples(ctx, all); err != nil {
		b.Fatal(err)
	}
	from, to := t0, t0.Add(hour*time.Second)
	for b.Loop() {
		for g := range benchGPUs {
			got, err := s.Samples(ctx, fmt.Sprintf("GPU-%d", g), from, to)
			if err != nil {
				b.Fatal(err)
			}
			if len(got) != hour {
				b.Fatalf("got %d samples, want %d", len(got), hour)
			}
		}
	}
	b.ReportMetric(hour*benchGPUs, "samples/op")
}

// BenchmarkRecordProgress measures RecordProgress on one counter. rise:
// every call raises the mark, one committed (fsynced) transaction with an
// entry and the new mark. unchanged: the value is at the mark, what most
// polls report; it only reads.
func BenchmarkRecordProgress(b *testing.B) {
	b.Run("rise", func(b *testing.B) {
		s := openTemp(b)
		ctx := b.Context()
		for i := int64(1); b.Loop(); i++ {
			p := Progress{Instance: 1, Proxy: "P", Relationship: "W@4", Stage: StageEarned, Tokens: i * 100, FeePerToken: 16, Time: t0}
			if _, inserted, err := s.RecordProgress(ctx, p); err != nil || !inserted {
				b.Fatal(inserted, err)
			}
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		s := openTemp(b)
		ctx := b.Context()
		p := Progress{Instance: 1, Proxy: "P", Relationship: "W@4", Stage: StageEarned, Tokens: 100, FeePerToken: 16, Time: t0}
		if _, _, err := s.RecordProgress(ctx, p); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, inserted, err := s.RecordProgress(ctx, p); err != nil || inserted {
				b.Fatal(inserted, err)
			}
		}
	})
}

// benchLedgerRows is the ledger size of the totals benchmarks.
const benchLedgerRows = 100_000

// benchLedger returns a store whose ledger holds benchLedgerRows entries
// spread evenly over the 30 days before t0, from 4 instances × 2 proxies
// over the first four stages, written in one transaction.
func benchLedger(b *testing.B) *Store {
	s := openTemp(b)
	ctx := b.Context()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.PrepareContext(ctx,
		`INSERT INTO ledger (source, t_ms, stage, amount_nanoton, instance, proxy, note, tokens, fee_per_token)
		 VALUES (?, ?, ?, ?, ?, ?, '', ?, 16)`)
	if err != nil {
		b.Fatal(err)
	}
	span := 30 * 24 * time.Hour
	for i := range benchLedgerRows {
		at := t0.Add(-span + time.Duration(i)*(span/benchLedgerRows))
		tokens := int64(1000 + i%5000)
		if _, err := stmt.ExecContext(ctx, fmt.Sprintf("bench:%d", i), toMS(at), Stages()[i%4], tokens*16,
			int64(i%4), fmt.Sprintf("proxy-%d", i/4%2), tokens); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkLedgerTotalsSince measures the per-stage totals over the last
// day (about 3300 entries), week and all 30 days of a 100k-entry ledger.
func BenchmarkLedgerTotalsSince(b *testing.B) {
	s := benchLedger(b)
	for _, period := range []struct {
		name string
		d    time.Duration
	}{{"day", 24 * time.Hour}, {"week", 7 * 24 * time.Hour}, {"all", 31 * 24 * time.Hour}} {
		b.Run(period.name, func(b *testing.B) {
			since := t0.Add(-period.d)
			for b.Loop() {
				if _, err := s.LedgerTotalsSince(b.Context(), since); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLedgerByProxy measures the per-(instance, proxy) totals over the
// last day and all 30 days of a 100k-entry ledger.
func BenchmarkLedgerByProxy(b *testing.B) {
	s := benchLedger(b)
	for _, period := range []struct {
		name string
		d    time.Duration
	}{{"day", 24 * time.Hour}, {"all", 31 * 24 * time.Hour}} {
		b.Run(period.name, func(b *testing.B) {
			since := t0.Add(-period.d)
			for b.Loop() {
				got, err := s.LedgerByProxy(b.Context(), since)
				if err != nil || len(got) != 8 {
					b.Fatal(len(got), err)
				}
			}
		})
	}
}
