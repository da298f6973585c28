//go:build !linux || !cgo

package gpu

import (
	"context"
	"testing"
)

func TestScanWithoutNVML(t *testing.T) {
	inv, err := Discover(context.Background(), Options{NVML: NewNVML(), FS: dgxH100Tree("vfio-pci")})
	if err != nil {
		t.Fatal(err)
	}
	if inv.NVML.Loaded || inv.NVML.Reason != noNVML {
		t.Errorf("NVML = %+v, want not loaded: %q", inv.NVML, noNVML)
	}
	if len(inv.GPUs) == 0 {
		t.Error("sysfs found no GPUs")
	}
	for _, g := range inv.GPUs {
		if g.Source == SourceNVML {
			t.Errorf("GPU %s from NVML", g.Key())
		}
	}
}
