package gpu

import (
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest/gpucc"
)

// Source says which discovery path found a GPU.
type Source string

// Discovery sources.
const (
	// SourceNVML: reported by NVML, enriched with sysfs facts when the
	// same PCI bus id was found there too.
	SourceNVML Source = "nvml"
	// SourceSysfs: a display controller found only on the PCI bus, for
	// example a GPU bound to vfio-pci or one without the NVIDIA driver.
	SourceSysfs Source = "sysfs"
)

// Inventory is the result of one scan.
type Inventory struct {
	Time time.Time  `json:"time"`
	NVML NVMLStatus `json:"nvml"`
	GPUs []GPU      `json:"gpus"`
	// Notes are problems not tied to one GPU, such as an unreadable
	// sys/bus/pci/devices.
	Notes []string `json:"notes,omitempty"`
}

// NVMLStatus describes whether NVML could be used and the system-wide
// facts it reported.
type NVMLStatus struct {
	// Loaded is true when NVML is initialised and answered this scan.
	Loaded bool `json:"loaded"`
	// Reason says in words why NVML is not loaded; empty when Loaded.
	Reason string `json:"reason,omitempty"`
	// DriverVersion is the NVIDIA driver version, e.g. "550.54.15".
	DriverVersion string `json:"driver_version,omitempty"`
	// CUDAVersion is the highest CUDA version the driver supports, e.g. "12.4".
	CUDAVersion string `json:"cuda_version,omitempty"`
	// CC is the system's confidential-computing state and its verdict, as
	// gpucc.GPUCCState reads it: read when NVML is initialised or the set
	// of GPUs changes, else reused for up to CCInterval, so it may be that
	// old. Nil while NVML is not loaded. Treat it as read-only: successive
	// inventories share it.
	CC *gpucc.CCReport `json:"cc,omitempty"`
	// Notes are system-level NVML calls that failed unexpectedly.
	Notes []string `json:"notes,omitempty"`
}

// GPU is one GPU (a PCI display controller). Pointer fields are nil and
// string fields empty when unknown.
type GPU struct {
	Source Source `json:"source"`
	// Index is NVML's device index; nil for sysfs-only GPUs.
	Index *int   `json:"index,omitempty"`
	Name  string `json:"name,omitempty"`
	UUID  string `json:"uuid,omitempty"`
	// BusID is the PCI address in sysfs form, e.g. "0000:17:00.0".
	BusID string `json:"bus_id,omitempty"`
	// VendorID and DeviceID are 4 lowercase hex digits, e.g. "10de", "2330".
	VendorID string `json:"vendor_id,omitempty"`
	DeviceID string `json:"device_id,omitempty"`
	// Class is the 6-hex-digit PCI class code, e.g. "030200".
	Class string `json:"class,omitempty"`
	// Model is the entry of the built-in model table, nil if not listed.
	Model *Model `json:"model,omitempty"`
	// Architecture is NVIDIA's architecture name, e.g. "Hopper".
	Architecture string `json:"architecture,omitempty"`
	// KernelDriver is the bound driver, e.g. "nvidia" or "vfio-pci".
	KernelDriver string `json:"kernel_driver,omitempty"`
	// IOMMUGroup is the IOMMU group number; empty when the IOMMU is off.
	IOMMUGroup string `json:"iommu_group,omitempty"`
	// IOMMUPeers are the other devices in the same IOMMU group.
	IOMMUPeers []PCIDevice `json:"iommu_peers,omitempty"`

	MemoryTotalMiB    *uint64  `json:"memory_total_mib,omitempty"`
	MemoryUsedMiB     *uint64  `json:"memory_used_mib,omitempty"`
	ComputeCapability string   `json:"compute_capability,omitempty"`
	UtilizationPct    *uint32  `json:"utilization_pct,omitempty"`
	TemperatureC      *uint32  `json:"temperature_c,omitempty"`
	PowerDrawW        *float64 `json:"power_draw_w,omitempty"`
	PowerLimitW       *float64 `json:"power_limit_w,omitempty"`
	// Processes counts distinct processes running compute or graphics work.
	Processes *int `json:"processes,omitempty"`

	// CC-protected and unprotected video memory, and protected memory in
	// use, from NVMLStatus.CC; set only while CC mode is on.
	CCProtectedMiB     *uint64 `json:"cc_protected_mib,omitempty"`
	CCUnprotectedMiB   *uint64 `json:"cc_unprotected_mib,omitempty"`
	CCProtectedUsedMiB *uint64 `json:"cc_protected_used_mib,omitempty"`

	// Notes are fields that failed for a reason other than "not supported",
	// e.g. "temperature: ERROR_UNKNOWN".
	Notes []string `json:"notes,omitempty"`
}

// PCIDevice is a PCI function as sysfs describes it.
type PCIDevice struct {
	Address  string `json:"address"`
	VendorID string `json:"vendor_id,omitempty"`
	DeviceID string `json:"device_id,omitempty"`
	Class    string `json:"class,omitempty"`
	Driver   string `json:"driver,omitempty"`
}

// Key identifies the GPU across runs: its UUID when known, else "pci:"
// and its bus id. It is empty when neither is known.
func (g GPU) Key() string {
	switch {
	case g.UUID != "":
		return g.UUID
	case g.BusID != "":
		return "pci:" + g.BusID
	}
	return ""
}

// IsNVIDIA reports whether the GPU's PCI vendor is NVIDIA.
func (g GPU) IsNVIDIA() bool { return g.VendorID == VendorNVIDIA }

// CCCapable reports whether the model supports NVIDIA confidential
// computing; ok is false when the model is not in the table.
func (g GPU) CCCapable() (capable, ok bool) {
	if g.Model == nil {
		return false, false
	}
	return g.Model.CCCapable, true
}

// ForeignIOMMUPeers returns the IOMMU peers that are neither other
// functions of the GPU's own PCI slot (its audio or USB functions) nor PCI
// bridges (class 0604xx, which VFIO tolerates). Passing the GPU through to
// a VM needs each of them passed through or unbound too.
func (g GPU) ForeignIOMMUPeers() []PCIDevice {
	var out []PCIDevice
	slot := pciSlot(g.BusID)
	for _, p := range g.IOMMUPeers {
		if strings.HasPrefix(p.Class, classPCIBridge) || (slot != "" && pciSlot(p.Address) == slot) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// pciSlot returns "domain:bus:device" of an address, without the function.
func pciSlot(addr string) string {
	if i := strings.LastIndexByte(addr, '.'); i > 0 {
		return addr[:i]
	}
	return ""
}

// NormalizeBusID converts a PCI address to the sysfs form used as the
// merge key: lowercase with a domain of at least 4 digits. NVML's
// "00000000:17:00.0" becomes "0000:17:00.0"; an address without a domain
// gets "0000:".
func NormalizeBusID(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	switch strings.Count(s, ":") {
	case 1:
		return "0000:" + s
	case 2:
		i := strings.IndexByte(s, ':')
		if i == 4 {
			return s
		}
		dom := strings.TrimLeft(s[:i], "0")
		if len(dom) < 4 {
			dom = "0000"[len(dom):] + dom
		}
		return dom + s[i:]
	}
	return s
}
