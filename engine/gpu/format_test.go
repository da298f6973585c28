package gpu

import (
	"testing"

	"github.com/cocoon-provider/cocoon-provider/attest/gpucc"
)

func TestFormatters(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"text", FormatText("nvidia"), "nvidia"},
		{"text unknown", FormatText(""), "unknown"},
		{"MiB", FormatMiB(ptr(uint64(81559))), "81559 MiB"},
		{"MiB unknown", FormatMiB(nil), "unknown"},
		{"memory", FormatMemory(ptr(uint64(1024)), ptr(uint64(81559))), "1024 / 81559 MiB"},
		{"memory used unknown", FormatMemory(nil, ptr(uint64(81559))), "unknown / 81559 MiB"},
		{"memory unknown", FormatMemory(ptr(uint64(1)), nil), "unknown"},
		{"percent", FormatPercent(ptr(uint32(37))), "37%"},
		{"percent unknown", FormatPercent(nil), "unknown"},
		{"celsius", FormatCelsius(ptr(uint32(45))), "45 °C"},
		{"celsius unknown", FormatCelsius(nil), "unknown"},
		{"watts", FormatWatts(ptr(312.6)), "313 W"},
		{"power", FormatPower(ptr(69.0), ptr(700.0)), "69 W / 700 W"},
		{"power limit unknown", FormatPower(ptr(69.0), nil), "69 W / unknown"},
		{"power unknown", FormatPower(nil, nil), "unknown"},
		{"count", FormatCount(ptr(0)), "0"},
		{"count unknown", FormatCount(nil), "unknown"},
		{"pci id", FormatPCIID("10de", "2330"), "10de:2330"},
		{"pci id half", FormatPCIID("10de", ""), "10de:unknown"},
		{"pci id unknown", FormatPCIID("", ""), "unknown"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// rows turns Describe's output into a map, failing on duplicate labels.
func rows(t *testing.T, rs []Row) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, r := range rs {
		if _, dup := m[r.Label]; dup {
			t.Errorf("duplicate row %q", r.Label)
		}
		m[r.Label] = r.Value
	}
	return m
}

func TestDescribeGPU(t *testing.T) {
	full := GPU{
		Source: SourceNVML, Index: ptr(0), Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-1", BusID: "0000:1b:00.0",
		VendorID: "10de", DeviceID: "2330", Class: "030200", Model: lookupModelPtr("10de", "2330"), Architecture: ArchHopper,
		KernelDriver: "nvidia", IOMMUGroup: "20",
		IOMMUPeers:     []PCIDevice{{Address: "0000:1b:00.1", VendorID: "10de", DeviceID: "22ba", Driver: "snd_hda_intel"}},
		MemoryTotalMiB: ptr(uint64(81559)), MemoryUsedMiB: ptr(uint64(0)), ComputeCapability: "9.0",
		UtilizationPct: ptr(uint32(0)), TemperatureC: ptr(uint32(31)), PowerDrawW: ptr(69.0), PowerLimitW: ptr(700.0),
		Processes: ptr(0), CCProtectedMiB: ptr(uint64(80000)), CCProtectedUsedMiB: ptr(uint64(0)),
		Notes: []string{"a", "b"},
	}
	tests := []struct {
		name   string
		g      GPU
		want   map[string]string // rows that must be present with these values
		absent []string
	}{
		{
			name: "everything known",
			g:    full,
			want: map[string]string{
				"Name": "NVIDIA H100 80GB HBM3", "Source": "nvml", "NVML index": "0", "UUID": "GPU-1",
				"PCI address": "0000:1b:00.0", "PCI id": "10de:2330", "Model": "H100 SXM5 80GB", "Architecture": "Hopper",
				"Confidential computing": "supported", "Kernel driver": "nvidia",
				"IOMMU group": "20 (with 0000:1b:00.1 10de:22ba snd_hda_intel)", "Memory": "0 / 81559 MiB",
				"Compute capability": "9.0", "Utilization": "0%", "Temperature": "31 °C", "Power": "69 W / 700 W",
				"Processes": "0", "CC protected memory": "0 / 80000 MiB", "Notes": "a; b",
			},
		},
		{
			name: "NVML GPU without sysfs facts",
			g:    GPU{Source: SourceNVML, Index: ptr(2), Name: "NVIDIA L4"},
			want: map[string]string{
				"Name": "NVIDIA L4", "UUID": "unknown", "PCI id": "unknown", "Model": "unknown",
				"Confidential computing": "unknown", "Kernel driver": "unknown", "IOMMU group": "unknown",
				"Memory": "unknown", "Temperature": "unknown", "Power": "unknown", "Processes": "unknown",
			},
			absent: []string{"CC protected memory", "Notes"},
		},
		{
			name: "sysfs GPU without driver or IOMMU",
			g:    GPU{Source: SourceSysfs, BusID: "0000:03:00.0", VendorID: "1a03", DeviceID: "2000", Class: "030000"},
			want: map[string]string{
				"Name": "ASPEED device 1a03:2000", "Source": "sysfs", "Kernel driver": "none",
				"IOMMU group": "none (IOMMU off)", "Confidential computing": "unknown",
			},
			absent: []string{"NVML index"},
		},
		{
			name: "consumer GPU",
			g:    GPU{Source: SourceSysfs, VendorID: "10de", DeviceID: "2684", Model: lookupModelPtr("10de", "2684"), Class: "030000", IOMMUGroup: "12"},
			want: map[string]string{"Name": "GeForce RTX 4090", "Confidential computing": "not supported", "IOMMU group": "12"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rows(t, tt.g.Describe())
			for label, want := range tt.want {
				if got[label] != want {
					t.Errorf("%s = %q, want %q", label, got[label], want)
				}
			}
			for _, label := range tt.absent {
				if _, ok := got[label]; ok {
					t.Errorf("row %q present", label)
				}
			}
		})
	}
}

func TestDescribeNVMLStatus(t *testing.T) {
	tests := []struct {
		name string
		st   NVMLStatus
		want map[string]string
	}{
		{
			name: "not loaded",
			st:   NVMLStatus{Reason: "the NVIDIA kernel driver is not loaded (ERROR_DRIVER_NOT_LOADED)"},
			want: map[string]string{
				"NVML":           "not loaded: the NVIDIA kernel driver is not loaded (ERROR_DRIVER_NOT_LOADED)",
				"Driver version": "unknown", "CC mode": "unknown", "CC GPUs ready": "unknown",
			},
		},
		{
			name: "CC on",
			st: NVMLStatus{Loaded: true, DriverVersion: "550.54.15", CUDAVersion: "12.4", CC: &gpucc.CCReport{
				NVML: true, Mode: gpucc.CCModeOn, Environment: gpucc.CCEnvProduction, CPU: gpucc.CCCPUIntelTDX,
				GPUs: gpucc.CCGPUsCapable, GPUsReady: gpucc.CCReadyNotAccepting, MultiGPU: gpucc.CCMultiGPUProtectedPCIe,
				Notes: []string{"cc settings: ERROR_UNKNOWN"},
			}, Notes: []string{"cuda version: ERROR_UNKNOWN"}},
			want: map[string]string{
				"NVML": "loaded", "Driver version": "550.54.15", "CUDA version": "12.4", "CC mode": "on",
				"CC environment": "production", "CC CPU capability": "intel-tdx", "CC GPUs": "capable",
				"CC GPUs ready": "not-accepting", "CC multi-GPU mode": "protected-pcie",
				"CC notes": "cc settings: ERROR_UNKNOWN", "Notes": "cuda version: ERROR_UNKNOWN",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rows(t, tt.st.Describe())
			for label, want := range tt.want {
				if got[label] != want {
					t.Errorf("%s = %q, want %q", label, got[label], want)
				}
			}
		})
	}
}
