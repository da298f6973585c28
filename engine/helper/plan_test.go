package helper

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// noCC is a CC tool installed nowhere.
func noCC() CCTool {
	return CCTool{Python: "/nonexistent/python3", Scripts: []string{"/nonexistent/" + ccToolName}}
}

func TestPlanRefusals(t *testing.T) {
	tests := []struct {
		name string
		host func(*testing.T) *tree
		req  Request
		want []string // substrings of the refusal
	}{
		{"missing device", hgxHost, Request{Op: OpBindVFIO, PCI: "0000:99:00.0"},
			[]string{"there is no PCI device 0000:99:00.0"}},
		{"NIC is not a GPU", hgxHost, Request{Op: OpBindVFIO, PCI: "0000:20:00.0"},
			[]string{"0000:20:00.0 is not a GPU", "an Ethernet controller (15b3:1021, driver mlx5_core)"}},
		{"NVMe is not a GPU", hgxHost, Request{Op: OpStatus, PCI: "0000:04:00.0"},
			[]string{"is not a GPU", "an NVMe controller"}},
		{"NVSwitch is not a GPU", hgxHost, Request{Op: OpBindVFIO, PCI: "0000:05:00.0"},
			[]string{"is not a GPU", "a bridge (NVIDIA 10de:22a3"}},
		{"BMC VGA is not NVIDIA", hgxHost, Request{Op: OpBindVFIO, PCI: "0000:03:00.0"},
			[]string{"is not an NVIDIA GPU", "ASPEED 1a03:2000"}},
		{"status of a non-NVIDIA GPU", consumerHost, Request{Op: OpStatus, PCI: "0000:00:02.0"},
			[]string{"is not an NVIDIA GPU", "Intel 8086:a780, driver i915"}},
		{"audio function is not a GPU", consumerHost, Request{Op: OpBindVFIO, PCI: "0000:01:00.1"},
			[]string{"is not a GPU", "an audio device (NVIDIA 10de:22ba"}},
		{"shared group names the NIC", sharedGroupHost, Request{Op: OpBindVFIO, PCI: "0000:01:00.0"},
			[]string{"IOMMU group 14 of 0000:01:00.0 also holds 0000:02:00.0, an Ethernet controller (Intel 8086:15f3, driver igc)", "which the host may need"}},
		{"shared group refuses restore too", sharedGroupHost, Request{Op: OpRestore, PCI: "0000:01:00.0"},
			[]string{"also holds 0000:02:00.0"}},
		{"boot VGA", bootVGAHost, Request{Op: OpBindVFIO, PCI: "0000:01:00.0"},
			[]string{"0000:01:00.0 is the boot VGA device"}},
		{"consumer card has no CC", consumerHost, Request{Op: OpSetCCMode, PCI: "0000:01:00.0", Mode: ModeOn},
			[]string{"GeForce RTX 4090, which does not support confidential computing"}},
		{"CC tool missing", hgxHost, Request{Op: OpSetCCMode, PCI: "0000:1b:00.0", Mode: ModeOn},
			[]string{"nvidia_gpu_tools.py is not installed", "/nonexistent/nvidia_gpu_tools.py"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := tt.host(t)
			_, err := NewPlan(context.Background(), os.DirFS(tr.root), noCC(), tt.req)
			if err == nil {
				t.Fatalf("NewPlan(%s) succeeded, want a refusal", tt.req)
			}
			if !IsRefusal(err) {
				t.Errorf("error is not a Refusal: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n  lacks %q", err, w)
				}
			}
		})
	}
}

func TestIOMMUOff(t *testing.T) {
	tr := newTree(t, rtx4090("0000:01:00.0", "nvidia", ""))
	_, err := NewPlan(context.Background(), os.DirFS(tr.root), noCC(), Request{Op: OpBindVFIO, PCI: "0000:01:00.0"})
	if err == nil || !strings.Contains(err.Error(), "has no IOMMU group") {
		t.Fatalf("got %v, want an IOMMU refusal", err)
	}
}

func TestVFIONotLoaded(t *testing.T) {
	tr := consumerHost(t)
	tr.dropDriver(driverVFIO)
	_, err := NewPlan(context.Background(), os.DirFS(tr.root), noCC(), Request{Op: OpBindVFIO, PCI: "0000:01:00.0"})
	if err == nil || !strings.Contains(err.Error(), "the vfio-pci driver is not loaded") || !strings.Contains(err.Error(), "modprobe vfio-pci") {
		t.Fatalf("got %v, want a vfio-pci refusal", err)
	}
}

func TestInspectHGX(t *testing.T) {
	tr := hgxHost(t)
	for _, a := range hgxSlots {
		d, err := Inspect(context.Background(), os.DirFS(tr.root), a)
		if err != nil {
			t.Fatal(err)
		}
		if d.Name != "H100 SXM5 80GB" || !d.CCCapable || d.Driver != "nvidia" || len(d.Peers) != 0 || d.BootVGA {
			t.Errorf("%s: %+v", a, d)
		}
		if err := d.Check(); err != nil {
			t.Errorf("%s: Check: %v", a, err)
		}
	}
}

func TestInspectConsumerGroup(t *testing.T) {
	tr := consumerHost(t)
	d, err := Inspect(context.Background(), os.DirFS(tr.root), "0000:01:00.0")
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]Role{}
	for _, p := range d.Peers {
		roles[p.Address] = p.Role
	}
	want := map[string]Role{"0000:00:01.0": RoleBridge, "0000:01:00.1": RoleCompanion}
	if len(roles) != len(want) || roles["0000:00:01.0"] != RoleBridge || roles["0000:01:00.1"] != RoleCompanion {
		t.Errorf("peers %v, want %v", roles, want)
	}
	if err := d.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	var addrs []string
	for _, f := range d.Passthrough() {
		addrs = append(addrs, f.Address)
	}
	if !slices.Equal(addrs, []string{"0000:01:00.0", "0000:01:00.1"}) {
		t.Errorf("Passthrough %v", addrs)
	}
}

func TestPlanDescribe(t *testing.T) {
	tr := consumerHost(t)
	p, err := NewPlan(context.Background(), os.DirFS(tr.root), noCC(), Request{Op: OpBindVFIO, PCI: "0000:01:00.0"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`write "vfio-pci" to /sys/bus/pci/devices/0000:01:00.0/driver_override`,
		`write "0000:01:00.0" to /sys/bus/pci/devices/0000:01:00.0/driver/unbind`,
		`write "0000:01:00.0" to /sys/bus/pci/drivers/vfio-pci/bind`,
		`write "vfio-pci" to /sys/bus/pci/devices/0000:01:00.1/driver_override`,
		`write "0000:01:00.1" to /sys/bus/pci/devices/0000:01:00.1/driver/unbind`,
		`write "0000:01:00.1" to /sys/bus/pci/drivers/vfio-pci/bind`,
	}
	if got := p.Describe(); !slices.Equal(got, want) {
		t.Errorf("Describe:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	st, err := NewPlan(context.Background(), os.DirFS(tr.root), noCC(), Request{Op: OpStatus, PCI: "0000:01:00.0"})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Describe(); len(got) != 1 || !strings.Contains(got[0], "changes nothing") {
		t.Errorf("status Describe: %v", got)
	}
}

func TestPlanCCMode(t *testing.T) {
	tr := hgxHost(t)
	cc := fakeCC(t, nil)
	cc.Pause = 2 * time.Second
	for _, tt := range []struct {
		mode  string
		flags [][]string
	}{
		{ModeOn, [][]string{{"--set-ppcie-mode=off", "--reset-after-ppcie-mode-switch"}, {"--set-cc-mode=on", "--reset-after-cc-mode-switch"}}},
		{ModeDevTools, [][]string{{"--set-ppcie-mode=off", "--reset-after-ppcie-mode-switch"}, {"--set-cc-mode=devtools", "--reset-after-cc-mode-switch"}}},
		{ModeOff, [][]string{{"--set-cc-mode=off", "--reset-after-cc-mode-switch"}, {"--set-ppcie-mode=off", "--reset-after-ppcie-mode-switch"}}},
	} {
		p, err := NewPlan(context.Background(), os.DirFS(tr.root), cc, Request{Op: OpSetCCMode, PCI: "0000:43:00.0", Mode: tt.mode})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Steps) != 3 || p.Steps[1].Kind != StepWait || p.Steps[1].Wait != 2*time.Second {
			t.Fatalf("%s: steps %+v", tt.mode, p.Steps)
		}
		for i, f := range tt.flags {
			want := append([]string{cc.Python, "-E", "-s", cc.Scripts[0], "--gpu-bdf=0000:43:00.0"}, f...)
			if got := p.Steps[2*i].Argv; !slices.Equal(got, want) {
				t.Errorf("%s step %d: argv %q, want %q", tt.mode, i, got, want)
			}
		}
	}
}
