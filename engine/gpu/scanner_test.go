//go:build linux && cgo

package gpu

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
)

func TestMergeNVMLAndSysfs(t *testing.T) {
	// NVML sees the GPU on the nvidia driver; the one bound to vfio-pci
	// (for a confidential VM) is only on the PCI bus.
	srv := completeServer(dgxh100.NewWithGPUs(gpus.H100_SXM5_80GB), []string{"0000:1b:00.0"})
	fsys := sysfsTree(
		nvidiaGPU("0000:1b:00.0", "2330", "nvidia", "20"),
		nvidiaGPU("0000:43:00.0", "2330", "vfio-pci", "21"),
		connectX7("0000:44:00.0", "21"),
	)
	inv := scanOnce(t, Options{NVML: srv, FS: fsys})
	if len(inv.GPUs) != 2 {
		t.Fatalf("got %d GPUs %v, want 2", len(inv.GPUs), busIDs(inv.GPUs))
	}
	nv, vfio := inv.GPUs[0], inv.GPUs[1]

	if nv.Source != SourceNVML || nv.BusID != "0000:1b:00.0" || nv.UUID == "" || nv.Key() != nv.UUID {
		t.Errorf("NVML GPU: source %q bus %q key %q", nv.Source, nv.BusID, nv.Key())
	}
	if nv.KernelDriver != "nvidia" || nv.IOMMUGroup != "20" || nv.Class != "030200" || nv.TemperatureC == nil || len(nv.Notes) != 0 {
		t.Errorf("NVML GPU not enriched: driver %q group %q class %q temp %v notes %q",
			nv.KernelDriver, nv.IOMMUGroup, nv.Class, nv.TemperatureC, nv.Notes)
	}
	if nv.Name != "NVIDIA H100 80GB HBM3" {
		t.Errorf("NVML name replaced by %q", nv.Name)
	}

	if vfio.Source != SourceSysfs || vfio.BusID != "0000:43:00.0" || vfio.KernelDriver != "vfio-pci" || vfio.Key() != "pci:0000:43:00.0" {
		t.Errorf("vfio GPU: source %q bus %q driver %q key %q", vfio.Source, vfio.BusID, vfio.KernelDriver, vfio.Key())
	}
	if vfio.Name != "NVIDIA H100 SXM5 80GB" || vfio.UUID != "" || vfio.MemoryTotalMiB != nil || vfio.TemperatureC != nil {
		t.Errorf("vfio GPU: name %q uuid %q memory %v temp %v", vfio.Name, vfio.UUID, vfio.MemoryTotalMiB, vfio.TemperatureC)
	}
	if got := addresses(vfio.ForeignIOMMUPeers()); !reflect.DeepEqual(got, []string{"0000:44:00.0"}) {
		t.Errorf("vfio GPU foreign peers = %v", got)
	}
}

func TestMergeKeepsNVMLGPUWithoutSysfs(t *testing.T) {
	nv := []GPU{{Source: SourceNVML, BusID: "0000:01:00.0", UUID: "GPU-a"}, {Source: SourceNVML, UUID: "GPU-b"}}
	sys := []GPU{
		{Source: SourceSysfs, BusID: "0000:01:00.0", KernelDriver: "nvidia", Class: "030000", VendorID: "10de", DeviceID: "2684",
			Model: lookupModelPtr("10de", "2684"), Architecture: ArchAda, Notes: []string{"sysfs note"}},
		{Source: SourceSysfs, BusID: "0000:02:00.0"},
		{Source: SourceSysfs, BusID: ""},
	}
	got := merge(nv, sys)
	var keys []string
	for _, g := range got {
		keys = append(keys, string(g.Source)+"="+g.Key())
	}
	want := []string{"nvml=GPU-a", "nvml=GPU-b", "sysfs=pci:0000:02:00.0", "sysfs="}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("merge = %v, want %v", keys, want)
	}
	a := got[0]
	if a.KernelDriver != "nvidia" || a.VendorID != "10de" || a.Model == nil || a.Architecture != ArchAda || !reflect.DeepEqual(a.Notes, []string{"sysfs note"}) {
		t.Errorf("enriched = %+v", a)
	}
	if got[1].KernelDriver != "" || got[1].Model != nil {
		t.Errorf("GPU without bus id was enriched: %+v", got[1])
	}
}

func TestInventoryJSON(t *testing.T) {
	srv := completeServer(dgxh100.NewWithGPUs(gpus.H100_SXM5_80GB), []string{"0000:1b:00.0"})
	device(srv, 0).GetTemperatureFunc = nil // unknown: must be absent
	fsys := sysfsTree(nvidiaGPU("0000:1b:00.0", "2330", "nvidia", "20"), nvidiaGPU("0000:43:00.0", "2330", "vfio-pci", ""))
	inv := scanOnce(t, Options{NVML: srv, FS: fsys})
	b, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		NVML map[string]any   `json:"nvml"`
		GPUs []map[string]any `json:"gpus"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.NVML["loaded"] != true || doc.NVML["driver_version"] != "550.54.15" || doc.NVML["cc"].(map[string]any)["mode"] != "off" {
		t.Errorf("nvml = %v", doc.NVML)
	}
	if len(doc.GPUs) != 2 {
		t.Fatalf("gpus = %v", doc.GPUs)
	}
	nv, vfio := doc.GPUs[0], doc.GPUs[1]
	for _, k := range []string{"source", "index", "name", "uuid", "bus_id", "vendor_id", "device_id", "class", "model",
		"architecture", "kernel_driver", "iommu_group", "memory_total_mib", "memory_used_mib", "compute_capability",
		"utilization_pct", "power_draw_w", "power_limit_w", "processes", "notes"} {
		if _, ok := nv[k]; !ok {
			t.Errorf("NVML GPU JSON lacks %q: %s", k, b)
		}
	}
	for _, k := range []string{"temperature_c", "cc_protected_mib", "iommu_peers"} {
		if _, ok := nv[k]; ok {
			t.Errorf("NVML GPU JSON has unknown %q", k)
		}
	}
	if nv["model"].(map[string]any)["cc_capable"] != true || nv["memory_total_mib"] != 81920.0 {
		t.Errorf("NVML GPU JSON = %v", nv)
	}
	for _, k := range []string{"index", "uuid", "memory_total_mib", "temperature_c", "power_draw_w", "processes", "iommu_group", "notes"} {
		if _, ok := vfio[k]; ok {
			t.Errorf("sysfs GPU JSON has unknown %q", k)
		}
	}
	if vfio["source"] != "sysfs" || vfio["kernel_driver"] != "vfio-pci" {
		t.Errorf("sysfs GPU JSON = %v", vfio)
	}
}

func TestLookupModel(t *testing.T) {
	tests := []struct {
		vendor, device string
		want           Model
		ok             bool
	}{
		{"10de", "2330", Model{"H100 SXM5 80GB", ArchHopper, true}, true},
		{"0x10DE", "0x2331", Model{"H100 PCIe", ArchHopper, true}, true},
		{"10de", "2321", Model{"H100 NVL", ArchHopper, true}, true},
		{"10de", "2335", Model{"H200 SXM 141GB", ArchHopper, true}, true},
		{"10de", "233b", Model{"H200 NVL", ArchHopper, true}, true},
		{"10de", "2324", Model{"H800", ArchHopper, true}, true},
		{"10de", "2342", Model{"GH200 120GB / 480GB", ArchHopper, true}, true},
		{"10de", "2901", Model{"B200", ArchBlackwell, true}, true},
		{"10de", "20b2", Model{"A100 SXM4 80GB", ArchAmpere, false}, true},
		{"10de", "2236", Model{"A10", ArchAmpere, false}, true},
		{"10de", "27b8", Model{"L4", ArchAda, false}, true},
		{"10de", "26b9", Model{"L40S", ArchAda, false}, true},
		{"10de", "26b1", Model{"RTX 6000 Ada Generation", ArchAda, false}, true},
		{"10de", "2684", Model{"GeForce RTX 4090", ArchAda, false}, true},
		{"10de", "2204", Model{"GeForce RTX 3090", ArchAmpere, false}, true},
		{" 10de ", "2B85\n", Model{"GeForce RTX 5090", ArchBlackwell, false}, true},
		{"10de", "2c02", Model{"GeForce RTX 5080", ArchBlackwell, false}, true},
		{"10de", "22ba", Model{}, false}, // the 4090's audio function
		{"1002", "2330", Model{}, false}, // right device id, wrong vendor
		{"10de", "", Model{}, false},
		{"", "", Model{}, false},
	}
	for _, tt := range tests {
		got, ok := LookupModel(tt.vendor, tt.device)
		if got != tt.want || ok != tt.ok {
			t.Errorf("LookupModel(%q, %q) = %+v, %v; want %+v, %v", tt.vendor, tt.device, got, ok, tt.want, tt.ok)
		}
	}
}

func TestModelTable(t *testing.T) {
	for id, m := range nvidiaModels {
		if len(id) != 4 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Errorf("id %q is not 4 lowercase hex digits", id)
		}
		dcCC := (m.Architecture == ArchHopper || m.Architecture == ArchBlackwell) && !strings.Contains(m.Name, "GeForce")
		if m.CCCapable != dcCC || m.Name == "" {
			t.Errorf("%s %+v: CC capable should be %v", id, m, dcCC)
		}
	}
}

func TestNormalizeBusID(t *testing.T) {
	tests := map[string]string{
		"00000000:17:00.0": "0000:17:00.0",
		"00000000:1B:00.0": "0000:1b:00.0",
		"0000:17:00.0":     "0000:17:00.0",
		"00010000:01:00.1": "10000:01:00.1",
		"00000001:c1:00.0": "0001:c1:00.0",
		"17:00.0":          "0000:17:00.0",
		" 0000:AB:00.0\n":  "0000:ab:00.0",
		"":                 "",
		"garbage":          "garbage",
	}
	for in, want := range tests {
		if got := NormalizeBusID(in); got != want {
			t.Errorf("NormalizeBusID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		g    GPU
		want string
	}{
		{GPU{UUID: "GPU-1", BusID: "0000:17:00.0"}, "GPU-1"},
		{GPU{BusID: "0000:17:00.0"}, "pci:0000:17:00.0"},
		{GPU{}, ""},
	}
	for _, tt := range tests {
		if got := tt.g.Key(); got != tt.want {
			t.Errorf("%+v.Key() = %q, want %q", tt.g, got, tt.want)
		}
	}
}

// BenchmarkScanDGXH100 is one --watch tick on an 8x H100 host: NVML
// telemetry for eight GPUs plus a sysfs walk of 25 PCI functions.
func BenchmarkScanDGXH100(b *testing.B) {
	srv := dgxH100()
	s := NewScanner(Options{NVML: srv, FS: dgxH100Tree("nvidia")})
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		inv, err := s.Scan(ctx)
		if err != nil || len(inv.GPUs) != 9 {
			b.Fatalf("Scan = %d GPUs, %v", len(inv.GPUs), err)
		}
	}
}
