//go:build linux && cgo

package gpu

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxb200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/cocoon-provider/cocoon-provider/attest/gpucc"
)

// nvmlBusID writes a sysfs address the way NVML does: an 8-digit domain,
// uppercase hex ("0000:1b:00.0" -> "00000000:1B:00.0").
func nvmlBusID(addr string) [32]int8 {
	var out [32]int8
	for i, c := range "0000" + strings.ToUpper(addr) {
		out[i] = int8(c)
	}
	return out
}

// completeServer fills in what the dgx mocks leave unset: bus ids at the
// given addresses, telemetry derived from each device's index, and a
// system whose GPUs are CC capable with CC mode off.
func completeServer(s *server.Server, addrs []string) *server.Server {
	for i, d := range s.Devices {
		completeDevice(d.(*server.Device), i, addrs[i])
	}
	s.SystemGetConfComputeStateFunc = func() (nvml.ConfComputeSystemState, nvml.Return) {
		return nvml.ConfComputeSystemState{
			Environment:  nvml.CC_SYSTEM_ENVIRONMENT_UNAVAILABLE,
			CcFeature:    nvml.CC_SYSTEM_FEATURE_DISABLED,
			DevToolsMode: nvml.CC_SYSTEM_DEVTOOLS_MODE_OFF,
		}, nvml.SUCCESS
	}
	s.SystemGetConfComputeCapabilitiesFunc = func() (nvml.ConfComputeSystemCaps, nvml.Return) {
		return nvml.ConfComputeSystemCaps{CpuCaps: nvml.CC_SYSTEM_CPU_CAPS_NONE, GpusCaps: nvml.CC_SYSTEM_GPUS_CC_CAPABLE}, nvml.SUCCESS
	}
	s.SystemGetConfComputeGpusReadyStateFunc = func() (uint32, nvml.Return) {
		return nvml.CC_ACCEPTING_CLIENT_REQUESTS_FALSE, nvml.SUCCESS
	}
	s.SystemGetConfComputeSettingsFunc = func() (nvml.SystemConfComputeSettings, nvml.Return) {
		return nvml.SystemConfComputeSettings{MultiGpuMode: nvml.CC_SYSTEM_MULTIGPU_NONE}, nvml.SUCCESS
	}
	return s
}

// completeDevice gives device i: i GiB used, 10*i % utilisation, 30+i °C,
// 100.5+i W of 700 W, i distinct processes (one listed as both compute
// and graphics), 1 GiB unprotected CC memory, and no CC certificates (NOT_SUPPORTED, as with CC off).
func completeDevice(d *server.Device, i int, addr string) {
	id := d.Config.PciDeviceId
	d.MemoryInfo.Used = uint64(i) << 30
	d.MemoryInfo.Free = d.MemoryInfo.Total - d.MemoryInfo.Used
	d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
		return nvml.PciInfo{PciDeviceId: id, BusId: nvmlBusID(addr)}, nvml.SUCCESS
	}
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{Gpu: uint32(10 * i), Memory: 1}, nvml.SUCCESS
	}
	d.GetTemperatureFunc = func(s nvml.TemperatureSensors) (uint32, nvml.Return) {
		if s != nvml.TEMPERATURE_GPU {
			return 0, nvml.ERROR_INVALID_ARGUMENT
		}
		return uint32(30 + i), nvml.SUCCESS
	}
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return uint32(100500 + 1000*i), nvml.SUCCESS }
	d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return 700000, nvml.SUCCESS }
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		var ps []nvml.ProcessInfo
		for p := range i {
			ps = append(ps, nvml.ProcessInfo{Pid: uint32(1000 + p), UsedGpuMemory: 1 << 20})
		}
		return ps, nvml.SUCCESS
	}
	d.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		if i == 0 {
			return nil, nvml.SUCCESS
		}
		return []nvml.ProcessInfo{{Pid: 1000}}, nvml.SUCCESS
	}
	d.GetConfComputeMemSizeInfoFunc = func() (nvml.ConfComputeMemSizeInfo, nvml.Return) {
		unprot := uint64(1 << 20) // KiB
		return nvml.ConfComputeMemSizeInfo{ProtectedMemSizeKib: d.MemoryInfo.Total>>10 - unprot, UnprotectedMemSizeKib: unprot}, nvml.SUCCESS
	}
	d.GetConfComputeProtectedMemoryUsageFunc = func() (nvml.Memory, nvml.Return) {
		return nvml.Memory{Total: d.MemoryInfo.Total - 1<<30, Used: d.MemoryInfo.Used}, nvml.SUCCESS
	}
	d.GetConfComputeGpuCertificateFunc = func() (nvml.ConfComputeGpuCertificate, nvml.Return) {
		return nvml.ConfComputeGpuCertificate{}, nvml.ERROR_NOT_SUPPORTED
	}
}

func dgxH100() *server.Server { return completeServer(dgxh100.New(), dgxH100Slots) }

func device(s *server.Server, i int) *server.Device { return s.Devices[i].(*server.Device) }

func scanOnce(t *testing.T, opts Options) Inventory {
	t.Helper()
	inv, err := Discover(context.Background(), opts)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return inv
}

func TestScanDGXH100(t *testing.T) {
	srv := dgxH100()
	inv := scanOnce(t, Options{NVML: srv})

	st := inv.NVML
	if !st.Loaded || st.Reason != "" || st.DriverVersion != "550.54.15" || st.CUDAVersion != "12.4" || len(st.Notes) != 0 {
		t.Errorf("NVML status = %+v", st)
	}
	if cc := st.CC; cc == nil || !cc.NVML || cc.Mode != gpucc.CCModeOff || cc.Environment != gpucc.CCEnvUnavailable ||
		cc.CPU != gpucc.CCCPUNone || cc.GPUs != gpucc.CCGPUsCapable || cc.GPUsReady != gpucc.CCReadyNotAccepting ||
		cc.MultiGPU != gpucc.CCMultiGPUNone || len(cc.Devices) != 8 || len(cc.Notes) != 0 {
		t.Errorf("CC = %+v", st.CC)
	} else if mr := cc.ModeReasons(); len(mr) == 0 || !strings.HasPrefix(mr[0], "CC mode is off") || !strings.Contains(mr[0], "--gpu-bdf=0000:1b:00.0") {
		t.Errorf("CC mode reasons = %q, want CC off at the first GPU", mr)
	}
	if len(inv.GPUs) != 8 {
		t.Fatalf("got %d GPUs, want 8", len(inv.GPUs))
	}
	uuids := map[string]bool{}
	for i, g := range inv.GPUs {
		want := device(srv, i)
		if g.Source != SourceNVML || g.Index == nil || *g.Index != i {
			t.Errorf("GPU %d: source %q index %v", i, g.Source, g.Index)
		}
		if g.Name != "NVIDIA H100 80GB HBM3" || g.UUID != want.UUID || !strings.HasPrefix(g.UUID, "GPU-") || g.Key() != g.UUID {
			t.Errorf("GPU %d: name %q uuid %q key %q, want uuid %q", i, g.Name, g.UUID, g.Key(), want.UUID)
		}
		uuids[g.UUID] = true
		if g.BusID != dgxH100Slots[i] || g.VendorID != "10de" || g.DeviceID != "2330" {
			t.Errorf("GPU %d: bus %q id %s:%s, want %s 10de:2330", i, g.BusID, g.VendorID, g.DeviceID, dgxH100Slots[i])
		}
		if g.Model == nil || g.Model.Name != "H100 SXM5 80GB" || !g.Model.CCCapable || g.Architecture != ArchHopper || g.ComputeCapability != "9.0" {
			t.Errorf("GPU %d: model %+v arch %q cc %q", i, g.Model, g.Architecture, g.ComputeCapability)
		}
		checks := []struct{ what, got, want string }{
			{"memory", FormatMemory(g.MemoryUsedMiB, g.MemoryTotalMiB), FormatMemory(ptr(uint64(i*1024)), ptr(uint64(81920)))},
			{"utilization", FormatPercent(g.UtilizationPct), FormatPercent(ptr(uint32(10 * i)))},
			{"temperature", FormatCelsius(g.TemperatureC), FormatCelsius(ptr(uint32(30 + i)))},
			{"power", FormatPower(g.PowerDrawW, g.PowerLimitW), FormatPower(ptr(100.5+float64(i)), ptr(700.0))},
			{"processes", FormatCount(g.Processes), FormatCount(ptr(i))},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("GPU %d %s = %q, want %q", i, c.what, c.got, c.want)
			}
		}
		if *g.PowerDrawW != 100.5+float64(i) {
			t.Errorf("GPU %d power draw = %v W", i, *g.PowerDrawW)
		}
		// CC mode is off: protected memory is not read.
		if g.CCProtectedMiB != nil || g.CCProtectedUsedMiB != nil {
			t.Errorf("GPU %d: CC memory read with CC off", i)
		}
		if g.KernelDriver != "" || g.Class != "" || len(g.Notes) != 0 {
			t.Errorf("GPU %d: driver %q class %q notes %q; want no sysfs facts and no notes", i, g.KernelDriver, g.Class, g.Notes)
		}
	}
	if len(uuids) != 8 {
		t.Errorf("UUIDs not distinct: %v", uuids)
	}
	// The scanner's session, and GPUCCState's reference on top of it.
	if n := len(srv.InitCalls()); n != 2 {
		t.Errorf("Init called %d times, want 2", n)
	}
	if n := len(srv.ShutdownCalls()); n != 2 {
		t.Errorf("Shutdown called %d times, want 2", n)
	}
}

func TestScanDGXServers(t *testing.T) {
	tests := []struct {
		name     string
		srv      *server.Server
		gpuName  string
		arch     string
		cc       string // compute capability
		totalMiB uint64
		model    string // "" when the mock's PCI id is not a real one
		driver   string
		cuda     string
	}{
		{"dgxa100", dgxa100.New(), "Mock NVIDIA A100-SXM4-40GB", ArchAmpere, "8.0", 40960, "A100 SXM4 40GB", "550.54.15", "12.4"},
		{"dgxh100", dgxh100.New(), "NVIDIA H100 80GB HBM3", ArchHopper, "9.0", 81920, "H100 SXM5 80GB", "550.54.15", "12.4"},
		// The mocks give H200 the id 0x2333 and B200 0x2b00; pci.ids has
		// 2335 and 2901, so the model table does not match them.
		{"dgxh200", dgxh200.New(), "NVIDIA H200 141GB HBM3e", ArchHopper, "9.0", 144384, "", "550.54.15", "12.4"},
		{"dgxb200", dgxb200.New(), "NVIDIA B200 180GB HBM3e", ArchBlackwell, "10.0", 184320, "", "560.28.03", "12.6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := scanOnce(t, Options{NVML: completeServer(tt.srv, dgxH100Slots)})
			if inv.NVML.DriverVersion != tt.driver || inv.NVML.CUDAVersion != tt.cuda {
				t.Errorf("driver %q cuda %q, want %q %q", inv.NVML.DriverVersion, inv.NVML.CUDAVersion, tt.driver, tt.cuda)
			}
			if len(inv.GPUs) != 8 {
				t.Fatalf("got %d GPUs, want 8", len(inv.GPUs))
			}
			for i, g := range inv.GPUs {
				model := ""
				if g.Model != nil {
					model = g.Model.Name
				}
				if g.Name != tt.gpuName || g.Architecture != tt.arch || g.ComputeCapability != tt.cc ||
					*g.MemoryTotalMiB != tt.totalMiB || model != tt.model || g.BusID != dgxH100Slots[i] || len(g.Notes) != 0 {
					t.Errorf("GPU %d = name %q arch %q cc %q total %d model %q bus %q notes %q", i,
						g.Name, g.Architecture, g.ComputeCapability, *g.MemoryTotalMiB, model, g.BusID, g.Notes)
				}
			}
		})
	}
}

func TestScanFieldErrors(t *testing.T) {
	notSupported := func(d *server.Device) {
		d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
		d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
		d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
		d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED }
		d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.ERROR_NOT_SUPPORTED }
		d.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.ERROR_NOT_SUPPORTED }
	}
	tests := []struct {
		name   string
		break_ func(d *server.Device)
		check  func(t *testing.T, g GPU)
		notes  []string
	}{
		{
			name:   "not supported becomes unknown",
			break_: notSupported,
			check: func(t *testing.T, g GPU) {
				if g.TemperatureC != nil || g.PowerDrawW != nil || g.PowerLimitW != nil || g.UtilizationPct != nil || g.Processes != nil {
					t.Errorf("want unknown telemetry, got temp %v power %v/%v util %v procs %v",
						g.TemperatureC, g.PowerDrawW, g.PowerLimitW, g.UtilizationPct, g.Processes)
				}
				if g.MemoryTotalMiB == nil || g.UUID == "" {
					t.Error("fields that work were lost")
				}
			},
		},
		{
			name: "other errors are noted",
			break_: func(d *server.Device) {
				d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
				d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 0, nvml.ERROR_GPU_IS_LOST }
				d.GetUUIDFunc = func() (string, nvml.Return) { return "", nvml.ERROR_NO_PERMISSION }
			},
			check: func(t *testing.T, g GPU) {
				if g.TemperatureC != nil || g.PowerDrawW != nil || g.UUID != "" {
					t.Errorf("want unknown temperature, power draw and UUID, got %v %v %q", g.TemperatureC, g.PowerDrawW, g.UUID)
				}
				if g.PowerLimitW == nil || g.Key() != "pci:0000:61:00.0" {
					t.Errorf("power limit %v, key %q", g.PowerLimitW, g.Key())
				}
			},
			notes: []string{"uuid: ERROR_NO_PERMISSION", "temperature: ERROR_UNKNOWN", "power draw: ERROR_GPU_IS_LOST"},
		},
		{
			name: "one process list fails",
			break_: func(d *server.Device) {
				d.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.ERROR_UNKNOWN }
			},
			check: func(t *testing.T, g GPU) {
				if FormatCount(g.Processes) != "3" {
					t.Errorf("processes = %s, want the 3 compute processes", FormatCount(g.Processes))
				}
			},
			notes: []string{"graphics processes: ERROR_UNKNOWN"},
		},
		{
			name: "a panicking implementation is noted",
			break_: func(d *server.Device) {
				d.GetTemperatureFunc = nil // the mock panics: "method is nil"
			},
			check: func(t *testing.T, g GPU) {
				if g.TemperatureC != nil || g.PowerDrawW == nil {
					t.Errorf("temperature %v power %v", g.TemperatureC, g.PowerDrawW)
				}
			},
			notes: []string{"temperature: panic in NVML call"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := dgxH100()
			tt.break_(device(srv, 3))
			inv := scanOnce(t, Options{NVML: srv})
			if len(inv.GPUs) != 8 {
				t.Fatalf("got %d GPUs", len(inv.GPUs))
			}
			tt.check(t, inv.GPUs[3])
			checkNotes(t, "notes", inv.GPUs[3].Notes, tt.notes)
			for i, g := range inv.GPUs {
				if i != 3 && (len(g.Notes) != 0 || g.TemperatureC == nil) {
					t.Errorf("GPU %d affected: notes %q", i, g.Notes)
				}
			}
		})
	}
}

func TestScanCCOn(t *testing.T) {
	srv := dgxH100()
	srv.SystemGetConfComputeStateFunc = func() (nvml.ConfComputeSystemState, nvml.Return) {
		return nvml.ConfComputeSystemState{
			Environment:  nvml.CC_SYSTEM_ENVIRONMENT_PROD,
			CcFeature:    nvml.CC_SYSTEM_FEATURE_ENABLED,
			DevToolsMode: nvml.CC_SYSTEM_DEVTOOLS_MODE_OFF,
		}, nvml.SUCCESS
	}
	srv.SystemGetConfComputeCapabilitiesFunc = func() (nvml.ConfComputeSystemCaps, nvml.Return) {
		return nvml.ConfComputeSystemCaps{CpuCaps: nvml.CC_SYSTEM_CPU_CAPS_INTEL_TDX, GpusCaps: nvml.CC_SYSTEM_GPUS_CC_CAPABLE}, nvml.SUCCESS
	}
	srv.SystemGetConfComputeGpusReadyStateFunc = func() (uint32, nvml.Return) {
		return nvml.CC_ACCEPTING_CLIENT_REQUESTS_TRUE, nvml.SUCCESS
	}
	srv.SystemGetConfComputeSettingsFunc = func() (nvml.SystemConfComputeSettings, nvml.Return) {
		return nvml.SystemConfComputeSettings{MultiGpuMode: nvml.CC_SYSTEM_MULTIGPU_PROTECTED_PCIE}, nvml.SUCCESS
	}
	device(srv, 7).GetConfComputeProtectedMemoryUsageFunc = func() (nvml.Memory, nvml.Return) {
		return nvml.Memory{}, nvml.ERROR_NOT_SUPPORTED
	}
	inv := scanOnce(t, Options{NVML: srv})

	cc := inv.NVML.CC
	if cc == nil || cc.Mode != gpucc.CCModeOn || cc.Environment != gpucc.CCEnvProduction || cc.CPU != gpucc.CCCPUIntelTDX ||
		cc.MultiGPU != gpucc.CCMultiGPUProtectedPCIe || cc.GPUs != gpucc.CCGPUsCapable || cc.GPUsReady != gpucc.CCReadyAccepting {
		t.Fatalf("CC = %+v, want on in production, TDX, PPCIe, capable and ready", cc)
	}
	for i, g := range inv.GPUs {
		if got := FormatMemory(g.CCProtectedUsedMiB, g.CCProtectedMiB); i < 7 && got != FormatMemory(ptr(uint64(i*1024)), ptr(uint64(80896))) {
			t.Errorf("GPU %d protected memory = %s", i, got)
		}
		if FormatMiB(g.CCUnprotectedMiB) != "1024 MiB" {
			t.Errorf("GPU %d unprotected memory = %s", i, FormatMiB(g.CCUnprotectedMiB))
		}
	}
	if g := inv.GPUs[7]; g.CCProtectedUsedMiB != nil || len(g.Notes) != 0 {
		t.Errorf("GPU 7: protected used %v notes %q, want unknown and no note", g.CCProtectedUsedMiB, g.Notes)
	}
}

func TestScanOldDriverSkipsMissingSymbols(t *testing.T) {
	srv := dgxH100()
	srv.LookupSymbolFunc = func(sym string) error {
		if strings.Contains(sym, "ConfCompute") || sym == symTemperature {
			return errors.New("undefined symbol")
		}
		return nil
	}
	// Calling any of these would now panic and be noted.
	srv.SystemGetConfComputeStateFunc = nil
	srv.SystemGetConfComputeCapabilitiesFunc = nil
	srv.SystemGetConfComputeGpusReadyStateFunc = nil
	srv.SystemGetConfComputeSettingsFunc = nil
	for i := range srv.Devices {
		device(srv, i).GetTemperatureFunc = nil
	}
	inv := scanOnce(t, Options{NVML: srv})
	cc := inv.NVML.CC
	if cc == nil || cc.Mode != gpucc.CCUnsupported || cc.GPUsReady != gpucc.CCUnsupported || len(inv.NVML.Notes) != 0 {
		t.Fatalf("CC = %+v, notes %q; want CC unsupported and no NVML notes", cc, inv.NVML.Notes)
	}
	for _, n := range cc.Notes {
		if !strings.Contains(n, "lacks nvml") {
			t.Errorf("CC note %q, want only missing symbols", n)
		}
	}
	for i, g := range inv.GPUs {
		if g.TemperatureC != nil || len(g.Notes) != 0 {
			t.Errorf("GPU %d: temperature %v notes %q", i, g.TemperatureC, g.Notes)
		}
	}
}

func TestScanSystemCallErrors(t *testing.T) {
	srv := dgxH100()
	srv.SystemGetCudaDriverVersionFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
	srv.SystemGetConfComputeStateFunc = func() (nvml.ConfComputeSystemState, nvml.Return) {
		return nvml.ConfComputeSystemState{}, nvml.ERROR_NOT_SUPPORTED
	}
	srv.SystemGetConfComputeSettingsFunc = func() (nvml.SystemConfComputeSettings, nvml.Return) {
		return nvml.SystemConfComputeSettings{}, nvml.ERROR_ARGUMENT_VERSION_MISMATCH
	}
	inv := scanOnce(t, Options{NVML: srv})
	st := inv.NVML
	if !st.Loaded || st.CUDAVersion != "" || st.DriverVersion == "" {
		t.Errorf("status = %+v", st)
	}
	if st.CC == nil || st.CC.Mode != gpucc.CCUnsupported || st.CC.CPU != gpucc.CCCPUNone {
		t.Errorf("CC = %+v, want mode unsupported and the capabilities", st.CC)
	}
	checkNotes(t, "NVML notes", st.Notes, []string{"cuda version: ERROR_UNKNOWN"})
	checkNotes(t, "CC notes", st.CC.Notes, []string{"cc settings: ERROR_ARGUMENT_VERSION_MISMATCH"})
}

func TestScanInitFailure(t *testing.T) {
	tests := []struct {
		ret    nvml.Return
		reason []string
	}{
		{nvml.ERROR_LIBRARY_NOT_FOUND, []string{"libnvidia-ml.so.1) not found", "ERROR_LIBRARY_NOT_FOUND"}},
		{nvml.ERROR_DRIVER_NOT_LOADED, []string{"kernel driver is not loaded", "ERROR_DRIVER_NOT_LOADED"}},
		{nvml.ERROR_LIB_RM_VERSION_MISMATCH, []string{"different versions"}},
		{nvml.ERROR_UNKNOWN, []string{"could not be initialised", "ERROR_UNKNOWN"}},
	}
	for _, tt := range tests {
		t.Run(tt.ret.Error(), func(t *testing.T) {
			lib := &mock.Interface{InitFunc: func() nvml.Return { return tt.ret }}
			inv := scanOnce(t, Options{NVML: lib, FS: dgxH100Tree("nvidia")})
			if inv.NVML.Loaded || inv.NVML.CC != nil || inv.NVML.DriverVersion != "" {
				t.Errorf("NVML status = %+v", inv.NVML)
			}
			for _, r := range tt.reason {
				if !strings.Contains(inv.NVML.Reason, r) {
					t.Errorf("reason %q does not contain %q", inv.NVML.Reason, r)
				}
			}
			// Falls back to sysfs: the eight H100s and the BMC's VGA.
			if len(inv.GPUs) != 9 {
				t.Fatalf("got %d GPUs %v, want 9 from sysfs", len(inv.GPUs), busIDs(inv.GPUs))
			}
			for _, g := range inv.GPUs {
				if g.Source != SourceSysfs {
					t.Errorf("%s source %q", g.BusID, g.Source)
				}
			}
			if n := len(lib.ShutdownCalls()); n != 0 {
				t.Errorf("Shutdown called %d times after a failed Init", n)
			}
		})
	}
}

func TestNoNVML(t *testing.T) {
	inv := scanOnce(t, Options{})
	if inv.NVML.Loaded || inv.NVML.Reason != "NVML not used" || len(inv.GPUs) != 0 || len(inv.Notes) != 0 {
		t.Errorf("inventory = %+v", inv)
	}
}

func TestScanHandleError(t *testing.T) {
	srv := dgxH100()
	byIndex := srv.DeviceGetHandleByIndexFunc
	srv.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		if i == 2 {
			return nil, nvml.ERROR_NO_PERMISSION
		}
		return byIndex(i)
	}
	inv := scanOnce(t, Options{NVML: srv, FS: dgxH100Tree("nvidia")})
	checkNotes(t, "inventory notes", inv.Notes, []string{"nvml device 2: handle: ERROR_NO_PERMISSION"})
	// The GPU NVML could not open is still listed, from sysfs, after the
	// seven NVML GPUs and the BMC's VGA.
	var sources []string
	for _, g := range inv.GPUs {
		sources = append(sources, string(g.Source)+" "+g.BusID)
	}
	want := []string{"nvml 0000:1b:00.0", "nvml 0000:43:00.0", "nvml 0000:61:00.0", "nvml 0000:9d:00.0",
		"nvml 0000:c3:00.0", "nvml 0000:d1:00.0", "nvml 0000:df:00.0", "sysfs 0000:03:00.0", "sysfs 0000:52:00.0"}
	if strings.Join(sources, ",") != strings.Join(want, ",") {
		t.Errorf("GPUs = %v\nwant %v", sources, want)
	}
}

// clock is a settable time source for Options.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestScannerRetriesInit(t *testing.T) {
	srv := dgxH100()
	result := nvml.ERROR_DRIVER_NOT_LOADED
	srv.InitFunc = func() nvml.Return { return result }
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	start := clk.t
	s := NewScanner(Options{NVML: srv, Now: clk.now})

	// Once loaded, each CC report (gpucc.GPUCCState) adds an Init of its own.
	steps := []struct {
		after     time.Duration
		result    nvml.Return
		wantInits int
		loaded    bool
	}{
		{0, nvml.ERROR_DRIVER_NOT_LOADED, 1, false},
		{10 * time.Second, nvml.SUCCESS, 1, false}, // too soon to retry
		{29 * time.Second, nvml.SUCCESS, 1, false},
		{30 * time.Second, nvml.SUCCESS, 3, true}, // the session and a CC report
		{31 * time.Second, nvml.SUCCESS, 3, true}, // stays initialised, CC report kept
		{time.Hour, nvml.SUCCESS, 4, true},        // a fresh CC report
	}
	for _, st := range steps {
		clk.t = start.Add(st.after)
		result = st.result
		inv, err := s.Scan(context.Background())
		if err != nil {
			t.Fatalf("+%v: Scan: %v", st.after, err)
		}
		if inits := len(srv.InitCalls()); inits != st.wantInits || inv.NVML.Loaded != st.loaded {
			t.Errorf("+%v: %d Init calls, loaded %v; want %d, %v", st.after, inits, inv.NVML.Loaded, st.wantInits, st.loaded)
		}
		if !st.loaded && !strings.Contains(inv.NVML.Reason, "not loaded") {
			t.Errorf("+%v: reason %q", st.after, inv.NVML.Reason)
		}
		if !inv.Time.Equal(clk.t) {
			t.Errorf("+%v: inventory time %v, want %v", st.after, inv.Time, clk.t)
		}
		if st.loaded != (len(inv.GPUs) == 8) {
			t.Errorf("+%v: %d GPUs", st.after, len(inv.GPUs))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := len(srv.ShutdownCalls()); n != 3 {
		t.Errorf("Shutdown called %d times, want 3 (two CC reports, one Close)", n)
	}
	if _, err := s.Scan(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Scan after Close = %v, want ErrClosed", err)
	}
}

func TestScannerDropsLostDriver(t *testing.T) {
	srv := dgxH100()
	count := srv.DeviceGetCountFunc
	lost := true
	srv.DeviceGetCountFunc = func() (int, nvml.Return) {
		if lost {
			return 0, nvml.ERROR_DRIVER_NOT_LOADED
		}
		return count()
	}
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := NewScanner(Options{NVML: srv, FS: dgxH100Tree("vfio-pci"), Now: clk.now})
	defer s.Close()

	inv, err := s.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if inv.NVML.Loaded || !strings.Contains(inv.NVML.Reason, "device count: ERROR_DRIVER_NOT_LOADED") || inv.NVML.DriverVersion != "" {
		t.Errorf("status = %+v", inv.NVML)
	}
	if len(inv.GPUs) != 9 || len(srv.ShutdownCalls()) != 1 {
		t.Errorf("%d GPUs, %d Shutdown calls; want 9 from sysfs and 1", len(inv.GPUs), len(srv.ShutdownCalls()))
	}
	lost = false
	clk.t = clk.t.Add(InitRetryInterval)
	// The session's second Init, and the CC report's.
	if inv, err = s.Scan(context.Background()); err != nil || !inv.NVML.Loaded || len(srv.InitCalls()) != 3 || inv.NVML.CC == nil {
		t.Errorf("after retry: loaded %v, %d Init calls, CC %v, err %v", inv.NVML.Loaded, len(srv.InitCalls()), inv.NVML.CC, err)
	}
}

func TestScanContextCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := NewScanner(Options{NVML: dgxH100(), FS: dgxH100Tree("nvidia")})
	defer s.Close()
	if _, err := s.Scan(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Scan = %v, want context.Canceled", err)
	}
}

func TestScannerConcurrentScans(t *testing.T) {
	srv := dgxH100()
	s := NewScanner(Options{NVML: srv, FS: dgxH100Tree("nvidia")})
	defer s.Close()
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			inv, err := s.Scan(context.Background())
			if err == nil && len(inv.GPUs) != 9 {
				err = errors.New("wrong GPU count")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n, cc := len(srv.InitCalls()), len(srv.SystemGetConfComputeStateCalls()); n != 2 || cc != 1 {
		t.Errorf("concurrent scans: %d Init calls, %d CC reports; want 2 (the session and the report) and 1", n, cc)
	}
}

// TestScannerCCInterval: a scan reuses the CC report for CCInterval, and
// reads a new one when the interval is over or the set of GPUs changes.
func TestScannerCCInterval(t *testing.T) {
	srv := dgxH100()
	lost := false
	byIndex := srv.DeviceGetHandleByIndexFunc
	srv.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		if lost && i == 2 {
			return nil, nvml.ERROR_GPU_IS_LOST
		}
		return byIndex(i)
	}
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	start := clk.t
	s := NewScanner(Options{NVML: srv, Now: clk.now})
	defer s.Close()
	steps := []struct {
		after   time.Duration
		lost    bool
		reports int
	}{
		{0, false, 1},
		{time.Second, false, 1},
		{CCInterval - time.Second, false, 1},
		{CCInterval, false, 2},
		{CCInterval + time.Second, true, 3}, // GPU 2 went away
		{CCInterval + 2*time.Second, true, 3},
	}
	var first *gpucc.CCReport
	for _, st := range steps {
		clk.t, lost = start.Add(st.after), st.lost
		inv, err := s.Scan(context.Background())
		if err != nil {
			t.Fatalf("+%v: %v", st.after, err)
		}
		if n := len(srv.SystemGetConfComputeStateCalls()); n != st.reports {
			t.Errorf("+%v: %d CC reports, want %d", st.after, n, st.reports)
		}
		if inv.NVML.CC == nil || len(inv.NVML.CC.Devices) != 8 {
			t.Errorf("+%v: CC = %+v, want the report of 8 GPUs", st.after, inv.NVML.CC)
		}
		if first == nil {
			first = inv.NVML.CC
		} else if st.reports == 1 && inv.NVML.CC != first {
			t.Errorf("+%v: CC report not reused", st.after)
		}
	}
}

func TestFormatCUDAVersion(t *testing.T) {
	for v, want := range map[int]string{12040: "12.4", 11080: "11.8", 13000: "13.0", 12090: "12.9", 0: "", -1: ""} {
		if got := formatCUDAVersion(v); got != want {
			t.Errorf("formatCUDAVersion(%d) = %q, want %q", v, got, want)
		}
	}
}
