package store

import (
	"context"
	"fmt"
	"time"
)

// GPUSeen is a GPU the app has seen on this host.
type GPUSeen struct {
	// Key identifies the GPU: its UUID, or "pci:<bus id>" when it has none.
	Key      string
	Name     string
	PCIBusID string
	UUID     string
	// FirstSeen and LastSeen bound the times the GPU was seen.
	FirstSeen time.Time
	LastSeen  time.Time
}

// UpsertGPU records that g was seen. A new key is inserted; for a known key
// the non-empty Name, PCIBusID and UUID replace the stored ones, FirstSeen
// only moves earlier and LastSeen only later. A zero FirstSeen means
// LastSeen; LastSeen must be set.
func (s *Store) UpsertGPU(ctx context.Context, g GPUSeen) error {
	if g.Key == "" {
		return fmt.Errorf("upsert gpu: %w: empty key", ErrInvalid)
	}
	if g.LastSeen.IsZero() {
		return fmt.Errorf("upsert gpu %q: %w: LastSeen is not set", g.Key, ErrInvalid)
	}
	if g.FirstSeen.IsZero() {
		g.FirstSeen = g.LastSeen
	}
	if g.FirstSeen.After(g.LastSeen) {
		return fmt.Errorf("upsert gpu %q: %w: FirstSeen is after LastSeen", g.Key, ErrInvalid)
	}
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO gpus (key, name, pci_bus_id, uuid, first_seen_ms, last_seen_ms)
		 VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (key) DO UPDATE SET
		   name          = CASE WHEN excluded.name <> '' THEN excluded.name ELSE name END,
		   pci_bus_id    = CASE WHEN excluded.pci_bus_id <> '' THEN excluded.pci_bus_id ELSE pci_bus_id END,
		   uuid          = CASE WHEN excluded.uuid <> '' THEN excluded.uuid ELSE uuid END,
		   first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
		   last_seen_ms  = max(last_seen_ms, excluded.last_seen_ms)`,
		g.Key, g.Name, g.PCIBusID, g.UUID, toMS(g.FirstSeen), toMS(g.LastSeen))
	if err != nil {
		return classify(s.path, fmt.Sprintf("upsert gpu %q", g.Key), err)
	}
	return nil
}

// GPUsSeen returns every GPU seen, ordered by key.
func (s *Store) GPUsSeen(ctx context.Context) ([]GPUSeen, error) {
	const what = "list gpus seen"
	rows, err := s.db.QueryContext(ctx,
		`SELECT key, name, pci_bus_id, uuid, first_seen_ms, last_seen_ms FROM gpus ORDER BY key`)
	if err != nil {
		return nil, classify(s.path, what, err)
	}
	defer rows.Close()
	var out []GPUSeen
	for rows.Next() {
		var g GPUSeen
		var first, last int64
		if err := rows.Scan(&g.Key, &g.Name, &g.PCIBusID, &g.UUID, &first, &last); err != nil {
			return nil, classify(s.path, what, err)
		}
		g.FirstSeen, g.LastSeen = fromMS(first), fromMS(last)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(s.path, what, err)
	}
	return out, nil
}
