package store

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestUpsertGPU(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

	steps := []GPUSeen{
		{Key: "GPU-1111", Name: "NVIDIA H100", PCIBusID: "0000:01:00.0", UUID: "GPU-1111", FirstSeen: at(0), LastSeen: at(5)},
		{Key: "pci:0000:02:00.0", Name: "NVIDIA H200", PCIBusID: "0000:02:00.0", LastSeen: at(1)},
		// Seen again later, name unknown this time: the name stays.
		{Key: "GPU-1111", PCIBusID: "0000:81:00.0", LastSeen: at(10)},
		// A late report of an earlier sighting moves FirstSeen back only.
		{Key: "GPU-1111", FirstSeen: at(-3), LastSeen: at(-2)},
	}
	for _, g := range steps {
		if err := s.UpsertGPU(ctx, g); err != nil {
			t.Fatalf("UpsertGPU(%+v): %v", g, err)
		}
	}
	got, err := s.GPUsSeen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []GPUSeen{
		{Key: "GPU-1111", Name: "NVIDIA H100", PCIBusID: "0000:81:00.0", UUID: "GPU-1111", FirstSeen: at(-3), LastSeen: at(10)},
		{Key: "pci:0000:02:00.0", Name: "NVIDIA H200", PCIBusID: "0000:02:00.0", FirstSeen: at(1), LastSeen: at(1)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GPUsSeen =\n%+v\nwant\n%+v", got, want)
	}
	for _, g := range got {
		if g.LastSeen.Location() != time.UTC {
			t.Errorf("LastSeen not UTC: %v", g.LastSeen)
		}
	}

	bad := []GPUSeen{
		{LastSeen: at(0)},
		{Key: "k"},
		{Key: "k", FirstSeen: at(2), LastSeen: at(1)},
	}
	for _, g := range bad {
		if err := s.UpsertGPU(ctx, g); !errors.Is(err, ErrInvalid) {
			t.Errorf("UpsertGPU(%+v) = %v, want ErrInvalid", g, err)
		}
	}
}
