package worker

import (
	"os"
	"testing"
	"time"
)

// BenchmarkParseStats parses the interface notes' example /jsonstats.
func BenchmarkParseStats(b *testing.B) {
	raw, err := os.ReadFile("testdata/jsonstats_example.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseStats(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrackerObserve turns one document into activity and
// settlements, as the engine does once a second per worker.
func BenchmarkTrackerObserve(b *testing.B) {
	raw, err := os.ReadFile("testdata/jsonstats_example.json")
	if err != nil {
		b.Fatal(err)
	}
	st, err := ParseStats(raw)
	if err != nil {
		b.Fatal(err)
	}
	var tr Tracker
	now := time.Unix(1_764_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		st.Counters.Queries[0]++
		tr.Observe(now, st)
	}
}
