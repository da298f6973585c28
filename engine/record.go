package engine

import (
	"context"
	"database/sql"

	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
)

// record stores one telemetry sample per GPU, and each GPU once per run in the
// list of GPUs seen.
func (s *Service) record(ctx context.Context, st *store.Store, inv gpu.Inventory, seen map[string]bool) error {
	samples := make([]store.Sample, 0, len(inv.GPUs))
	for _, g := range inv.GPUs {
		key := g.Key()
		if !seen[key] {
			if err := st.UpsertGPU(ctx, store.GPUSeen{Key: key, Name: g.Name, PCIBusID: g.BusID, UUID: g.UUID, LastSeen: inv.Time}); err != nil {
				return err
			}
			seen[key] = true
		}
		if g.Source != gpu.SourceNVML {
			continue // sysfs-only GPUs have no telemetry
		}
		samples = append(samples, store.Sample{GPUKey: key, Time: inv.Time, UtilPct: reading(g.UtilizationPct),
			MemUsedMiB: reading(g.MemoryUsedMiB), TempC: reading(g.TemperatureC), PowerW: reading(g.PowerDrawW)})
	}
	if len(samples) == 0 {
		return nil
	}
	return st.AddSamples(ctx, samples)
}

// reading converts an optional telemetry value into the store's nullable form.
func reading[T uint32 | uint64 | float64](v *T) sql.Null[float64] {
	if v == nil {
		return sql.Null[float64]{}
	}
	return store.Known(float64(*v))
}
