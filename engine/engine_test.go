package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest/gpucc"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

func fakeQEMU(tdx bool, kvmOK bool) (func(context.Context, string) (vm.QEMUInfo, error), func(context.Context, string, vm.Accel, time.Duration) vm.ProbeResult) {
	inspect := func(context.Context, string) (vm.QEMUInfo, error) {
		return vm.QEMUInfo{Path: "/usr/bin/qemu-system-x86_64", Version: vm.Version{Major: 10, Minor: 1}, Banner: "QEMU emulator version 10.1.0", TDX: tdx}, nil
	}
	probe := func(_ context.Context, _ string, a vm.Accel, _ time.Duration) vm.ProbeResult {
		if a == vm.AccelKVM && !kvmOK {
			return vm.ProbeResult{Accel: a, Reason: "the test guest did not finish within 3s"}
		}
		return vm.ProbeResult{Accel: a, OK: true, Duration: 50 * time.Millisecond}
	}
	return inspect, probe
}

// TestCheckWiresSysfsGPUIntoDoctor runs the whole doctor on the TDX + H100
// fixture host: the H100 is bound to vfio-pci, so NVML cannot see it and it
// must come from the sysfs scan into the GPU checks.
func TestCheckWiresSysfsGPUIntoDoctor(t *testing.T) {
	inspect, probe := fakeQEMU(true, true)
	s := New(Options{Root: "hostcheck/testdata/hosts/tdx-h100", DataDir: t.TempDir(), NVML: noNVML(), Inspect: inspect, Probe: probe})
	defer s.Close()
	r, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]hostcheck.Status{
		"gpu":           hostcheck.StatusOK,
		"gpu_vfio":      hostcheck.StatusOK,
		"gpu_cc":        hostcheck.StatusUnknown, // NVML cannot see a vfio-bound GPU
		"nvidia_driver": hostcheck.StatusWarn,
		"tdx":           hostcheck.StatusOK,
		"kvm_guest":     hostcheck.StatusOK,
		"qemu_tdx":      hostcheck.StatusOK,
	}
	for id, st := range want {
		c, ok := r.Check(id)
		if !ok || c.Status != st {
			t.Errorf("%s = %q (%s), want %q", id, c.Status, c.Observed, st)
		}
	}
	if c, _ := r.Check("gpu"); c.Observed != "NVIDIA H100 SXM5 80GB at 0000:17:00.0" {
		t.Errorf("gpu observed %q", c.Observed)
	}
	if c, _ := r.Check("gpu_cc"); c.Fix != gpucc.CCQueryFix("0000:17:00.0") {
		t.Errorf("gpu_cc fix %q", c.Fix)
	}
	st := s.State()
	if st.Report == nil || len(st.GPUs.GPUs) != 1 {
		t.Fatalf("state after check = %+v", st)
	}
}

// TestDoctorGPUsCC: the GPUs NVML sees get the mode and attest's reasons;
// a GPU only sysfs found, or one whose mode NVML could not read, gets how
// to read it with gpu-admin-tools.
func TestDoctorGPUsCC(t *testing.T) {
	nvGPU := gpu.GPU{Source: gpu.SourceNVML, BusID: "0000:1b:00.0", VendorID: "10de", DeviceID: "2330"}
	vfio := gpu.GPU{Source: gpu.SourceSysfs, BusID: "0000:43:00.0", VendorID: "10de", DeviceID: "2330", KernelDriver: "vfio-pci"}
	dev := []gpucc.CCDevice{{BusID: "00000000:1B:00.0"}}
	tests := []struct {
		name string
		cc   *gpucc.CCReport
		mode string
		want []string // substrings of each GPU's first reason; "" for none
	}{
		{"cc on", &gpucc.CCReport{NVML: true, Mode: gpucc.CCModeOn, Environment: gpucc.CCEnvProduction, Devices: dev},
			gpucc.CCModeOn, []string{"", "--gpu-bdf=0000:43:00.0 --query-cc-mode"}},
		{"cc off", &gpucc.CCReport{NVML: true, Mode: gpucc.CCModeOff, Devices: dev},
			gpucc.CCModeOff, []string{"--gpu-bdf=0000:1b:00.0 --set-ppcie-mode=off", "--gpu-bdf=0000:43:00.0 --query-cc-mode"}},
		{"mode unreadable", &gpucc.CCReport{NVML: true, Devices: dev, Notes: []string{"cc state: ERROR_UNKNOWN"}},
			"", []string{"CC mode could not be read (ERROR_UNKNOWN)", "--gpu-bdf=0000:43:00.0 --query-cc-mode"}},
		{"no report", nil, "", []string{"--gpu-bdf=0000:1b:00.0 --query-cc-mode", "--gpu-bdf=0000:43:00.0 --query-cc-mode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := doctorGPUs(gpu.Inventory{NVML: gpu.NVMLStatus{Loaded: true, CC: tt.cc}, GPUs: []gpu.GPU{nvGPU, vfio}})
			if len(got) != 2 || got[0].CCMode != tt.mode || got[1].CCMode != "" {
				t.Fatalf("doctor GPUs = %+v, want modes %q and unknown", got, tt.mode)
			}
			for i, want := range tt.want {
				switch r := got[i].CCReasons; {
				case want == "" && len(r) != 0:
					t.Errorf("GPU %d reasons %q, want none", i, r)
				case want != "" && (len(r) == 0 || !strings.Contains(r[0], want)):
					t.Errorf("GPU %d reasons %q, want %q first", i, r, want)
				}
			}
		})
	}
}

func TestCheckWithoutKVMDeviceSkipsKVMProbe(t *testing.T) {
	inspect, _ := fakeQEMU(false, true)
	probed := map[vm.Accel]bool{}
	probe := func(_ context.Context, _ string, a vm.Accel, _ time.Duration) vm.ProbeResult {
		probed[a] = true
		return vm.ProbeResult{Accel: a, OK: true}
	}
	root := t.TempDir() // no dev/kvm
	s := New(Options{Root: root, DataDir: t.TempDir(), NVML: noNVML(), Inspect: inspect, Probe: probe})
	defer s.Close()
	r, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if probed[vm.AccelKVM] || !probed[vm.AccelTCG] {
		t.Errorf("probed %v, want only tcg", probed)
	}
	if r.DevAccel != "tcg" || !r.Dev.Ready {
		t.Errorf("dev accel %q ready %v blocking %v", r.DevAccel, r.Dev.Ready, r.Dev.Blocking)
	}
}

func TestCheckWithoutQEMU(t *testing.T) {
	inspect := func(context.Context, string) (vm.QEMUInfo, error) { return vm.QEMUInfo{}, vm.ErrNoQEMU }
	s := New(Options{Root: t.TempDir(), DataDir: t.TempDir(), NVML: noNVML(), Inspect: inspect})
	defer s.Close()
	r, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Dev.Ready || r.DevAccel != "" {
		t.Fatalf("dev verdict without QEMU = %+v", r.Dev)
	}
	if c, _ := r.Check("qemu"); c.DevStatus != hostcheck.StatusFail || c.Fix == "" {
		t.Errorf("qemu check = %+v", c)
	}
}

// TestRunWithUnusableStoreKeepsWorking: a data directory that cannot hold a
// database is reported, and GPU discovery goes on.
func TestRunWithUnusableStoreKeepsWorking(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := New(Options{Root: t.TempDir(), DataDir: file, NVML: noNVML(), SampleInterval: 5 * time.Millisecond})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := s.Subscribe(ctx)
	go func() { _ = s.Run(ctx) }()
	var sawError, sawGPUs bool
	timeout := time.After(30 * time.Second)
	for !sawError || !sawGPUs {
		select {
		case ev := <-events:
			sawError = sawError || (ev.Kind == EventError && ev.State.StoreError != "")
			sawGPUs = sawGPUs || ev.Kind == EventGPUs
		case <-timeout:
			t.Fatalf("error event %v, GPU event %v", sawError, sawGPUs)
		}
	}
	if b, _ := os.ReadFile(file); string(b) != "x" {
		t.Error("the file in the way was changed")
	}
}

func TestSubscribeClosesOnCancel(t *testing.T) {
	s := New(Options{Root: t.TempDir(), NVML: noNVML()})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ch := s.Subscribe(ctx)
	cancel()
	select {
	case _, ok := <-ch:
		for ok {
			_, ok = <-ch
		}
	case <-time.After(10 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
}
