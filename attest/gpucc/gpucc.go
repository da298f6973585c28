// Package gpucc reads NVIDIA GPU confidential-computing state through
// go-nvml (attestation spec §9). It is apart from package attest because
// go-nvml needs cgo, and attest is also built into the static stand-in
// guest agent. GPUCCState needs go-nvml, so cgo on Linux; other builds have
// the report types and their verdicts only.
package gpucc

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

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

// CCQueryFix says how to read the CC mode of the GPU at PCI address bdf
// where NVML cannot (a GPU bound to vfio-pci, or a host without the NVIDIA
// driver): as root, with NVIDIA gpu-admin-tools.
func CCQueryFix(bdf string) string {
	return "Check the CC mode as root with NVIDIA gpu-admin-tools: python3 nvidia_gpu_tools.py --gpu-bdf=" + bdf + " --query-cc-mode"
}

// ccUnseen is the reason given when NVML cannot judge the CC mode because
// it sees no GPU.
func ccUnseen() string { return "NVML cannot see a GPU bound to vfio-pci. " + CCQueryFix("<BDF>") }
