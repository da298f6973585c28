//go:build linux && cgo

package engine

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
)

// noNVML is a library whose Init fails as on a machine without the driver.
func noNVML() nvml.Interface {
	return &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }}
}

// TestRunRecordsTelemetry runs the engine against go-nvml's DGX H100 mock
// and a real database, and checks that samples and GPUs reach the store.
func TestRunRecordsTelemetry(t *testing.T) {
	dir := t.TempDir()
	s := New(Options{Root: t.TempDir(), DataDir: dir, NVML: dgxh100.New(), SampleInterval: 5 * time.Millisecond})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	events := s.Subscribe(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	n := 0
	timeout := time.After(30 * time.Second)
	for n < 4 { // the 4th scan starts after the 3rd sample was stored
		select {
		case ev := <-events:
			if ev.Kind == EventGPUs {
				n++
				if len(ev.State.GPUs.GPUs) != 8 {
					t.Fatalf("event with %d GPUs, want 8", len(ev.State.GPUs.GPUs))
				}
			}
		case <-timeout:
			t.Fatal("no GPU events within 30s")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	st, err := store.Open(context.Background(), filepath.Join(dir, store.DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen, err := st.GPUsSeen(context.Background())
	if err != nil || len(seen) != 8 {
		t.Fatalf("GPUs seen = %d (%v), want 8", len(seen), err)
	}
	samples, err := st.Samples(context.Background(), seen[0].Key, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(samples) < 3 {
		t.Fatalf("samples for %s = %d (%v), want at least 3", seen[0].Key, len(samples), err)
	}
	evs, err := st.Events(context.Background(), 0, 10)
	if err != nil || len(evs) == 0 || evs[0].Kind != "app.start" {
		t.Fatalf("events = %+v (%v)", evs, err)
	}
}
