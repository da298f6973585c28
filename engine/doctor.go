package engine

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"sync"

	"github.com/cocoon-provider/cocoon-provider/attest/gpucc"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

// Check implements API: it gathers the facts that need QEMU and the GPU
// library (concurrently, each bounded), then lets hostcheck judge them.
func (s *Service) Check(ctx context.Context) (hostcheck.Report, error) {
	in := hostcheck.Inputs{Root: s.opts.Root, DataDir: s.opts.DataDir, Now: s.opts.Now()}

	var wg sync.WaitGroup
	var inv gpu.Inventory
	var gpuErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		inv, gpuErr = s.GPUs(ctx)
	}()

	qemu, qerr := s.opts.Inspect(ctx, s.opts.QEMU)
	in.QEMU = qemuFacts(qemu, qerr)
	if qerr == nil {
		probe := func(accel vm.Accel, out *hostcheck.ProbeFacts) {
			defer wg.Done()
			r := s.opts.Probe(ctx, qemu.Path, accel, s.opts.ProbeTimeout)
			*out = hostcheck.ProbeFacts{Ran: true, OK: r.OK, Reason: r.Reason, Duration: r.Duration}
		}
		wg.Add(1)
		go probe(vm.AccelTCG, &in.TCG)
		if s.kvmDevicePresent() {
			wg.Add(1)
			go probe(vm.AccelKVM, &in.KVM)
		} else {
			in.KVM.Reason = "/dev/kvm is missing"
		}
	} else {
		in.KVM.Reason, in.TCG.Reason = "QEMU is not available", "QEMU is not available"
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return hostcheck.Report{}, err
	}
	if gpuErr != nil {
		s.log.Warn("GPU discovery incomplete", "error", gpuErr)
	}
	in.NVML = hostcheck.NVMLFacts{Loaded: inv.NVML.Loaded, Reason: inv.NVML.Reason,
		DriverVersion: inv.NVML.DriverVersion, CUDAVersion: inv.NVML.CUDAVersion}
	in.GPUs = doctorGPUs(inv)

	r := hostcheck.Run(ctx, in)
	if in.KVM.Ran && !in.KVM.OK {
		s.log.Info("KVM present but unusable; dev mode will use software emulation", "reason", in.KVM.Reason)
	}
	s.update(EventReport, r.Production.Summary, func(st *State) { st.Report = &r })
	return r, nil
}

func (s *Service) kvmDevicePresent() bool {
	_, err := fs.Stat(s.root, "dev/kvm")
	return err == nil
}

func qemuFacts(q vm.QEMUInfo, err error) hostcheck.QEMUFacts {
	if err != nil && q.Path == "" {
		return hostcheck.QEMUFacts{Err: err.Error()}
	}
	f := hostcheck.QEMUFacts{Found: true, Path: q.Path, Banner: q.Banner, Major: q.Version.Major, Minor: q.Version.Minor, TDX: q.TDX}
	if err != nil {
		f.Err = err.Error()
		if errors.Is(err, vm.ErrNoQEMU) {
			f.Found = false
		}
	}
	return f
}

// doctorGPUs hands the doctor the GPU facts it judges. NVML reports the
// confidential-computing mode for the whole system, and attest judges it;
// a GPU whose mode NVML cannot read (one bound to vfio-pci, which NVML
// cannot see) gets how to read it another way.
func doctorGPUs(inv gpu.Inventory) []hostcheck.GPU {
	var ccMode string
	var ccReasons []string
	if cc := inv.NVML.CC; cc != nil && cc.NVML {
		ccReasons = cc.ModeReasons()
		if cc.Mode != gpucc.CCUnsupported {
			ccMode = cc.Mode
		}
	}
	out := make([]hostcheck.GPU, 0, len(inv.GPUs))
	for _, g := range inv.GPUs {
		d := hostcheck.GPU{PCIBusID: g.BusID, Name: g.Name, VendorID: g.VendorID, DeviceID: g.DeviceID,
			Driver: g.KernelDriver, IOMMUGroup: g.IOMMUGroup}
		d.CCCapable, _ = g.CCCapable()
		if d.Name == "" && g.Model != nil {
			d.Name = g.Model.Name
		}
		switch {
		case g.Source != gpu.SourceNVML:
			d.CCReasons = []string{gpucc.CCQueryFix(g.BusID)}
		case ccMode == "":
			d.CCReasons = append(slices.Clip(ccReasons), gpucc.CCQueryFix(g.BusID))
		default:
			d.CCMode, d.CCReasons = ccMode, ccReasons
		}
		if g.MemoryTotalMiB != nil {
			d.MemoryMiB = *g.MemoryTotalMiB
		}
		foreign := map[string]bool{}
		for _, p := range g.ForeignIOMMUPeers() {
			foreign[p.Address] = true
			d.IOMMUPeers = append(d.IOMMUPeers, peer(p))
		}
		for _, p := range g.IOMMUPeers {
			if !foreign[p.Address] {
				d.SlotPeers = append(d.SlotPeers, peer(p))
			}
		}
		out = append(out, d)
	}
	return out
}

func peer(p gpu.PCIDevice) hostcheck.PCIPeer {
	return hostcheck.PCIPeer{Address: p.Address, VendorID: p.VendorID, Class: p.Class, Driver: p.Driver}
}
