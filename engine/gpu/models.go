package gpu

import "strings"

// VendorNVIDIA is NVIDIA's PCI vendor id.
const VendorNVIDIA = "10de"

// NVIDIA architecture names used in Model.Architecture and GPU.Architecture.
const (
	ArchAmpere    = "Ampere"
	ArchAda       = "Ada Lovelace"
	ArchHopper    = "Hopper"
	ArchBlackwell = "Blackwell"
)

// Model is a known GPU model.
type Model struct {
	Name         string `json:"name"`
	Architecture string `json:"architecture"`
	// CCCapable is true for parts that support NVIDIA confidential
	// computing (Hopper and Blackwell data-centre GPUs).
	CCCapable bool `json:"cc_capable"`
}

// nvidiaModels maps NVIDIA PCI device ids (lowercase hex) to models. Ids
// and names follow the pci.ids database (version 2026.07.31).
var nvidiaModels = map[string]Model{
	// Hopper data centre: confidential computing.
	"2330": {"H100 SXM5 80GB", ArchHopper, true},
	"2331": {"H100 PCIe", ArchHopper, true},
	"2321": {"H100 NVL", ArchHopper, true}, // pci.ids: "H100L 94GB"
	"2336": {"H100", ArchHopper, true},
	"2337": {"H100 SXM5 64GB", ArchHopper, true},
	"2338": {"H100 SXM5 96GB", ArchHopper, true},
	"2339": {"H100 SXM5 94GB", ArchHopper, true},
	"233d": {"H100 96GB", ArchHopper, true},
	"2335": {"H200 SXM 141GB", ArchHopper, true},
	"233b": {"H200 NVL", ArchHopper, true},
	"2322": {"H800 PCIe", ArchHopper, true},
	"2324": {"H800", ArchHopper, true},
	"233a": {"H800L 94GB", ArchHopper, true},
	"2342": {"GH200 120GB / 480GB", ArchHopper, true},
	"2348": {"GH200 144GB HBM3e", ArchHopper, true},

	// Blackwell data centre: confidential computing.
	"2901": {"B200", ArchBlackwell, true},

	// Ampere.
	"20b0": {"A100 SXM4 40GB", ArchAmpere, false},
	"20b1": {"A100 PCIe 40GB", ArchAmpere, false},
	"20b2": {"A100 SXM4 80GB", ArchAmpere, false},
	"20b5": {"A100 PCIe 80GB", ArchAmpere, false},
	"20f1": {"A100 PCIe 40GB", ArchAmpere, false},
	"20b7": {"A30", ArchAmpere, false},
	"2236": {"A10", ArchAmpere, false},
	"2237": {"A10G", ArchAmpere, false},
	"2230": {"RTX A6000", ArchAmpere, false},
	"2203": {"GeForce RTX 3090 Ti", ArchAmpere, false},
	"2204": {"GeForce RTX 3090", ArchAmpere, false},
	"2206": {"GeForce RTX 3080", ArchAmpere, false},
	"2208": {"GeForce RTX 3080 Ti", ArchAmpere, false},
	"220a": {"GeForce RTX 3080 12GB", ArchAmpere, false},
	"2216": {"GeForce RTX 3080 LHR", ArchAmpere, false},
	"2482": {"GeForce RTX 3070 Ti", ArchAmpere, false},
	"2484": {"GeForce RTX 3070", ArchAmpere, false},
	"2488": {"GeForce RTX 3070 LHR", ArchAmpere, false},
	"2486": {"GeForce RTX 3060 Ti", ArchAmpere, false},
	"2489": {"GeForce RTX 3060 Ti LHR", ArchAmpere, false},
	"2487": {"GeForce RTX 3060", ArchAmpere, false},
	"2503": {"GeForce RTX 3060", ArchAmpere, false},
	"2504": {"GeForce RTX 3060 LHR", ArchAmpere, false},
	"2544": {"GeForce RTX 3060", ArchAmpere, false},

	// Ada Lovelace.
	"27b8": {"L4", ArchAda, false},
	"26b5": {"L40", ArchAda, false},
	"26b9": {"L40S", ArchAda, false},
	"26b1": {"RTX 6000 Ada Generation", ArchAda, false},
	"2684": {"GeForce RTX 4090", ArchAda, false},
	"2685": {"GeForce RTX 4090 D", ArchAda, false},
	"2704": {"GeForce RTX 4080", ArchAda, false},
	"2702": {"GeForce RTX 4080 SUPER", ArchAda, false},
	"2782": {"GeForce RTX 4070 Ti", ArchAda, false},
	"2705": {"GeForce RTX 4070 Ti SUPER", ArchAda, false},
	"2786": {"GeForce RTX 4070", ArchAda, false},
	"2783": {"GeForce RTX 4070 SUPER", ArchAda, false},
	"2803": {"GeForce RTX 4060 Ti", ArchAda, false},
	"2805": {"GeForce RTX 4060 Ti 16GB", ArchAda, false},
	"2882": {"GeForce RTX 4060", ArchAda, false},

	// Blackwell consumer: no confidential computing.
	"2b85": {"GeForce RTX 5090", ArchBlackwell, false},
	"2c02": {"GeForce RTX 5080", ArchBlackwell, false},
}

// vendorNames names common PCI vendors of display controllers.
var vendorNames = map[string]string{
	VendorNVIDIA: "NVIDIA",
	"1002":       "AMD",
	"8086":       "Intel",
	"1a03":       "ASPEED",
	"102b":       "Matrox",
	"1af4":       "Red Hat (virtio)",
	"1234":       "QEMU",
	"15ad":       "VMware",
}

// LookupModel returns the known model for a PCI vendor and device id.
// The ids are hex, with or without "0x", in any case ("10de", "0x2330").
func LookupModel(vendorID, deviceID string) (Model, bool) {
	if normalizeID(vendorID) != VendorNVIDIA {
		return Model{}, false
	}
	m, ok := nvidiaModels[normalizeID(deviceID)]
	return m, ok
}

// VendorName returns a short name for a PCI vendor id, or "" when unknown.
func VendorName(vendorID string) string {
	return vendorNames[normalizeID(vendorID)]
}

// normalizeID lowercases a hex id and strips a "0x" prefix and spaces.
func normalizeID(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	return strings.TrimPrefix(id, "0x")
}

// lookupModelPtr is LookupModel returning nil when the model is unknown.
func lookupModelPtr(vendorID, deviceID string) *Model {
	if m, ok := LookupModel(vendorID, deviceID); ok {
		return &m
	}
	return nil
}
