package gpu

import (
	"strconv"
	"strings"

	"github.com/cocoon-provider/cocoon-provider/attest/gpucc"
)

// Unknown is the text shown for a value that could not be read.
const Unknown = "unknown"

// Row is one label/value line of a description, for a CLI table or a GUI
// list.
type Row struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// FormatText returns s, or Unknown when s is empty.
func FormatText(s string) string {
	if s == "" {
		return Unknown
	}
	return s
}

// FormatMiB formats a size in MiB, e.g. "81559 MiB".
func FormatMiB(v *uint64) string {
	if v == nil {
		return Unknown
	}
	return strconv.FormatUint(*v, 10) + " MiB"
}

// FormatMemory formats used and total memory, e.g. "1024 / 81559 MiB".
func FormatMemory(used, total *uint64) string {
	if total == nil {
		return Unknown
	}
	u := Unknown
	if used != nil {
		u = strconv.FormatUint(*used, 10)
	}
	return u + " / " + FormatMiB(total)
}

// FormatPercent formats a percentage, e.g. "37%".
func FormatPercent(v *uint32) string {
	if v == nil {
		return Unknown
	}
	return strconv.FormatUint(uint64(*v), 10) + "%"
}

// FormatCelsius formats a temperature, e.g. "45 °C".
func FormatCelsius(v *uint32) string {
	if v == nil {
		return Unknown
	}
	return strconv.FormatUint(uint64(*v), 10) + " °C"
}

// FormatWatts formats a power in whole watts, e.g. "312 W".
func FormatWatts(v *float64) string {
	if v == nil {
		return Unknown
	}
	return strconv.FormatFloat(*v, 'f', 0, 64) + " W"
}

// FormatPower formats draw and limit, e.g. "312 W / 700 W".
func FormatPower(draw, limit *float64) string {
	if draw == nil && limit == nil {
		return Unknown
	}
	return FormatWatts(draw) + " / " + FormatWatts(limit)
}

// FormatCount formats a count, e.g. "3".
func FormatCount(v *int) string {
	if v == nil {
		return Unknown
	}
	return strconv.Itoa(*v)
}

// FormatPCIID formats vendor and device ids as "10de:2330".
func FormatPCIID(vendorID, deviceID string) string {
	if vendorID == "" && deviceID == "" {
		return Unknown
	}
	return FormatText(vendorID) + ":" + FormatText(deviceID)
}

// DisplayName is the best human name: NVML's name, the model table's, or
// the vendor and PCI id ("ASPEED device 1a03:2000").
func (g GPU) DisplayName() string {
	switch {
	case g.Name != "":
		return g.Name
	case g.Model != nil:
		return g.Model.Name
	}
	vendor := VendorName(g.VendorID)
	if vendor == "" {
		vendor = "PCI"
	}
	return vendor + " device " + FormatPCIID(g.VendorID, g.DeviceID)
}

// Describe returns the GPU's facts as label/value rows, "unknown" for
// values that could not be read.
func (g GPU) Describe() []Row {
	rows := []Row{
		{"Name", g.DisplayName()},
		{"Source", string(g.Source)},
	}
	if g.Index != nil {
		rows = append(rows, Row{"NVML index", strconv.Itoa(*g.Index)})
	}
	model, cc := Unknown, Unknown
	if g.Model != nil {
		model = g.Model.Name
		cc = "not supported"
		if g.Model.CCCapable {
			cc = "supported"
		}
	}
	rows = append(rows,
		Row{"UUID", FormatText(g.UUID)},
		Row{"PCI address", FormatText(g.BusID)},
		Row{"PCI id", FormatPCIID(g.VendorID, g.DeviceID)},
		Row{"Model", model},
		Row{"Architecture", FormatText(g.Architecture)},
		Row{"Confidential computing", cc},
		Row{"Kernel driver", g.sysfsText(g.KernelDriver, "none")},
		Row{"IOMMU group", g.iommuText()},
		Row{"Memory", FormatMemory(g.MemoryUsedMiB, g.MemoryTotalMiB)},
		Row{"Compute capability", FormatText(g.ComputeCapability)},
		Row{"Utilization", FormatPercent(g.UtilizationPct)},
		Row{"Temperature", FormatCelsius(g.TemperatureC)},
		Row{"Power", FormatPower(g.PowerDrawW, g.PowerLimitW)},
		Row{"Processes", FormatCount(g.Processes)},
	)
	if g.CCProtectedMiB != nil || g.CCProtectedUsedMiB != nil {
		rows = append(rows, Row{"CC protected memory", FormatMemory(g.CCProtectedUsedMiB, g.CCProtectedMiB)})
	}
	if len(g.Notes) > 0 {
		rows = append(rows, Row{"Notes", strings.Join(g.Notes, "; ")})
	}
	return rows
}

// sysfsText formats a value sysfs provides: empty means absent (e.g. no
// driver bound) when sysfs was read, unknown when it was not. Class is
// set only from sysfs, so it tells which.
func (g GPU) sysfsText(v, absent string) string {
	switch {
	case v != "":
		return v
	case g.Class != "":
		return absent
	}
	return Unknown
}

// iommuText formats the IOMMU group and its other members, e.g.
// "30 (with 0000:17:00.1 10de:22ba snd_hda_intel)".
func (g GPU) iommuText() string {
	s := g.sysfsText(g.IOMMUGroup, "none (IOMMU off)")
	if g.IOMMUGroup == "" || len(g.IOMMUPeers) == 0 {
		return s
	}
	peers := make([]string, len(g.IOMMUPeers))
	for i, p := range g.IOMMUPeers {
		peers[i] = p.Address + " " + FormatPCIID(p.VendorID, p.DeviceID)
		if p.Driver != "" {
			peers[i] += " " + p.Driver
		}
	}
	return s + " (with " + strings.Join(peers, ", ") + ")"
}

// Describe returns the NVML status as label/value rows.
func (st NVMLStatus) Describe() []Row {
	state := "loaded"
	if !st.Loaded {
		state = "not loaded"
		if st.Reason != "" {
			state += ": " + st.Reason
		}
	}
	rows := []Row{
		{"NVML", state},
		{"Driver version", FormatText(st.DriverVersion)},
		{"CUDA version", FormatText(st.CUDAVersion)},
	}
	cc := st.CC
	if cc == nil {
		cc = &gpucc.CCReport{}
	}
	rows = append(rows,
		Row{"CC mode", FormatText(cc.Mode)},
		Row{"CC environment", FormatText(cc.Environment)},
		Row{"CC CPU capability", FormatText(cc.CPU)},
		Row{"CC GPUs", FormatText(cc.GPUs)},
		Row{"CC GPUs ready", FormatText(cc.GPUsReady)},
		Row{"CC multi-GPU mode", FormatText(cc.MultiGPU)},
	)
	if len(cc.Notes) > 0 {
		rows = append(rows, Row{"CC notes", strings.Join(cc.Notes, "; ")})
	}
	if len(st.Notes) > 0 {
		rows = append(rows, Row{"Notes", strings.Join(st.Notes, "; ")})
	}
	return rows
}
