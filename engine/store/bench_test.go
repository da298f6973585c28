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
