//go:build linux && cgo

package gpucc

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// t0 is the fixed time of the tests.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// gpuChain is a two-certificate ECDSA P-384 chain (leaf, then root), valid
// 2024-01-01 to 2030-01-01, as PEM and as concatenated DER.
type gpuChain struct {
	pem, der []byte
}

func newGPUChain(t testing.TB) gpuChain {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	rootKey, leafKey := key(), key()
	nb, na := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	root := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test GPU Root CA"},
		NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Test GH100 A01 FSP"},
		NotBefore: nb, NotAfter: na}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	var c gpuChain
	for _, der := range [][]byte{leafDER, rootDER} {
		c.pem = append(c.pem, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		c.der = append(c.der, der...)
	}
	return c
}

func busID(s string) (b [32]int8) {
	for i := range min(len(s), len(b)-1) {
		b[i] = int8(s[i])
	}
	return b
}

// ccMock holds the answers of a fake CC system; newCCServer turns it into
// a dgxh100 mock server with every call GPUCCState makes set.
type ccMock struct {
	caps     nvml.ConfComputeSystemCaps
	state    nvml.ConfComputeSystemState
	settings nvml.SystemConfComputeSettings
	ready    uint32
	// ret is what every system CC call returns.
	ret nvml.Return
	// devRet is what every device CC call returns, per device index.
	devRet map[int]nvml.Return
	// reportRet overrides devRet for the attestation report.
	reportRet map[int]nvml.Return
	chain     gpuChain
	// nonces records the nonce of each report request, per device.
	nonces map[int][32]byte
}

// ccOn is a Cocoon-ready system: TDX, capable GPUs, CC on in production,
// no devtools, multi-GPU none, accepting client requests.
func ccOn(t testing.TB) *ccMock {
	return &ccMock{
		caps:     nvml.ConfComputeSystemCaps{CpuCaps: nvml.CC_SYSTEM_CPU_CAPS_INTEL_TDX, GpusCaps: nvml.CC_SYSTEM_GPUS_CC_CAPABLE},
		state:    nvml.ConfComputeSystemState{Environment: nvml.CC_SYSTEM_ENVIRONMENT_PROD, CcFeature: nvml.CC_SYSTEM_FEATURE_ENABLED},
		settings: nvml.SystemConfComputeSettings{Environment: nvml.CC_SYSTEM_ENVIRONMENT_PROD, CcFeature: nvml.CC_SYSTEM_FEATURE_ENABLED, MultiGpuMode: nvml.CC_SYSTEM_MULTIGPU_NONE},
		ready:    nvml.CC_ACCEPTING_CLIENT_REQUESTS_TRUE,
		ret:      nvml.SUCCESS,
		chain:    newGPUChain(t),
		nonces:   map[int][32]byte{},
	}
}

func (m *ccMock) devReturn(i int) nvml.Return {
	if r, ok := m.devRet[i]; ok {
		return r
	}
	return m.ret
}

func newCCServer(m *ccMock, n int) *server.Server {
	s := dgxh100.NewWithGPUs(gpus.Multiple(n, gpus.H100_SXM5_80GB)...)
	s.SystemGetConfComputeCapabilitiesFunc = func() (nvml.ConfComputeSystemCaps, nvml.Return) { return m.caps, m.ret }
	s.SystemGetConfComputeStateFunc = func() (nvml.ConfComputeSystemState, nvml.Return) { return m.state, m.ret }
	s.SystemGetConfComputeSettingsFunc = func() (nvml.SystemConfComputeSettings, nvml.Return) { return m.settings, m.ret }
	s.SystemGetConfComputeGpusReadyStateFunc = func() (uint32, nvml.Return) { return m.ready, m.ret }
	for i, dev := range s.Devices {
		d := dev.(*server.Device)
		d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
			return nvml.PciInfo{PciDeviceId: d.Config.PciDeviceId, BusId: busID("0000" + d.PciBusID)}, nvml.SUCCESS
		}
		d.GetConfComputeMemSizeInfoFunc = func() (nvml.ConfComputeMemSizeInfo, nvml.Return) {
			return nvml.ConfComputeMemSizeInfo{ProtectedMemSizeKib: 79 << 20, UnprotectedMemSizeKib: 1 << 20}, m.devReturn(i)
		}
		d.GetConfComputeProtectedMemoryUsageFunc = func() (nvml.Memory, nvml.Return) {
			return nvml.Memory{Total: 79 << 30, Used: 1 << 30, Free: 78 << 30}, m.devReturn(i)
		}
		d.GetConfComputeGpuCertificateFunc = func() (nvml.ConfComputeGpuCertificate, nvml.Return) {
			var c nvml.ConfComputeGpuCertificate
			c.CertChainSize = uint32(copy(c.CertChain[:], m.chain.pem))
			c.AttestationCertChainSize = uint32(copy(c.AttestationCertChain[:], m.chain.der))
			return c, m.devReturn(i)
		}
		d.GetConfComputeGpuAttestationReportFunc = func(r *nvml.ConfComputeGpuAttestationReport) nvml.Return {
			m.nonces[i] = r.Nonce
			ret := m.devReturn(i)
			if rr, ok := m.reportRet[i]; ok {
				ret = rr
			}
			if ret != nvml.SUCCESS {
				return ret
			}
			// A stand-in report: 0x11 0xe0 0x00 0x00, the nonce, then filler.
			rep := append([]byte{0x11, 0xe0, 0, 0}, r.Nonce[:]...)
			rep = append(rep, bytes.Repeat([]byte{byte(i)}, 64)...)
			r.AttestationReportSize = uint32(copy(r.AttestationReport[:], rep))
			r.IsCecAttestationReportPresent = 1
			r.CecAttestationReportSize = uint32(copy(r.CecAttestationReport[:], "cec"))
			return nvml.SUCCESS
		}
	}
	return s
}

var testNonce = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}

func ccOpts() CCOptions {
	n := testNonce
	return CCOptions{Nonce: &n, Now: t0}
}

func TestGPUCCStateReady(t *testing.T) {
	m := ccOn(t)
	s := newCCServer(m, 2)
	rep, err := GPUCCState(s, ccOpts())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Ready || len(rep.Reasons) != 0 || len(rep.Notes) != 0 {
		t.Fatalf("Ready = %v, Reasons %q, Notes %q; want ready", rep.Ready, rep.Reasons, rep.Notes)
	}
	if rep.Mode != CCModeOn || rep.Environment != CCEnvProduction || rep.CPU != CCCPUIntelTDX || rep.GPUs != CCGPUsCapable ||
		rep.MultiGPU != CCMultiGPUNone || rep.GPUsReady != CCReadyAccepting || !rep.NVML {
		t.Errorf("system = %+v", rep)
	}
	if len(s.InitCalls()) != 1 || len(s.ShutdownCalls()) != 1 {
		t.Errorf("Init called %d times, Shutdown %d; want 1 and 1", len(s.InitCalls()), len(s.ShutdownCalls()))
	}
	if len(rep.Devices) != 2 {
		t.Fatalf("%d devices, want 2", len(rep.Devices))
	}
	for i, d := range rep.Devices {
		if d.Index != i || d.Name != "NVIDIA H100 80GB HBM3" || !strings.HasPrefix(d.UUID, "GPU-") || d.BusID != "00000000:0"+string(rune('0'+i))+":00.0" {
			t.Errorf("device %d identity = %d %q %q %q", i, d.Index, d.Name, d.UUID, d.BusID)
		}
		if d.CC != CCGPUsCapable || len(d.Notes) != 0 {
			t.Errorf("device %d: CC %q, notes %q", i, d.CC, d.Notes)
		}
		if d.Memory.Status != CCItemOK || d.Memory.ProtectedKiB != 79<<20 || d.Memory.UnprotectedKiB != 1<<20 ||
			d.Memory.UsedBytes == nil || *d.Memory.UsedBytes != 1<<30 || *d.Memory.TotalBytes != 79<<30 {
			t.Errorf("device %d memory = %+v", i, d.Memory)
		}
		if m.nonces[i] != testNonce || d.Report.Nonce != testNonce {
			t.Errorf("device %d: nonce sent %x, recorded %x", i, m.nonces[i], d.Report.Nonce)
		}
		if d.Report.Status != CCItemOK || len(d.Report.Report) != 4+32+64 || !bytes.Equal(d.Report.Report[4:36], testNonce[:]) || string(d.Report.CEC) != "cec" {
			t.Errorf("device %d report = %s %x %q", i, d.Report.Status, d.Report.Report, d.Report.CEC)
		}
		c := d.Certificates
		if c.Status != CCItemOK || !bytes.Equal(c.CertChain, m.chain.pem) || !bytes.Equal(c.AttestationCertChain, m.chain.der) || len(c.ParseErrors) != 0 {
			t.Errorf("device %d certificates = %s, %d/%d bytes, %q", i, c.Status, len(c.CertChain), len(c.AttestationCertChain), c.ParseErrors)
		}
		for _, chain := range [][]CCCert{c.Chain, c.AttestationChain} {
			if len(chain) != 2 || chain[0].Subject != "CN=Test GH100 A01 FSP" || chain[0].Issuer != "CN=Test GPU Root CA" ||
				chain[1].Subject != "CN=Test GPU Root CA" || chain[0].Expired || !chain[0].NotAfter.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("device %d chain = %+v", i, chain)
			}
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("json: %v", err)
	}

	// The chain is judged at Now.
	opts := ccOpts()
	opts.Now = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	rep, err = GPUCCState(newCCServer(m, 1), opts)
	if err != nil || !rep.Devices[0].Certificates.Chain[0].Expired {
		t.Errorf("after 2030: err %v, leaf expired = %v", err, rep.Devices[0].Certificates.Chain[0].Expired)
	}
}

func TestGPUCCStateNotReady(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*ccMock)
		mode    string
		reasons []string // substrings, one per reason, in order
	}{
		{"CC off", func(m *ccMock) {
			m.state.CcFeature, m.settings.CcFeature = nvml.CC_SYSTEM_FEATURE_DISABLED, nvml.CC_SYSTEM_FEATURE_DISABLED
			m.ready = nvml.CC_ACCEPTING_CLIENT_REQUESTS_FALSE
			m.devRet = map[int]nvml.Return{0: nvml.ERROR_NOT_SUPPORTED}
		}, CCModeOff, []string{"CC mode is off. Switch it on as root with NVIDIA gpu-admin-tools: python3 nvidia_gpu_tools.py --gpu-bdf=0000:00:00.0 --set-ppcie-mode=off --reset-after-ppcie-mode-switch, then --set-cc-mode=on --reset-after-cc-mode-switch"}},
		{"devtools", func(m *ccMock) {
			m.state.DevToolsMode = nvml.CC_SYSTEM_DEVTOOLS_MODE_ON
		}, CCModeDevTools, []string{"CC mode is devtools, which is not production-safe. Switch it on"}},
		{"not accepting client requests", func(m *ccMock) {
			m.ready = nvml.CC_ACCEPTING_CLIENT_REQUESTS_FALSE
		}, CCModeOn, []string{"run `nvidia-smi conf-compute -srs 1`"}},
		{"protected PCIe", func(m *ccMock) {
			m.settings.MultiGpuMode = nvml.CC_SYSTEM_MULTIGPU_PROTECTED_PCIE
		}, CCModeOn, []string{"multi-GPU CC mode is protected-pcie; Cocoon runs with none (PPCIe off). As root: python3 nvidia_gpu_tools.py --gpu-bdf=0000:00:00.0 --set-ppcie-mode=off"}},
		{"simulation, no TDX", func(m *ccMock) {
			m.state.Environment = nvml.CC_SYSTEM_ENVIRONMENT_SIM
			m.caps.CpuCaps = nvml.CC_SYSTEM_CPU_CAPS_NONE
		}, CCModeOn, []string{"CC environment is simulation, want production", "NVML sees CPU CC capability none, want intel-tdx"}},
		{"unknown enum value", func(m *ccMock) {
			m.state.CcFeature, m.settings.CcFeature = 7, 7
		}, "unknown(7)", []string{"CC mode is unknown(7), want on"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ccOn(t)
			tt.edit(m)
			rep, err := GPUCCState(newCCServer(m, 1), ccOpts())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Mode != tt.mode {
				t.Errorf("Mode = %q, want %q", rep.Mode, tt.mode)
			}
			if rep.Ready != (len(tt.reasons) == 0) || len(rep.Reasons) != len(tt.reasons) {
				t.Fatalf("Ready = %v, Reasons = %q; want %d reasons", rep.Ready, rep.Reasons, len(tt.reasons))
			}
			for i, want := range tt.reasons {
				if !strings.Contains(rep.Reasons[i], want) {
					t.Errorf("Reasons[%d] = %q, want it to contain %q", i, rep.Reasons[i], want)
				}
			}
		})
	}
}

func TestGPUCCStateStateFallsBackToSettings(t *testing.T) {
	m := ccOn(t)
	s := newCCServer(m, 1)
	s.SystemGetConfComputeStateFunc = func() (nvml.ConfComputeSystemState, nvml.Return) {
		return nvml.ConfComputeSystemState{}, nvml.ERROR_UNKNOWN
	}
	rep, err := GPUCCState(s, ccOpts())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != CCModeOn || rep.Environment != CCEnvProduction || !rep.Ready {
		t.Errorf("Mode %q, Environment %q, Ready %v, Reasons %q", rep.Mode, rep.Environment, rep.Ready, rep.Reasons)
	}
	if len(rep.Notes) != 1 || rep.Notes[0] != "cc state: ERROR_UNKNOWN" {
		t.Errorf("Notes = %q", rep.Notes)
	}
}

// TestGPUCCStateConsumerGPU: a GPU and driver without CC answer
// NOT_SUPPORTED everywhere; that is one reason, not a note per call.
func TestGPUCCStateConsumerGPU(t *testing.T) {
	notSupported := nvml.ERROR_NOT_SUPPORTED
	dev := &mock.Device{
		GetNameFunc: func() (string, nvml.Return) { return "NVIDIA GeForce RTX 4090", nvml.SUCCESS },
		GetUUIDFunc: func() (string, nvml.Return) { return "GPU-4090", nvml.SUCCESS },
		GetPciInfoFunc: func() (nvml.PciInfo, nvml.Return) {
			return nvml.PciInfo{BusId: busID("00000000:01:00.0")}, nvml.SUCCESS
		},
		GetConfComputeMemSizeInfoFunc: func() (nvml.ConfComputeMemSizeInfo, nvml.Return) {
			return nvml.ConfComputeMemSizeInfo{}, notSupported
		},
		GetConfComputeProtectedMemoryUsageFunc: func() (nvml.Memory, nvml.Return) { return nvml.Memory{}, notSupported },
		GetConfComputeGpuCertificateFunc: func() (nvml.ConfComputeGpuCertificate, nvml.Return) {
			return nvml.ConfComputeGpuCertificate{}, notSupported
		},
		GetConfComputeGpuAttestationReportFunc: func(*nvml.ConfComputeGpuAttestationReport) nvml.Return { return notSupported },
	}
	lib := &mock.Interface{
		InitFunc:     func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc: func() nvml.Return { return nvml.SUCCESS },
		ExtensionsFunc: func() nvml.ExtendedInterface {
			return &mock.ExtendedInterface{LookupSymbolFunc: func(string) error { return nil }}
		},
		SystemGetConfComputeCapabilitiesFunc: func() (nvml.ConfComputeSystemCaps, nvml.Return) {
			return nvml.ConfComputeSystemCaps{}, notSupported
		},
		SystemGetConfComputeStateFunc: func() (nvml.ConfComputeSystemState, nvml.Return) {
			return nvml.ConfComputeSystemState{}, notSupported
		},
		SystemGetConfComputeSettingsFunc: func() (nvml.SystemConfComputeSettings, nvml.Return) {
			return nvml.SystemConfComputeSettings{}, notSupported
		},
		SystemGetConfComputeGpusReadyStateFunc: func() (uint32, nvml.Return) { return 0, notSupported },
		DeviceGetCountFunc:                     func() (int, nvml.Return) { return 1, nvml.SUCCESS },
		DeviceGetHandleByIndexFunc:             func(int) (nvml.Device, nvml.Return) { return dev, nvml.SUCCESS },
	}
	rep, err := GPUCCState(lib, ccOpts())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ready || len(rep.Reasons) != 1 || !strings.Contains(rep.Reasons[0], "not supported on this system") {
		t.Errorf("Ready %v, Reasons %q", rep.Ready, rep.Reasons)
	}
	for _, v := range []string{rep.Mode, rep.Environment, rep.CPU, rep.GPUs, rep.MultiGPU, rep.GPUsReady} {
		if v != CCUnsupported {
			t.Errorf("system field = %q, want unsupported (%+v)", v, rep)
		}
	}
	d := rep.Devices[0]
	if d.Name != "NVIDIA GeForce RTX 4090" || d.BusID != "00000000:01:00.0" || d.CC != CCUnsupported ||
		d.Memory.Status != CCUnsupported || d.Report.Status != CCUnsupported || d.Certificates.Status != CCUnsupported {
		t.Errorf("device = %+v", d)
	}
	if len(rep.Notes) != 0 || len(d.Notes) != 0 {
		t.Errorf("notes %q / %q; NOT_SUPPORTED is not a failure", rep.Notes, d.Notes)
	}
}

func TestGPUCCStateLibraryMissing(t *testing.T) {
	lib := &mock.Interface{
		InitFunc:     func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND },
		ShutdownFunc: func() nvml.Return { t.Error("Shutdown after a failed Init"); return nvml.SUCCESS },
	}
	rep, err := GPUCCState(lib, ccOpts())
	if !errors.Is(err, nvml.ERROR_LIBRARY_NOT_FOUND) {
		t.Errorf("err = %v, want ERROR_LIBRARY_NOT_FOUND", err)
	}
	if rep.Ready || rep.NVML || len(rep.Reasons) != 1 || !strings.Contains(rep.Reasons[0], "libnvidia-ml.so.1") ||
		!strings.Contains(rep.Reasons[0], "--query-cc-mode") {
		t.Errorf("report = %+v", rep)
	}

	panicky := &mock.Interface{InitFunc: func() nvml.Return { panic("boom") }}
	if rep, err := GPUCCState(panicky, ccOpts()); err == nil || !strings.Contains(err.Error(), "boom") || rep.Ready {
		t.Errorf("Init panic: err %v, report %+v", err, rep)
	}
	if _, err := GPUCCState(nil, ccOpts()); err == nil {
		t.Error("nil library accepted")
	}
}

// TestGPUCCStateOneDeviceFails: the report call fails on GPU 1 and its
// certificate call panics; GPU 0 is still read in full.
func TestGPUCCStateOneDeviceFails(t *testing.T) {
	m := ccOn(t)
	m.reportRet = map[int]nvml.Return{1: nvml.ERROR_GPU_IS_LOST}
	s := newCCServer(m, 2)
	s.Devices[1].(*server.Device).GetConfComputeGpuCertificateFunc = func() (nvml.ConfComputeGpuCertificate, nvml.Return) {
		panic("driver hiccup")
	}
	rep, err := GPUCCState(s, ccOpts())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GPU 00000000:01:00.0 gave no attestation report (ERROR_GPU_IS_LOST)",
		"GPU 00000000:01:00.0 gave no attestation certificates (panic in NVML call: driver hiccup)",
	}
	if rep.Ready || strings.Join(rep.Reasons, "\n") != strings.Join(want, "\n") {
		t.Errorf("Ready %v, Reasons %q\nwant %q", rep.Ready, rep.Reasons, want)
	}
	d0, d1 := rep.Devices[0], rep.Devices[1]
	if d0.Report.Status != CCItemOK || d0.Certificates.Status != CCItemOK || len(d0.Notes) != 0 {
		t.Errorf("device 0 = %+v", d0)
	}
	if d1.Report.Status != CCItemFailed || d1.Certificates.Status != CCItemFailed || d1.Memory.Status != CCItemOK || d1.CC != CCGPUsCapable {
		t.Errorf("device 1 = %+v", d1)
	}
	if len(d1.Notes) != 2 {
		t.Errorf("device 1 notes = %q", d1.Notes)
	}
	if len(s.ShutdownCalls()) != 1 {
		t.Error("no Shutdown after the panic")
	}
}

// TestGPUCCStateOldDriver: a libnvidia-ml without the CC symbols must not
// be called (go-nvml would abort the process).
func TestGPUCCStateOldDriver(t *testing.T) {
	m := ccOn(t)
	s := newCCServer(m, 1)
	s.LookupSymbolFunc = func(sym string) error {
		if strings.Contains(sym, "ConfCompute") {
			return errors.New("undefined symbol: " + sym)
		}
		return nil
	}
	fail := func(name string) { t.Errorf("%s called although its symbol is missing", name) }
	s.SystemGetConfComputeStateFunc = func() (nvml.ConfComputeSystemState, nvml.Return) {
		fail("state")
		return nvml.ConfComputeSystemState{}, nvml.SUCCESS
	}
	d := s.Devices[0].(*server.Device)
	d.GetConfComputeGpuAttestationReportFunc = func(*nvml.ConfComputeGpuAttestationReport) nvml.Return {
		fail("report")
		return nvml.SUCCESS
	}
	rep, err := GPUCCState(s, ccOpts())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != CCUnsupported || rep.Devices[0].CC != CCUnsupported || rep.Ready {
		t.Errorf("report = %+v", rep)
	}
	if len(rep.Notes) != 4 || !strings.Contains(rep.Notes[0], "lacks nvmlSystemGetConfComputeCapabilities") {
		t.Errorf("Notes = %q", rep.Notes)
	}
}

func TestGPUCCStateNoNonce(t *testing.T) {
	m := ccOn(t)
	s := newCCServer(m, 1)
	s.Devices[0].(*server.Device).GetConfComputeGpuAttestationReportFunc = func(*nvml.ConfComputeGpuAttestationReport) nvml.Return {
		t.Error("attestation report requested without a nonce")
		return nvml.SUCCESS
	}
	rep, err := GPUCCState(s, CCOptions{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Ready || rep.Devices[0].Report.Status != CCItemSkipped {
		t.Errorf("Ready %v, Reasons %q, report %q", rep.Ready, rep.Reasons, rep.Devices[0].Report.Status)
	}
}

func TestGPUCCStateNoDevices(t *testing.T) {
	rep, err := GPUCCState(newCCServer(ccOn(t), 0), ccOpts())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ready || len(rep.Reasons) != 1 || !strings.Contains(rep.Reasons[0], "NVML sees no GPU") {
		t.Errorf("Ready %v, Reasons %q", rep.Ready, rep.Reasons)
	}
}

func TestCCParseChain(t *testing.T) {
	c := newGPUChain(t)
	for name, raw := range map[string][]byte{"pem": c.pem, "der": c.der} {
		got, err := ccParseChain(raw, t0)
		if err != nil || len(got) != 2 {
			t.Errorf("%s: %d certs, %v", name, len(got), err)
		}
	}
	if _, err := ccParseChain([]byte("garbage"), t0); err == nil {
		t.Error("garbage parsed")
	}
	var notes []string
	if got := ccClip(&notes, "x", make([]uint8, 4), 9); len(got) != 4 || len(notes) != 1 {
		t.Errorf("ccClip oversize: %d bytes, notes %q", len(got), notes)
	}
}

// TestGPUCCStateModeReasons: a host with CC on sees no TDX and GPUs not yet
// accepting requests; ModeReasons leaves those guest-side facts out.
func TestGPUCCStateModeReasons(t *testing.T) {
	m := ccOn(t)
	m.caps.CpuCaps = nvml.CC_SYSTEM_CPU_CAPS_NONE
	m.ready = nvml.CC_ACCEPTING_CLIENT_REQUESTS_FALSE
	rep, err := GPUCCState(newCCServer(m, 1), CCOptions{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ready || len(rep.Reasons) != 2 || len(rep.ModeReasons()) != 0 {
		t.Errorf("Ready %v, Reasons %q, ModeReasons %q", rep.Ready, rep.Reasons, rep.ModeReasons())
	}
	m.state.CcFeature, m.settings.CcFeature = nvml.CC_SYSTEM_FEATURE_DISABLED, nvml.CC_SYSTEM_FEATURE_DISABLED
	rep, _ = GPUCCState(newCCServer(m, 1), CCOptions{Now: t0})
	if mr := rep.ModeReasons(); len(mr) != 1 || !strings.HasPrefix(mr[0], "CC mode is off") {
		t.Errorf("ModeReasons = %q", mr)
	}
	missing := &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }}
	rep, _ = GPUCCState(missing, CCOptions{})
	if mr := rep.ModeReasons(); len(mr) != 1 || !strings.Contains(mr[0], "libnvidia-ml.so.1") {
		t.Errorf("ModeReasons without NVML = %q", mr)
	}
}
