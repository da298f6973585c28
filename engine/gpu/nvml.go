package gpu

import (
	"context"
	"fmt"
	"strconv"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// NVML symbols that older or newer drivers may lack. go-nvml binds symbols
// lazily, so calling one the loaded library does not export would abort
// the process; each is looked up once after Init. The CC calls exist from
// the R535 drivers on; nvmlDeviceGetTemperature is deprecated since CUDA
// 13 and may disappear.
const (
	symTemperature  = "nvmlDeviceGetTemperature"
	symCCState      = "nvmlSystemGetConfComputeState"
	symCCCaps       = "nvmlSystemGetConfComputeCapabilities"
	symCCReady      = "nvmlSystemGetConfComputeGpusReadyState"
	symCCSettings   = "nvmlSystemGetConfComputeSettings"
	symCCMemSize    = "nvmlDeviceGetConfComputeMemSizeInfo"
	symCCProtMemUse = "nvmlDeviceGetConfComputeProtectedMemoryUsage"
)

// initReason explains an NVML Init failure in words.
func initReason(ret nvml.Return) string {
	var why string
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		why = "NVML library (libnvidia-ml.so.1) not found: the NVIDIA driver is not installed"
	case nvml.ERROR_DRIVER_NOT_LOADED:
		why = "the NVIDIA kernel driver is not loaded"
	case nvml.ERROR_NO_PERMISSION:
		why = "no permission to talk to the NVIDIA driver"
	case nvml.ERROR_LIB_RM_VERSION_MISMATCH:
		why = "the NVML library and the loaded kernel driver are different versions (reboot or reload the driver)"
	case nvml.ERROR_INSUFFICIENT_POWER:
		why = "a GPU is not correctly powered"
	default:
		why = "NVML could not be initialised"
	}
	return fmt.Sprintf("%s (%s)", why, ret.Error())
}

// nvmlSession is an initialised NVML library.
type nvmlSession struct {
	lib nvml.Interface
	// Which optional symbols the loaded library exports.
	temperature                                                   bool
	ccState, ccCaps, ccReady, ccSettings, ccMemSize, ccProtMemUse bool
}

// newSession wraps an NVML library whose Init succeeded. An implementation
// without Extensions (a test double) is assumed to have every symbol.
func newSession(lib nvml.Interface) *nvmlSession {
	s := &nvmlSession{lib: lib}
	var ext nvml.ExtendedInterface
	haveExt := protect(func() { ext = lib.Extensions() }) && ext != nil
	has := func(sym string) bool {
		if !haveExt {
			return true
		}
		var err error
		return protect(func() { err = ext.LookupSymbol(sym) }) && err == nil
	}
	s.temperature = has(symTemperature)
	s.ccState, s.ccCaps, s.ccReady = has(symCCState), has(symCCCaps), has(symCCReady)
	s.ccSettings, s.ccMemSize, s.ccProtMemUse = has(symCCSettings), has(symCCMemSize), has(symCCProtMemUse)
	return s
}

// protect runs f and reports whether it returned without panicking. An
// injected nvml.Interface (a mock, a wrapper) may panic on a method it
// does not implement; one bad call must not take down a 1 Hz monitor.
func protect(f func()) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	f()
	return true
}

// recorder collects notes about NVML calls that failed unexpectedly.
type recorder struct{ notes []string }

// call runs an NVML call and reports whether it succeeded. NOT_SUPPORTED
// and FUNCTION_NOT_FOUND leave the value unknown silently; other errors
// and panics are noted as "field: reason".
func (r *recorder) call(field string, f func() nvml.Return) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			r.notes = append(r.notes, fmt.Sprintf("%s: panic in NVML call: %v", field, p))
			ok = false
		}
	}()
	switch ret := f(); ret {
	case nvml.SUCCESS:
		return true
	case nvml.ERROR_NOT_SUPPORTED, nvml.ERROR_FUNCTION_NOT_FOUND:
		return false
	default:
		r.notes = append(r.notes, field+": "+ret.Error())
		return false
	}
}

// system reads the driver and CUDA versions and the CC state into st.
func (s *nvmlSession) system(st *NVMLStatus) {
	var r recorder
	var drv string
	if r.call("driver version", func() (ret nvml.Return) { drv, ret = s.lib.SystemGetDriverVersion(); return }) {
		st.DriverVersion = drv
	}
	var cuda int
	if r.call("cuda version", func() (ret nvml.Return) { cuda, ret = s.lib.SystemGetCudaDriverVersion(); return }) {
		st.CUDAVersion = formatCUDAVersion(cuda)
	}
	st.CC = s.ccSystem(&r)
	st.Notes = r.notes
}

// ccSystem reads the system-wide CC state; nil when nothing is known.
func (s *nvmlSession) ccSystem(r *recorder) *CCState {
	var cc CCState
	known := false
	var state nvml.ConfComputeSystemState
	if s.ccState && r.call("cc state", func() (ret nvml.Return) { state, ret = s.lib.SystemGetConfComputeState(); return }) {
		known = true
		cc.Mode = ccMode(state.CcFeature, state.DevToolsMode)
		cc.Environment = ccEnvironment(state.Environment)
	}
	var caps nvml.ConfComputeSystemCaps
	if s.ccCaps && r.call("cc capabilities", func() (ret nvml.Return) { caps, ret = s.lib.SystemGetConfComputeCapabilities(); return }) {
		known = true
		cc.CPUCapability = ccCPUCap(caps.CpuCaps)
		capable := caps.GpusCaps == nvml.CC_SYSTEM_GPUS_CC_CAPABLE
		cc.GPUsCapable = &capable
	}
	var ready uint32
	if s.ccReady && r.call("cc ready state", func() (ret nvml.Return) { ready, ret = s.lib.SystemGetConfComputeGpusReadyState(); return }) {
		known = true
		accepting := ready == nvml.CC_ACCEPTING_CLIENT_REQUESTS_TRUE
		cc.GPUsReady = &accepting
	}
	var set nvml.SystemConfComputeSettings
	if s.ccSettings && r.call("cc settings", func() (ret nvml.Return) { set, ret = s.lib.SystemGetConfComputeSettings(); return }) {
		known = true
		cc.MultiGPUMode = ccMultiGPU(set.MultiGpuMode)
		if cc.Mode == "" {
			cc.Mode = ccMode(set.CcFeature, set.DevToolsMode)
			cc.Environment = ccEnvironment(set.Environment)
		}
	}
	if !known {
		return nil
	}
	return &cc
}

// devices reads every device NVML reports. Devices whose handle cannot be
// obtained are skipped with a note; sysfs will still list them.
func (s *nvmlSession) devices(ctx context.Context, ccOn bool) ([]GPU, []string, error) {
	var count int
	var r recorder
	if !r.call("device count", func() (ret nvml.Return) { count, ret = s.lib.DeviceGetCount(); return }) {
		why := "device count: not supported"
		if len(r.notes) > 0 {
			why = r.notes[0]
		}
		return nil, nil, fmt.Errorf("nvml %s", why)
	}
	gpus := make([]GPU, 0, count)
	var notes []string
	for i := range count {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		var dev nvml.Device
		var hr recorder
		if !hr.call("handle", func() (ret nvml.Return) { dev, ret = s.lib.DeviceGetHandleByIndex(i); return }) || dev == nil {
			why := "handle: not available"
			if len(hr.notes) > 0 {
				why = hr.notes[0]
			}
			notes = append(notes, fmt.Sprintf("nvml device %d: %s", i, why))
			continue
		}
		gpus = append(gpus, s.device(i, dev, ccOn))
	}
	return gpus, notes, nil
}

// device reads one device. Every field is independent: a failure leaves
// that field unknown.
func (s *nvmlSession) device(index int, dev nvml.Device, ccOn bool) GPU {
	g := GPU{Source: SourceNVML, Index: &index}
	var r recorder

	var name, uuid string
	if r.call("name", func() (ret nvml.Return) { name, ret = dev.GetName(); return }) {
		g.Name = name
	}
	if r.call("uuid", func() (ret nvml.Return) { uuid, ret = dev.GetUUID(); return }) {
		g.UUID = uuid
	}
	var pci nvml.PciInfo
	if r.call("pci info", func() (ret nvml.Return) { pci, ret = dev.GetPciInfo(); return }) {
		g.BusID = NormalizeBusID(int8String(pci.BusId[:]))
		if pci.PciDeviceId != 0 {
			g.VendorID = fmt.Sprintf("%04x", pci.PciDeviceId&0xffff)
			g.DeviceID = fmt.Sprintf("%04x", pci.PciDeviceId>>16)
			g.Model = lookupModelPtr(g.VendorID, g.DeviceID)
		}
	}
	var arch nvml.DeviceArchitecture
	if r.call("architecture", func() (ret nvml.Return) { arch, ret = dev.GetArchitecture(); return }) {
		g.Architecture = archName(arch)
	}
	if g.Architecture == "" && g.Model != nil {
		g.Architecture = g.Model.Architecture
	}
	var mem nvml.Memory
	if r.call("memory", func() (ret nvml.Return) { mem, ret = dev.GetMemoryInfo(); return }) {
		total, used := mem.Total>>20, mem.Used>>20
		g.MemoryTotalMiB, g.MemoryUsedMiB = &total, &used
	}
	var major, minor int
	if r.call("compute capability", func() (ret nvml.Return) { major, minor, ret = dev.GetCudaComputeCapability(); return }) {
		g.ComputeCapability = strconv.Itoa(major) + "." + strconv.Itoa(minor)
	}
	var util nvml.Utilization
	if r.call("utilization", func() (ret nvml.Return) { util, ret = dev.GetUtilizationRates(); return }) {
		g.UtilizationPct = &util.Gpu
	}
	var temp uint32
	if s.temperature && r.call("temperature", func() (ret nvml.Return) { temp, ret = dev.GetTemperature(nvml.TEMPERATURE_GPU); return }) {
		g.TemperatureC = &temp
	}
	var mw uint32
	if r.call("power draw", func() (ret nvml.Return) { mw, ret = dev.GetPowerUsage(); return }) {
		w := float64(mw) / 1000
		g.PowerDrawW = &w
	}
	if r.call("power limit", func() (ret nvml.Return) { mw, ret = dev.GetEnforcedPowerLimit(); return }) {
		w := float64(mw) / 1000
		g.PowerLimitW = &w
	}
	g.Processes = processCount(dev, &r)

	if ccOn {
		var info nvml.ConfComputeMemSizeInfo
		if s.ccMemSize && r.call("cc memory size", func() (ret nvml.Return) { info, ret = dev.GetConfComputeMemSizeInfo(); return }) {
			prot, unprot := info.ProtectedMemSizeKib>>10, info.UnprotectedMemSizeKib>>10
			g.CCProtectedMiB, g.CCUnprotectedMiB = &prot, &unprot
		}
		var pm nvml.Memory
		if s.ccProtMemUse && r.call("cc protected memory usage", func() (ret nvml.Return) { pm, ret = dev.GetConfComputeProtectedMemoryUsage(); return }) {
			used := pm.Used >> 20
			g.CCProtectedUsedMiB = &used
		}
	}
	g.Notes = r.notes
	return g
}

// processCount counts distinct PIDs among the compute and graphics
// processes. It is nil when neither list could be read.
func processCount(dev nvml.Device, r *recorder) *int {
	pids := make(map[uint32]struct{})
	known := false
	var procs []nvml.ProcessInfo
	if r.call("compute processes", func() (ret nvml.Return) { procs, ret = dev.GetComputeRunningProcesses(); return }) {
		known = true
		for _, p := range procs {
			pids[p.Pid] = struct{}{}
		}
	}
	if r.call("graphics processes", func() (ret nvml.Return) { procs, ret = dev.GetGraphicsRunningProcesses(); return }) {
		known = true
		for _, p := range procs {
			pids[p.Pid] = struct{}{}
		}
	}
	if !known {
		return nil
	}
	n := len(pids)
	return &n
}

// int8String converts a NUL-terminated C char array to a string.
func int8String(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

// formatCUDAVersion turns NVML's 12040 into "12.4".
func formatCUDAVersion(v int) string {
	if v <= 0 {
		return ""
	}
	return strconv.Itoa(v/1000) + "." + strconv.Itoa(v%1000/10)
}

func archName(a nvml.DeviceArchitecture) string {
	switch a {
	case nvml.DEVICE_ARCH_KEPLER:
		return "Kepler"
	case nvml.DEVICE_ARCH_MAXWELL:
		return "Maxwell"
	case nvml.DEVICE_ARCH_PASCAL:
		return "Pascal"
	case nvml.DEVICE_ARCH_VOLTA:
		return "Volta"
	case nvml.DEVICE_ARCH_TURING:
		return "Turing"
	case nvml.DEVICE_ARCH_AMPERE:
		return ArchAmpere
	case nvml.DEVICE_ARCH_ADA:
		return ArchAda
	case nvml.DEVICE_ARCH_HOPPER:
		return ArchHopper
	case nvml.DEVICE_ARCH_BLACKWELL:
		return ArchBlackwell
	case nvml.DEVICE_ARCH_RUBIN:
		return "Rubin"
	}
	return ""
}

// ccMode maps NVML's CC feature and devtools flags to a CCMode* value.
// DevTools mode is a variant of CC on, so it wins over the feature flag.
func ccMode(feature, devTools uint32) string {
	switch {
	case devTools == nvml.CC_SYSTEM_DEVTOOLS_MODE_ON:
		return CCModeDevTools
	case feature == nvml.CC_SYSTEM_FEATURE_ENABLED:
		return CCModeOn
	case feature == nvml.CC_SYSTEM_FEATURE_DISABLED:
		return CCModeOff
	}
	return unknownValue(feature)
}

func ccEnvironment(v uint32) string {
	switch v {
	case nvml.CC_SYSTEM_ENVIRONMENT_UNAVAILABLE:
		return "unavailable"
	case nvml.CC_SYSTEM_ENVIRONMENT_SIM:
		return "simulation"
	case nvml.CC_SYSTEM_ENVIRONMENT_PROD:
		return "production"
	}
	return unknownValue(v)
}

func ccCPUCap(v uint32) string {
	switch v {
	case nvml.CC_SYSTEM_CPU_CAPS_NONE:
		return CPUCapNone
	case nvml.CC_SYSTEM_CPU_CAPS_AMD_SEV:
		return CPUCapAMDSEV
	case nvml.CC_SYSTEM_CPU_CAPS_INTEL_TDX:
		return CPUCapIntelTDX
	case nvml.CC_SYSTEM_CPU_CAPS_AMD_SEV_SNP:
		return CPUCapAMDSEVSNP
	case nvml.CC_SYSTEM_CPU_CAPS_AMD_SNP_VTOM:
		return CPUCapAMDSNPVTOM
	}
	return unknownValue(v)
}

func ccMultiGPU(v uint32) string {
	switch v {
	case nvml.CC_SYSTEM_MULTIGPU_NONE:
		return "none"
	case nvml.CC_SYSTEM_MULTIGPU_PROTECTED_PCIE:
		return "protected-pcie"
	case nvml.CC_SYSTEM_MULTIGPU_NVLE:
		return "nvle"
	}
	return unknownValue(v)
}

// unknownValue keeps an enum value this package does not know visible.
func unknownValue(v uint32) string { return "unknown(" + strconv.FormatUint(uint64(v), 10) + ")" }
