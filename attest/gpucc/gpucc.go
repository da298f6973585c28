// Package gpucc reads NVIDIA GPU confidential-computing state through
// go-nvml (attestation spec §9). It is apart from package attest because
// go-nvml needs cgo, and attest is also built into the static stand-in
// guest agent.
package gpucc

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// This file reads the NVIDIA GPU confidential-computing (CC) state through
// NVML (spec §9). It reports what NVML says; verifying the attestation
// report and certificates against NVIDIA's RIMs and OCSP is nvTrust's job,
// not this package's.

// CCUnsupported is the value of a CCReport or CCDevice field that NVML
// answered with NOT_SUPPORTED, or that the loaded driver lacks the call for.
const CCUnsupported = "unsupported"

// Values of CCReport fields; an empty string means unknown (the call failed,
// and Notes say why). Unknown NVML enum values read "unknown(N)".
const (
	CCModeOn       = "on"
	CCModeOff      = "off"
	CCModeDevTools = "devtools" // CC on with developer tools: not production-safe

	CCEnvProduction  = "production"
	CCEnvSimulation  = "simulation"
	CCEnvUnavailable = "unavailable"

	CCCPUNone       = "none"
	CCCPUAMDSEV     = "amd-sev"
	CCCPUIntelTDX   = "intel-tdx"
	CCCPUAMDSEVSNP  = "amd-sev-snp"
	CCCPUAMDSNPVTOM = "amd-snp-vtom"

	CCGPUsCapable    = "capable"
	CCGPUsNotCapable = "not-capable"

	CCMultiGPUNone          = "none"
	CCMultiGPUProtectedPCIe = "protected-pcie"
	CCMultiGPUNVLE          = "nvle"

	CCReadyAccepting    = "accepting"
	CCReadyNotAccepting = "not-accepting"
)

// Status of a per-device CC item (CCDevice.Memory, Report, Certificates):
// one of these or CCUnsupported.
const (
	CCItemOK      = "ok"
	CCItemSkipped = "skipped" // not asked for (no nonce)
	CCItemFailed  = "failed"  // NVML returned another error or panicked; see Notes
)

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

// CCOptions tunes GPUCCState.
type CCOptions struct {
	// Nonce, when set, is sent with each device's attestation-report
	// request (the GPU signs it into the report); nil skips the report.
	Nonce *[32]byte
	// Now judges certificate validity; zero means time.Now().
	Now time.Time
}

// CCReport is the NVIDIA confidential-computing state of a system as NVML
// reports it, with a verdict.
type CCReport struct {
	// NVML is true when the library initialised; otherwise nothing else is
	// known and Reasons say why.
	NVML bool `json:"nvml"`
	// Mode is CCModeOn, CCModeOff, CCModeDevTools or CCUnsupported.
	Mode string `json:"mode,omitempty"`
	// Environment is CCEnvProduction, CCEnvSimulation, CCEnvUnavailable or
	// CCUnsupported.
	Environment string `json:"environment,omitempty"`
	// CPU is the CPU-side TEE NVML sees: CCCPUIntelTDX, CCCPUNone, … or
	// CCUnsupported.
	CPU string `json:"cpu,omitempty"`
	// GPUs is CCGPUsCapable, CCGPUsNotCapable or CCUnsupported.
	GPUs string `json:"gpus,omitempty"`
	// MultiGPU is the multi-GPU CC mode (Hopper and newer):
	// CCMultiGPUNone, CCMultiGPUProtectedPCIe, CCMultiGPUNVLE or
	// CCUnsupported.
	MultiGPU string `json:"multi_gpu,omitempty"`
	// GPUsReady is CCReadyAccepting once `nvidia-smi conf-compute -srs 1`
	// has run, CCReadyNotAccepting before, or CCUnsupported.
	GPUsReady string `json:"gpus_ready,omitempty"`
	// Devices are the GPUs NVML lists, in index order.
	Devices []CCDevice `json:"devices,omitempty"`
	// Ready is true when everything a Cocoon guest needs is in place: CC
	// on in production (no devtools), Intel TDX on the CPU side, capable
	// GPUs accepting client requests, multi-GPU mode none and, when a nonce
	// was given, an attestation report and certificates from every GPU.
	Ready bool `json:"ready"`
	// Reasons say what is missing when Ready is false, with the fix where
	// one is known.
	Reasons []string `json:"reasons,omitempty"`
	// Notes are system-level calls that failed unexpectedly.
	Notes []string `json:"notes,omitempty"`
}

// CCDevice is one GPU's CC state.
type CCDevice struct {
	Index int    `json:"index"`
	Name  string `json:"name,omitempty"`
	UUID  string `json:"uuid,omitempty"`
	// BusID is the PCI address as NVML prints it (00000000:17:00.0).
	BusID string `json:"bus_id,omitempty"`
	// CC is CCGPUsCapable when any per-device CC call succeeded,
	// CCUnsupported when every one that was made answered NOT_SUPPORTED,
	// and empty otherwise.
	CC string `json:"cc,omitempty"`
	// Memory is the protected-memory information.
	Memory CCMemory `json:"memory"`
	// Report is the GPU attestation report.
	Report CCAttestationReport `json:"report"`
	// Certificates are the GPU's certificate chains.
	Certificates CCCertificates `json:"certificates"`
	// Notes are calls for this device that failed unexpectedly.
	Notes []string `json:"notes,omitempty"`
}

// CCMemory is a GPU's CC-protected memory.
type CCMemory struct {
	// Status is CCItemOK when the sizes were read, else CCUnsupported or
	// CCItemFailed.
	Status string `json:"status"`
	// ProtectedKiB and UnprotectedKiB are the CC memory split.
	ProtectedKiB   uint64 `json:"protected_kib,omitempty"`
	UnprotectedKiB uint64 `json:"unprotected_kib,omitempty"`
	// UsedBytes and TotalBytes are the protected memory in use; nil when
	// that call failed.
	UsedBytes  *uint64 `json:"used_bytes,omitempty"`
	TotalBytes *uint64 `json:"total_bytes,omitempty"`
}

// CCAttestationReport is a GPU attestation report, unverified.
type CCAttestationReport struct {
	// Status is CCItemOK, CCItemSkipped, CCUnsupported or CCItemFailed.
	Status string `json:"status"`
	// Nonce is the nonce that was sent.
	Nonce [32]byte `json:"-"`
	// Report is the SPDM attestation report, AttestationReportSize bytes.
	Report []byte `json:"report,omitempty"`
	// CEC is the CEC attestation report, when the GPU gave one.
	CEC []byte `json:"cec,omitempty"`
}

// CCCertificates are a GPU's certificate chains, unverified.
type CCCertificates struct {
	// Status is CCItemOK, CCUnsupported or CCItemFailed.
	Status string `json:"status"`
	// CertChain and AttestationCertChain are the raw chains, cut to the
	// sizes NVML reports.
	CertChain            []byte `json:"-"`
	AttestationCertChain []byte `json:"-"`
	// Chain and AttestationChain are the parsed certificates of each
	// chain, leaf first as NVML gives them; empty when a chain could not be
	// parsed (ParseErrors say why).
	Chain            []CCCert `json:"chain,omitempty"`
	AttestationChain []CCCert `json:"attestation_chain,omitempty"`
	ParseErrors      []string `json:"parse_errors,omitempty"`
}

// CCCert summarises one certificate of a GPU chain.
type CCCert struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// Expired is true when Now is outside NotBefore–NotAfter.
	Expired bool `json:"expired,omitempty"`
}

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

// ModeReasons is the part of Reasons a host can act on before it hands its
// GPUs to a TDX guest: NVML works and sees a GPU, CC mode is on (not
// devtools) in the production environment, and the multi-GPU mode is none.
// The rest of Reasons (Intel TDX on the CPU side, GPUs accepting client
// requests, reports and certificates) only holds inside a Cocoon guest, so
// host readiness checks should use ModeReasons, not Ready.
func (r CCReport) ModeReasons() []string {
	if !r.NVML {
		return r.Reasons
	}
	reasons, _ := ccModeReasons(&r)
	return reasons
}

// ccModeReasons returns the reasons of ModeReasons, most basic first, and
// whether the remaining checks are pointless (no GPU, or no CC at all).
func ccModeReasons(rep *CCReport) (r []string, final bool) {
	if len(rep.Devices) == 0 {
		return append(r, "NVML sees no GPU. "+ccUnseen()), true
	}
	bdf := ccBDF(rep.Devices)
	setCC := fmt.Sprintf("Switch it on as root with NVIDIA gpu-admin-tools: python3 nvidia_gpu_tools.py --gpu-bdf=%s --set-ppcie-mode=off --reset-after-ppcie-mode-switch, then --set-cc-mode=on --reset-after-cc-mode-switch", bdf)
	switch rep.Mode {
	case CCModeOn:
	case CCUnsupported:
		return append(r, "NVML reports confidential computing as not supported on this system (a GPU or driver without CC)"), true
	case CCModeOff:
		r = append(r, "CC mode is off. "+setCC)
	case CCModeDevTools:
		r = append(r, "CC mode is devtools, which is not production-safe. "+setCC)
	case "":
		r = append(r, "CC mode could not be read ("+ccFirstNote(rep.Notes, "cc state", "cc settings")+")")
	default:
		r = append(r, "CC mode is "+rep.Mode+", want on")
	}
	if rep.Environment != CCEnvProduction && rep.Environment != "" && rep.Environment != CCUnsupported {
		r = append(r, fmt.Sprintf("CC environment is %s, want production", rep.Environment))
	}
	switch rep.MultiGPU {
	case CCMultiGPUNone, "", CCUnsupported:
	default:
		r = append(r, fmt.Sprintf("multi-GPU CC mode is %s; Cocoon runs with none (PPCIe off). As root: python3 nvidia_gpu_tools.py --gpu-bdf=%s --set-ppcie-mode=off --reset-after-ppcie-mode-switch", rep.MultiGPU, bdf))
	}
	return r, false
}

// ccReasons says what keeps rep from Ready, most basic first: the mode
// reasons, then the guest side. Per-device items are judged only when CC
// is on, since with CC off they cannot work.
func ccReasons(rep *CCReport, wantReport bool) []string {
	r, final := ccModeReasons(rep)
	if final {
		return r
	}
	switch rep.CPU {
	case CCCPUIntelTDX:
	case "":
		r = append(r, "the CPU-side CC capability could not be read ("+ccFirstNote(rep.Notes, "cc capabilities")+")")
	default:
		r = append(r, fmt.Sprintf("NVML sees CPU CC capability %s, want intel-tdx (NVML reports it inside a TDX guest)", rep.CPU))
	}
	switch rep.GPUs {
	case CCGPUsCapable, "":
	default:
		r = append(r, fmt.Sprintf("NVML reports the GPUs as %s for confidential computing", rep.GPUs))
	}
	if rep.Mode != CCModeOn && rep.Mode != CCModeDevTools {
		return r
	}
	switch rep.GPUsReady {
	case CCReadyAccepting:
	case "":
		r = append(r, "the GPUs ready state could not be read ("+ccFirstNote(rep.Notes, "cc gpus ready state")+")")
	default:
		r = append(r, "the GPUs do not accept client requests in CC mode yet: run `nvidia-smi conf-compute -srs 1` after attestation (Cocoon's nvidia-tdx.service does this inside the VM)")
	}
	for _, d := range rep.Devices {
		id := ccDeviceLabel(d)
		if wantReport && d.Report.Status != CCItemOK {
			r = append(r, fmt.Sprintf("GPU %s gave no attestation report (%s)", id, ccItemWhy(d.Report.Status, d.Notes, "attestation report")))
		}
		if d.Certificates.Status != CCItemOK {
			r = append(r, fmt.Sprintf("GPU %s gave no attestation certificates (%s)", id, ccItemWhy(d.Certificates.Status, d.Notes, "certificates")))
		}
	}
	return r
}

func ccBDF(devs []CCDevice) string {
	for _, d := range devs {
		if d.BusID != "" {
			return shortBDF(d.BusID)
		}
	}
	return "<BDF>"
}

// shortBDF writes NVML's bus id (8-digit domain, "00000000:17:00.0") in
// the sysfs form the tools take ("0000:17:00.0").
func shortBDF(id string) string {
	dom, rest, ok := strings.Cut(strings.ToLower(id), ":")
	if !ok || len(dom) != 8 || !strings.HasPrefix(dom, "0000") {
		return strings.ToLower(id)
	}
	return dom[4:] + ":" + rest
}

func ccDeviceLabel(d CCDevice) string {
	switch {
	case d.BusID != "":
		return d.BusID
	case d.UUID != "":
		return d.UUID
	}
	return strconv.Itoa(d.Index)
}

func ccItemWhy(status string, notes []string, item string) string {
	if status == CCUnsupported {
		return "NVML: not supported"
	}
	return ccFirstNote(notes, item)
}

// ccFirstNote returns the first note about one of items, without its
// "item: " prefix.
func ccFirstNote(notes []string, items ...string) string {
	for _, n := range notes {
		for _, it := range items {
			if rest, ok := strings.CutPrefix(n, it+": "); ok {
				return rest
			}
		}
	}
	return "no details"
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

// CCQueryFix says how to read the CC mode of the GPU at PCI address bdf
// where NVML cannot (a GPU bound to vfio-pci, or a host without the NVIDIA
// driver): as root, with NVIDIA gpu-admin-tools.
func CCQueryFix(bdf string) string {
	return "Check the CC mode as root with NVIDIA gpu-admin-tools: python3 nvidia_gpu_tools.py --gpu-bdf=" + bdf + " --query-cc-mode"
}

// ccUnseen is the reason given when NVML cannot judge the CC mode because
// it sees no GPU.
func ccUnseen() string { return "NVML cannot see a GPU bound to vfio-pci. " + CCQueryFix("<BDF>") }

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
