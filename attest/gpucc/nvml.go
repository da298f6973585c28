//go:build linux && cgo

package gpucc

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// This file reads the NVIDIA GPU confidential-computing (CC) state through
// NVML (spec §9). It reports what NVML says; verifying the attestation
// report and certificates against NVIDIA's RIMs and OCSP is nvTrust's job,
// not this package's.

// NVML symbols of the CC calls. go-nvml binds symbols lazily: calling one
// the loaded libnvidia-ml lacks (an older driver) aborts the process,
// so each is looked up first.
const (
	symCCCaps     = "nvmlSystemGetConfComputeCapabilities"
	symCCState    = "nvmlSystemGetConfComputeState"
	symCCSettings = "nvmlSystemGetConfComputeSettings"
	symCCReady    = "nvmlSystemGetConfComputeGpusReadyState"
	symCCMemSize  = "nvmlDeviceGetConfComputeMemSizeInfo"
	symCCMemUsage = "nvmlDeviceGetConfComputeProtectedMemoryUsage"
	symCCCert     = "nvmlDeviceGetConfComputeGpuCertificate"
	symCCReport   = "nvmlDeviceGetConfComputeGpuAttestationReport"
)

// GPUCCState reads the NVIDIA confidential-computing state through lib:
// the system's CC capabilities, state, settings and GPUs-ready state, and
// for every device its name, UUID, PCI bus id, protected memory, an
// attestation report (when opts.Nonce is set) and certificate chains. It
// calls lib.Init and lib.Shutdown itself; NVML counts references, so a
// caller's own session stays open.
//
// NOT_SUPPORTED answers become CCUnsupported; other failures, including
// panics inside lib, become Notes and leave the field empty. The error is
// non-nil only when NVML cannot be used at all (Init fails); the report
// then still carries Ready false and the reason.
func GPUCCState(lib nvml.Interface, opts CCOptions) (rep CCReport, err error) {
	if lib == nil {
		rep.Reasons = []string{"no NVML library was given"}
		return rep, errors.New("attest: GPUCCState: nil NVML interface")
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	ret, panicked := ccProtect(lib.Init)
	if panicked != nil || ret != nvml.SUCCESS {
		why := NVMLInitReason(ret)
		if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
			why += ". " + ccUnseen()
		}
		if panicked != nil {
			why = fmt.Sprintf("NVML could not be initialised (panic in Init: %v)", panicked)
		}
		rep.Reasons = []string{why}
		if panicked != nil {
			return rep, fmt.Errorf("attest: nvml init: panic: %v", panicked)
		}
		return rep, fmt.Errorf("attest: nvml init: %w", ret)
	}
	rep.NVML = true
	defer func() {
		if ret, p := ccProtect(lib.Shutdown); p != nil || ret != nvml.SUCCESS {
			rep.Notes = append(rep.Notes, fmt.Sprintf("shutdown: %s", ccWhy(ret, p)))
		}
	}()

	s := ccSession{lib: lib, has: ccSymbols(lib), now: opts.Now}
	s.system(&rep)
	s.devices(&rep, opts.Nonce)
	rep.Reasons = ccReasons(&rep, opts.Nonce != nil)
	rep.Ready = len(rep.Reasons) == 0
	return rep, nil
}

// ccSession is one GPUCCState run over an initialised library.
type ccSession struct {
	lib nvml.Interface
	has func(sym string) bool
	now time.Time
}

// ccSymbols returns a lookup of the library's exported symbols. A library
// without a working Extensions (a test double) is taken to have them all.
func ccSymbols(lib nvml.Interface) func(string) bool {
	var ext nvml.ExtendedInterface
	if _, p := ccProtect(func() nvml.Return { ext = lib.Extensions(); return nvml.SUCCESS }); p != nil || ext == nil {
		return func(string) bool { return true }
	}
	return func(sym string) bool {
		var err error
		_, p := ccProtect(func() nvml.Return { err = ext.LookupSymbol(sym); return nvml.SUCCESS })
		return p == nil && err == nil
	}
}

// ccProtect runs an NVML call and turns a panic into a value.
func ccProtect(f func() nvml.Return) (ret nvml.Return, panicked any) {
	defer func() {
		if p := recover(); p != nil {
			ret, panicked = nvml.ERROR_UNKNOWN, p
		}
	}()
	return f(), nil
}

func ccWhy(ret nvml.Return, panicked any) string {
	if panicked != nil {
		return fmt.Sprintf("panic in NVML call: %v", panicked)
	}
	return ret.Error()
}

// ccCall makes one NVML call named item when the library exports sym ("" =
// always there) and classifies the outcome as CCItemOK, CCUnsupported or
// CCItemFailed (noted in *notes).
func (s *ccSession) ccCall(notes *[]string, item, sym string, f func() nvml.Return) string {
	if sym != "" && !s.has(sym) {
		*notes = append(*notes, fmt.Sprintf("%s: the NVML library lacks %s (driver too old for confidential computing)", item, sym))
		return CCUnsupported
	}
	ret, p := ccProtect(f)
	switch {
	case p != nil:
	case ret == nvml.SUCCESS:
		return CCItemOK
	case ret == nvml.ERROR_NOT_SUPPORTED:
		return CCUnsupported
	case ret == nvml.ERROR_FUNCTION_NOT_FOUND:
		*notes = append(*notes, item+": the driver does not implement this call")
		return CCUnsupported
	}
	*notes = append(*notes, item+": "+ccWhy(ret, p))
	return CCItemFailed
}

// system reads the system-wide CC values into rep.
func (s *ccSession) system(rep *CCReport) {
	var caps nvml.ConfComputeSystemCaps
	switch s.ccCall(&rep.Notes, "cc capabilities", symCCCaps, func() (ret nvml.Return) {
		caps, ret = s.lib.SystemGetConfComputeCapabilities()
		return
	}) {
	case CCItemOK:
		rep.CPU = ccCPUName(caps.CpuCaps)
		rep.GPUs = ccGPUsName(caps.GpusCaps)
	case CCUnsupported:
		rep.CPU, rep.GPUs = CCUnsupported, CCUnsupported
	}

	var state nvml.ConfComputeSystemState
	switch s.ccCall(&rep.Notes, "cc state", symCCState, func() (ret nvml.Return) {
		state, ret = s.lib.SystemGetConfComputeState()
		return
	}) {
	case CCItemOK:
		rep.Mode = ccModeName(state.CcFeature, state.DevToolsMode)
		rep.Environment = ccEnvName(state.Environment)
	case CCUnsupported:
		rep.Mode, rep.Environment = CCUnsupported, CCUnsupported
	}

	var set nvml.SystemConfComputeSettings
	switch s.ccCall(&rep.Notes, "cc settings", symCCSettings, func() (ret nvml.Return) {
		set, ret = s.lib.SystemGetConfComputeSettings()
		return
	}) {
	case CCItemOK:
		rep.MultiGPU = ccMultiGPUName(set.MultiGpuMode)
		// The settings repeat the state; use them when the state call
		// gave nothing.
		if rep.Mode == "" || rep.Mode == CCUnsupported {
			rep.Mode = ccModeName(set.CcFeature, set.DevToolsMode)
			rep.Environment = ccEnvName(set.Environment)
		}
	case CCUnsupported:
		rep.MultiGPU = CCUnsupported
	}

	var ready uint32
	switch s.ccCall(&rep.Notes, "cc gpus ready state", symCCReady, func() (ret nvml.Return) {
		ready, ret = s.lib.SystemGetConfComputeGpusReadyState()
		return
	}) {
	case CCItemOK:
		rep.GPUsReady = ccReadyName(ready)
	case CCUnsupported:
		rep.GPUsReady = CCUnsupported
	}
}

// devices reads every device into rep.Devices.
func (s *ccSession) devices(rep *CCReport, nonce *[32]byte) {
	var count int
	if s.ccCall(&rep.Notes, "device count", "", func() (ret nvml.Return) {
		count, ret = s.lib.DeviceGetCount()
		return
	}) != CCItemOK {
		rep.Notes = append(rep.Notes, "device count: NVML cannot list the GPUs")
		return
	}
	for i := range count {
		d := CCDevice{Index: i}
		var dev nvml.Device
		if s.ccCall(&d.Notes, "handle", "", func() (ret nvml.Return) {
			dev, ret = s.lib.DeviceGetHandleByIndex(i)
			return
		}) != CCItemOK || dev == nil {
			d.Notes = append(d.Notes, "handle: NVML gave no handle for this GPU")
			rep.Devices = append(rep.Devices, d)
			continue
		}
		s.device(&d, dev, nonce)
		rep.Devices = append(rep.Devices, d)
	}
}

// device reads one device's identity and CC items into d.
func (s *ccSession) device(d *CCDevice, dev nvml.Device, nonce *[32]byte) {
	s.ccCall(&d.Notes, "name", "", func() (ret nvml.Return) { d.Name, ret = dev.GetName(); return })
	s.ccCall(&d.Notes, "uuid", "", func() (ret nvml.Return) { d.UUID, ret = dev.GetUUID(); return })
	var pci nvml.PciInfo
	if s.ccCall(&d.Notes, "pci info", "", func() (ret nvml.Return) { pci, ret = dev.GetPciInfo(); return }) == CCItemOK {
		d.BusID = ccCString(pci.BusId[:])
	}

	var outcomes []string
	var mem nvml.ConfComputeMemSizeInfo
	d.Memory.Status = s.ccCall(&d.Notes, "cc memory size", symCCMemSize, func() (ret nvml.Return) {
		mem, ret = dev.GetConfComputeMemSizeInfo()
		return
	})
	outcomes = append(outcomes, d.Memory.Status)
	if d.Memory.Status == CCItemOK {
		d.Memory.ProtectedKiB, d.Memory.UnprotectedKiB = mem.ProtectedMemSizeKib, mem.UnprotectedMemSizeKib
	}
	var use nvml.Memory
	st := s.ccCall(&d.Notes, "cc protected memory usage", symCCMemUsage, func() (ret nvml.Return) {
		use, ret = dev.GetConfComputeProtectedMemoryUsage()
		return
	})
	outcomes = append(outcomes, st)
	if st == CCItemOK {
		used, total := use.Used, use.Total
		d.Memory.UsedBytes, d.Memory.TotalBytes = &used, &total
	}

	d.Report.Status = CCItemSkipped
	if nonce != nil {
		d.Report.Nonce = *nonce
		r := &nvml.ConfComputeGpuAttestationReport{Nonce: *nonce}
		d.Report.Status = s.ccCall(&d.Notes, "attestation report", symCCReport, func() nvml.Return {
			return dev.GetConfComputeGpuAttestationReport(r)
		})
		outcomes = append(outcomes, d.Report.Status)
		if d.Report.Status == CCItemOK {
			d.Report.Report = ccClip(&d.Notes, "attestation report", r.AttestationReport[:], r.AttestationReportSize)
			if r.IsCecAttestationReportPresent != 0 {
				d.Report.CEC = ccClip(&d.Notes, "CEC attestation report", r.CecAttestationReport[:], r.CecAttestationReportSize)
			}
			if len(d.Report.Report) == 0 {
				d.Report.Status = CCItemFailed
				d.Notes = append(d.Notes, "attestation report: NVML returned an empty report")
			}
		}
	}

	var cert nvml.ConfComputeGpuCertificate
	d.Certificates.Status = s.ccCall(&d.Notes, "certificates", symCCCert, func() (ret nvml.Return) {
		cert, ret = dev.GetConfComputeGpuCertificate()
		return
	})
	outcomes = append(outcomes, d.Certificates.Status)
	if d.Certificates.Status == CCItemOK {
		c := &d.Certificates
		c.CertChain = ccClip(&d.Notes, "certificate chain", cert.CertChain[:], cert.CertChainSize)
		c.AttestationCertChain = ccClip(&d.Notes, "attestation certificate chain", cert.AttestationCertChain[:], cert.AttestationCertChainSize)
		var err error
		if c.Chain, err = ccParseChain(c.CertChain, s.now); err != nil {
			c.ParseErrors = append(c.ParseErrors, "certificate chain: "+err.Error())
		}
		if c.AttestationChain, err = ccParseChain(c.AttestationCertChain, s.now); err != nil {
			c.ParseErrors = append(c.ParseErrors, "attestation certificate chain: "+err.Error())
		}
		if len(c.CertChain) == 0 && len(c.AttestationCertChain) == 0 {
			c.Status = CCItemFailed
			d.Notes = append(d.Notes, "certificates: NVML returned empty chains")
		}
	}

	switch {
	case slices.Contains(outcomes, CCItemOK):
		d.CC = CCGPUsCapable
	case !slices.Contains(outcomes, CCItemFailed):
		d.CC = CCUnsupported
	}
}

// ccClip returns a copy of buf cut to the size NVML reported, noting a size
// larger than the buffer.
func ccClip(notes *[]string, item string, buf []uint8, size uint32) []byte {
	n := int(size)
	if uint64(size) > uint64(len(buf)) {
		*notes = append(*notes, fmt.Sprintf("%s: NVML reports %d bytes in a %d-byte buffer; cut to the buffer", item, size, len(buf)))
		n = len(buf)
	}
	if n == 0 {
		return nil
	}
	return append([]byte(nil), buf[:n]...)
}

// ccParseChain parses a certificate chain given as concatenated PEM blocks
// or, failing that, concatenated DER certificates.
func ccParseChain(raw []byte, now time.Time) ([]CCCert, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var certs []*x509.Certificate
	rest := raw
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		var err error
		if certs, err = x509.ParseCertificates(raw); err != nil {
			return nil, fmt.Errorf("neither PEM nor DER certificates: %w", err)
		}
	}
	out := make([]CCCert, 0, len(certs))
	for _, c := range certs {
		out = append(out, CCCert{
			Subject:   c.Subject.String(),
			Issuer:    c.Issuer.String(),
			NotBefore: c.NotBefore,
			NotAfter:  c.NotAfter,
			Expired:   now.Before(c.NotBefore) || now.After(c.NotAfter),
		})
	}
	return out, nil
}

// NVMLInitReason explains an NVML Init failure in words.
func NVMLInitReason(ret nvml.Return) string {
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

// ccCString converts a NUL-terminated C char array to a string.
func ccCString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

func ccUnknown(v uint32) string { return "unknown(" + strconv.FormatUint(uint64(v), 10) + ")" }

// ccModeName maps the CC feature and devtools flags to a CCMode value;
// devtools is a variant of CC on, so it wins.
func ccModeName(feature, devTools uint32) string {
	switch {
	case devTools == nvml.CC_SYSTEM_DEVTOOLS_MODE_ON:
		return CCModeDevTools
	case feature == nvml.CC_SYSTEM_FEATURE_ENABLED:
		return CCModeOn
	case feature == nvml.CC_SYSTEM_FEATURE_DISABLED:
		return CCModeOff
	}
	return ccUnknown(feature)
}

func ccEnvName(v uint32) string {
	switch v {
	case nvml.CC_SYSTEM_ENVIRONMENT_UNAVAILABLE:
		return CCEnvUnavailable
	case nvml.CC_SYSTEM_ENVIRONMENT_SIM:
		return CCEnvSimulation
	case nvml.CC_SYSTEM_ENVIRONMENT_PROD:
		return CCEnvProduction
	}
	return ccUnknown(v)
}

func ccCPUName(v uint32) string {
	switch v {
	case nvml.CC_SYSTEM_CPU_CAPS_NONE:
		return CCCPUNone
	case nvml.CC_SYSTEM_CPU_CAPS_AMD_SEV:
		return CCCPUAMDSEV
	case nvml.CC_SYSTEM_CPU_CAPS_INTEL_TDX:
		return CCCPUIntelTDX
	case nvml.CC_SYSTEM_CPU_CAPS_AMD_SEV_SNP:
		return CCCPUAMDSEVSNP
	case nvml.CC_SYSTEM_CPU_CAPS_AMD_SNP_VTOM:
		return CCCPUAMDSNPVTOM
	}
	return ccUnknown(v)
}

func ccGPUsName(v uint32) string {
	switch v {
	case nvml.CC_SYSTEM_GPUS_CC_CAPABLE:
		return CCGPUsCapable
	case nvml.CC_SYSTEM_GPUS_CC_NOT_CAPABLE:
		return CCGPUsNotCapable
	}
	return ccUnknown(v)
}

func ccMultiGPUName(v uint32) string {
	switch v {
	case nvml.CC_SYSTEM_MULTIGPU_NONE:
		return CCMultiGPUNone
	case nvml.CC_SYSTEM_MULTIGPU_PROTECTED_PCIE:
		return CCMultiGPUProtectedPCIe
	case nvml.CC_SYSTEM_MULTIGPU_NVLE:
		return CCMultiGPUNVLE
	}
	return ccUnknown(v)
}

func ccReadyName(v uint32) string {
	switch v {
	case nvml.CC_ACCEPTING_CLIENT_REQUESTS_TRUE:
		return CCReadyAccepting
	case nvml.CC_ACCEPTING_CLIENT_REQUESTS_FALSE:
		return CCReadyNotAccepting
	}
	return ccUnknown(v)
}
