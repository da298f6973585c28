package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// BenchmarkPoll is what the engine does with one /jsonstats read of a
// worker: parse the document, turn it into activity and settlements,
// store the activity sample, and publish the new state. "steady": the
// counters moved, no settlement is due; "settle": every read also raises
// the earned and committed marks (each rise a fsynced ledger entry).
func BenchmarkPoll(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("worker", "testdata", "jsonstats_example.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		settle bool
	}{{"steady", false}, {"settle", true}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			s := New(Options{Root: b.TempDir(), NVML: noNVML(), SettleInterval: time.Hour})
			defer s.Close()
			db, err := store.Open(ctx, filepath.Join(b.TempDir(), store.DefaultFileName))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			s.mu.Lock()
			s.store = db
			s.mu.Unlock()
			m := &monitor{instance: 0, settleEvery: time.Hour}
			now := time.Unix(1_764_000_000, 0)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				st, err := worker.ParseStats(raw)
				if err != nil {
					b.Fatal(err)
				}
				for j := range st.Counters.Queries {
					st.Counters.Queries[j] += float64(i)
				}
				if c.settle && len(st.Proxies) > 0 {
					st.Proxies[0].EarnedTokensMaxKnown += int64(i) * 100
					st.Proxies[0].EarnedTokensCommittedToProxyDB += int64(i) * 100
				}
				now = now.Add(time.Second)
				s.observe(ctx, m, now, st, c.settle)
			}
		})
	}
}
