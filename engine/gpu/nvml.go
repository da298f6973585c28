//go:build linux && cgo

package gpu

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/cocoon-provider/cocoon-provider/attest/gpucc"
)

// NVML is the NVIDIA management library a Scanner reads (go-nvml, which
// needs cgo on Linux).
type NVML = nvml.Interface

// NewNVML returns the system's NVML library; it is loaded on first use.
func NewNVML() NVML { return nvml.New() }

// scanNVML fills st and returns NVML's devices. It initialises NVML when
// needed and drops the session when the driver stops answering.
func (s *Scanner) scanNVML(ctx context.Context, now time.Time, st *NVMLStatus) ([]GPU, []string, error) {
	if s.opts.NVML == nil {
		st.Reason = "NVML not used"
		return nil, nil, nil
	}
	if s.session == nil && (!s.tried || now.Sub(s.lastTry) >= InitRetryInterval) {
		s.tryInit(now)
	}
	if s.session == nil {
		st.Reason = s.initReason
		return nil, nil, nil
	}
	s.session.system(st)
	gpus, notes, err := s.session.devices(ctx)
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	if err != nil {
		// The driver stopped answering (unloaded, GPU lost): start over
		// after the retry interval.
		s.shutdown()
		s.tried, s.lastTry, s.initReason = true, now, err.Error()
		*st = NVMLStatus{Reason: s.initReason}
		return nil, nil, nil
	}
	st.Loaded = true
	if keys := gpuKeys(gpus); s.cc == nil || now.Sub(s.ccTime) >= CCInterval || keys != s.ccGPUs {
		s.readCC(now)
		s.ccGPUs = keys
	}
	st.CC = s.cc
	applyCC(gpus, s.cc)
	return gpus, notes, nil
}

// readCC reads the CC report. The session's own Init keeps NVML open, so
// GPUCCState's Init and Shutdown only count a reference up and down.
func (s *Scanner) readCC(now time.Time) {
	rep, _ := gpucc.GPUCCState(s.opts.NVML, gpucc.CCOptions{Now: now}) // a failed Init is in rep.Reasons
	s.cc, s.ccTime = &rep, now
}

// tryInit initialises NVML once.
func (s *Scanner) tryInit(now time.Time) {
	s.tried, s.lastTry = true, now
	ret := nvml.ERROR_UNKNOWN
	if !protect(func() { ret = s.opts.NVML.Init() }) {
		s.initReason = "NVML could not be initialised (panic in Init)"
		return
	}
	if ret != nvml.SUCCESS {
		s.initReason = gpucc.NVMLInitReason(ret)
		return
	}
	s.session = newSession(s.opts.NVML)
	s.initReason = ""
}

// shutdown closes the NVML session, if any.
func (s *Scanner) shutdown() error {
	if s.session == nil {
		return nil
	}
	s.session, s.cc = nil, nil
	ret := nvml.ERROR_UNKNOWN
	if !protect(func() { ret = s.opts.NVML.Shutdown() }) {
		return errors.New("gpu: nvml shutdown panicked")
	}
	if ret != nvml.SUCCESS {
		return fmt.Errorf("gpu: nvml shutdown: %w", ret)
	}
	return nil
}

// symTemperature is nvmlDeviceGetTemperature, deprecated since CUDA 13;
// a newer driver may not export it. go-nvml binds symbols lazily, so
// calling one the loaded library lacks would abort the process: it is
// looked up once after Init. The confidential-computing calls are
// gpucc.GPUCCState's, which looks up its own.
const symTemperature = "nvmlDeviceGetTemperature"

// nvmlSession is an initialised NVML library.
type nvmlSession struct {
	lib nvml.Interface
	// temperature is whether the loaded library exports symTemperature.
	temperature bool
}

// newSession wraps an NVML library whose Init succeeded. An implementation
// without Extensions (a test double) is assumed to have every symbol.
func newSession(lib nvml.Interface) *nvmlSession {
	s := &nvmlSession{lib: lib, temperature: true}
	var ext nvml.ExtendedInterface
	if protect(func() { ext = lib.Extensions() }) && ext != nil {
		var err error
		s.temperature = protect(func() { err = ext.LookupSymbol(symTemperature) }) && err == nil
	}
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

// system reads the driver and CUDA versions into st.
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
	st.Notes = r.notes
}

// devices reads every device NVML reports. Devices whose handle cannot be
// obtained are skipped with a note; sysfs will still list them.
func (s *nvmlSession) devices(ctx context.Context) ([]GPU, []string, error) {
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
		gpus = append(gpus, s.device(i, dev))
	}
	return gpus, notes, nil
}

// device reads one device. Every field is independent: a failure leaves
// that field unknown.
func (s *nvmlSession) device(index int, dev nvml.Device) GPU {
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
		g.BusID = pciBusID(pci)
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

// pciBusID returns NVML's NUL-terminated bus id ("00000000:17:00.0") in
// sysfs form (NormalizeBusID).
func pciBusID(pci nvml.PciInfo) string {
	var b [len(pci.BusId)]byte
	for i, c := range pci.BusId {
		b[i] = byte(c)
	}
	id, _, _ := strings.Cut(string(b[:]), "\x00")
	return NormalizeBusID(id)
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
