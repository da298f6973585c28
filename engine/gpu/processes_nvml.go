//go:build linux && cgo

package gpu

import (
	"context"
	"fmt"
	"slices"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Processes lists, for each GPU NVML reports, the distinct processes
// running compute or graphics work on it, sorted by PID. It uses the
// session Scan opened and opens none itself: before the first Scan, or
// while NVML is unavailable, it returns nil and no error. A GPU whose
// lists cannot be read is left out.
func (s *Scanner) Processes(ctx context.Context) ([]GPUProcesses, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.session == nil {
		return nil, nil
	}
	return s.session.processes(ctx)
}

func (s *nvmlSession) processes(ctx context.Context) ([]GPUProcesses, error) {
	var r recorder
	var count int
	if !r.call("device count", func() (ret nvml.Return) { count, ret = s.lib.DeviceGetCount(); return }) {
		return nil, fmt.Errorf("gpu processes: nvml device count: %v", r.notes)
	}
	var out []GPUProcesses
	for i := range count {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var dev nvml.Device
		if !r.call("handle", func() (ret nvml.Return) { dev, ret = s.lib.DeviceGetHandleByIndex(i); return }) || dev == nil {
			continue
		}
		g := GPU{}
		var uuid string
		if r.call("uuid", func() (ret nvml.Return) { uuid, ret = dev.GetUUID(); return }) {
			g.UUID = uuid
		}
		if g.UUID == "" {
			var pci nvml.PciInfo
			if r.call("pci info", func() (ret nvml.Return) { pci, ret = dev.GetPciInfo(); return }) {
				g.BusID = pciBusID(pci)
			}
		}
		pids, known := runningPIDs(dev, &r)
		if !known {
			continue
		}
		gp := GPUProcesses{Index: i, Key: g.Key(), Processes: make([]Process, 0, len(pids))}
		for _, pid := range pids {
			p := Process{PID: pid}
			var name string
			if r.call("process name", func() (ret nvml.Return) { name, ret = s.lib.SystemGetProcessName(int(pid)); return }) {
				p.Name = name
			}
			gp.Processes = append(gp.Processes, p)
		}
		out = append(out, gp)
	}
	return out, nil
}

// runningPIDs returns the distinct PIDs among dev's compute and graphics
// processes, sorted; known is false when neither list could be read.
func runningPIDs(dev nvml.Device, r *recorder) (pids []uint32, known bool) {
	var procs []nvml.ProcessInfo
	for _, list := range []struct {
		field string
		get   func() ([]nvml.ProcessInfo, nvml.Return)
	}{{"compute processes", dev.GetComputeRunningProcesses}, {"graphics processes", dev.GetGraphicsRunningProcesses}} {
		if r.call(list.field, func() (ret nvml.Return) { procs, ret = list.get(); return }) {
			known = true
			for _, p := range procs {
				pids = append(pids, p.Pid)
			}
		}
	}
	slices.Sort(pids)
	return slices.Compact(pids), known
}
