//go:build linux && cgo

package gpu

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

func TestScannerProcesses(t *testing.T) {
	srv := dgxH100()
	srv.SystemGetProcessNameFunc = func(pid int) (string, nvml.Return) {
		if pid == 1001 {
			return "", nvml.ERROR_NOT_FOUND // gone in between
		}
		return fmt.Sprintf("/usr/bin/proc%d", pid), nvml.SUCCESS
	}
	// GPU 3 cannot list its processes at all: it is left out.
	device(srv, 3).GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.ERROR_NOT_SUPPORTED }
	device(srv, 3).GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.ERROR_NOT_SUPPORTED }
	s := NewScanner(Options{NVML: srv})
	ctx := context.Background()
	if ps, err := s.Processes(ctx); err != nil || ps != nil {
		t.Fatalf("before the first scan: %v, %v; want nothing (no NVML session)", ps, err)
	}
	inv, err := s.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := s.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 7 {
		t.Fatalf("processes of %d GPUs, want 7 (8 less the one that cannot list them): %+v", len(ps), ps)
	}
	for _, gp := range ps {
		if gp.Key == "" || gp.Key != inv.GPUs[gp.Index].Key() {
			t.Errorf("GPU %d: key %q, want the inventory's %q", gp.Index, gp.Key, inv.GPUs[gp.Index].Key())
		}
		if gp.Index == 3 {
			t.Errorf("GPU 3 is listed though its lists cannot be read")
		}
		// completeDevice: GPU i runs PIDs 1000…1000+i-1 (1000 as both
		// compute and graphics); listed once each, sorted.
		if len(gp.Processes) != gp.Index {
			t.Errorf("GPU %d: %d processes, want %d: %+v", gp.Index, len(gp.Processes), gp.Index, gp.Processes)
			continue
		}
		for j, p := range gp.Processes {
			want := Process{PID: uint32(1000 + j), Name: fmt.Sprintf("/usr/bin/proc%d", 1000+j)}
			if p.PID == 1001 {
				want.Name = ""
			}
			if p != want {
				t.Errorf("GPU %d process %d: %+v, want %+v", gp.Index, j, p, want)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Processes(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

func TestScannerProcessesWithoutNVML(t *testing.T) {
	s := NewScanner(Options{})
	if _, err := s.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ps, err := s.Processes(context.Background()); err != nil || ps != nil {
		t.Errorf("without NVML: %v, %v; want nothing", ps, err)
	}
}
