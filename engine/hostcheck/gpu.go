package hostcheck

import (
	"fmt"
	"slices"
	"strings"
)

// ProdGPUMemMiB is the least VRAM of a supported data-centre GPU: an H100
// 80 GB, for which NVML reports 81 559 MiB (the driver reserves the rest
// of 80 GiB), so the bound sits a little below that.
const ProdGPUMemMiB = 80_000

func (h *host) supportedGPUs() []GPU {
	var out []GPU
	for _, g := range h.in.GPUs {
		if g.CCCapable {
			out = append(out, g)
		}
	}
	return out
}

func gpuList(gs []GPU) string {
	var names []string
	for _, g := range gs {
		names = append(names, fmt.Sprintf("%s at %s", nonEmpty(g.Name, "NVIDIA "+g.DeviceID), g.PCIBusID))
	}
	return strings.Join(names, ", ")
}

func (h *host) checkGPU() Check {
	c := Check{ID: "gpu", Title: "Supported GPU",
		Why: "COCOON serves models on NVIDIA GPUs with confidential computing (H100, H200, B200 class), so that the GPU memory is protected too. Dev mode needs no GPU."}
	c.DevStatus = StatusOK
	sup := h.supportedGPUs()
	switch {
	case len(h.in.GPUs) == 0:
		c.Status, c.Observed = StatusFail, "no GPU found"
		c.fix("none", "Earning needs an NVIDIA H100 or newer data-centre GPU. You can still try dev mode without one.")
	case len(sup) == 0:
		c.Status = StatusFail
		c.Observed = "found " + gpuList(h.in.GPUs) + ": no confidential-computing support"
		c.fix("no_cc", "Earning needs an NVIDIA GPU with confidential computing (H100, H200, H800, GH200 or B200). You can still try dev mode.")
	default:
		c.Status, c.Observed = StatusOK, gpuList(sup)
		for _, g := range sup {
			if g.MemoryMiB != 0 && g.MemoryMiB < ProdGPUMemMiB {
				c.Status = StatusWarn
				c.fix("small", "This GPU has less memory than an H100; only smaller models will fit.")
			}
		}
	}
	return c
}

func (h *host) checkNVIDIADriver() Check {
	c := Check{ID: "nvidia_driver", Title: "NVIDIA driver on the host",
		Why: "The worker VM brings its own NVIDIA driver; the host driver only lets this app show GPU telemetry and confidential-computing state before the GPU is handed to the VM."}
	n := h.in.NVML
	switch {
	case n.Loaded:
		c.Status = StatusOK
		c.Observed = fmt.Sprintf("driver %s, CUDA %s", nonEmpty(n.DriverVersion, "unknown"), nonEmpty(n.CUDAVersion, "unknown"))
	case len(h.in.GPUs) == 0:
		c.Status, c.Observed = StatusWarn, "not loaded: "+nonEmpty(n.Reason, "NVML unavailable")
	default:
		c.Status = StatusWarn
		c.Observed = "not loaded: " + nonEmpty(n.Reason, "NVML unavailable") + "; GPUs bound to vfio-pci are seen through sysfs only"
		c.fix("install", "Not needed for earning. For live GPU telemetry while the GPU is not passed through, install the NVIDIA driver (580 series).")
	}
	return c
}

func (h *host) checkGPUCC() Check {
	c := Check{ID: "gpu_cc", Title: "GPU confidential-computing mode",
		Why: "The worker VM only becomes ready when its GPU attests in confidential-computing mode."}
	sup := h.supportedGPUs()
	if len(sup) == 0 {
		c.Status, c.Observed = StatusUnknown, "no supported GPU"
		return c
	}
	// The engine judged the mode (CCReasons); this only sorts the GPUs.
	var on, bad, unknown, fixes []string
	for _, g := range sup {
		switch {
		case g.CCMode == "":
			unknown = append(unknown, g.PCIBusID)
		case len(g.CCReasons) == 0:
			on = append(on, g.PCIBusID)
		default:
			bad = append(bad, fmt.Sprintf("%s is %s", g.PCIBusID, g.CCMode))
		}
		for _, r := range g.CCReasons {
			if !slices.Contains(fixes, r) {
				fixes = append(fixes, r)
			}
		}
	}
	var parts []string
	if len(on) > 0 {
		parts = append(parts, "on for "+strings.Join(on, ", "))
	}
	parts = append(parts, bad...)
	if len(unknown) > 0 {
		parts = append(parts, "cannot be read for "+strings.Join(unknown, ", ")+" (NVML cannot see a GPU bound to vfio-pci)")
	}
	c.Observed = strings.Join(parts, "; ")
	c.Fix = strings.Join(fixes, " ")
	switch {
	case len(bad) > 0:
		c.Status = StatusFail
	case len(unknown) > 0:
		c.Status = StatusUnknown
	default:
		c.Status = StatusOK
	}
	return c
}

func (h *host) checkGPUVFIO() Check {
	c := Check{ID: "gpu_vfio", Title: "GPU ready for passthrough",
		Why: "The whole IOMMU group of the GPU is given to the VM, so it must hold nothing the host still uses, and the GPU must be bound to vfio-pci."}
	sup := h.supportedGPUs()
	if len(sup) == 0 {
		c.Status, c.Observed = StatusUnknown, "no supported GPU"
		return c
	}
	var notes, unbound, shared []string
	for _, g := range sup {
		if g.Driver == "vfio-pci" {
			notes = append(notes, g.PCIBusID+" on vfio-pci")
		} else {
			unbound = append(unbound, g.PCIBusID)
			notes = append(notes, fmt.Sprintf("%s on %s", g.PCIBusID, nonEmpty(g.Driver, "no driver")))
		}
		for _, p := range g.SlotPeers {
			if p.Driver != "" && p.Driver != "vfio-pci" {
				unbound = append(unbound, p.Address)
			}
		}
		for _, p := range g.IOMMUPeers {
			if p.Driver == "" || p.Driver == "vfio-pci" {
				continue
			}
			shared = append(shared, fmt.Sprintf("%s shares IOMMU group %s with %s (class %s, driver %s)", g.PCIBusID, g.IOMMUGroup, p.Address, p.Class, p.Driver))
		}
	}
	c.Observed = strings.Join(append(notes, shared...), "; ")
	switch {
	case len(shared) > 0:
		c.Status = StatusFail
		c.fix("shared_group", "Move the GPU to a PCIe slot with its own IOMMU group, or enable ACS for its root port in the BIOS; devices the host uses cannot go into the VM with it.")
	case len(unbound) > 0:
		c.Status = StatusWarn
		devices := strings.Join(unbound, ", ")
		c.fix("unbound", "Bind to vfio-pci before earning, as root, for each of "+devices+
			": echo vfio-pci > /sys/bus/pci/devices/BDF/driver_override; echo BDF > /sys/bus/pci/devices/BDF/driver/unbind; echo BDF > /sys/bus/pci/drivers_probe")
		c.FixArgs = map[string]string{"Devices": devices}
	default:
		c.Status = StatusOK
	}
	return c
}
