package gpu

import (
	"context"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// wantGPU is what a sysfs test expects of one GPU.
type wantGPU struct {
	bus, name, pciID, driver, group string
	cc                              bool     // model known and CC capable
	peers, foreign                  []string // IOMMU peer addresses
	notes                           []string // substrings of GPU.Notes
}

func TestScanSysfs(t *testing.T) {
	rtx4090 := func(driver string) fstest.MapFS {
		return sysfsTree(
			pciFn{"0000:01:00.0", "10de", "2684", "030000", driver, "12"},
			pciFn{"0000:01:00.1", "10de", "22ba", "040300", "snd_hda_intel", "12"},
			connectX7("0000:02:00.0", "13"),
		)
	}
	sharedGroup := rtx4090("nvidia")
	addPCI(sharedGroup, connectX7("0000:02:00.1", "12"))

	malformed := sysfsTree(nvidiaGPU("0000:17:00.0", "2330", "nvidia", "30"), connectX7("0000:18:00.0", "31"))
	malformed["sys/devices/pci0000:00/0000:17:00.0/vendor"] = text("garbage\n")
	malformed["sys/devices/pci0000:00/0000:17:00.0/driver"] = text("not a link")
	malformed["sys/devices/pci0000:00/0000:18:00.0/class"] = text("0x03\n")

	unreadable := failFS{
		m: sysfsTree(
			nvidiaGPU("0000:17:00.0", "2330", "nvidia", "30"),
			nvidiaGPU("0000:18:00.0", "2330", "nvidia", "31"),
			connectX7("0000:19:00.0", "32"),
		),
		fail: map[string]error{
			"sys/bus/pci/devices/0000:17:00.0/device":      fs.ErrPermission,
			"sys/bus/pci/devices/0000:18:00.0/iommu_group": errIO,
			"sys/bus/pci/devices/0000:19:00.0/class":       errIO,
		},
	}

	dgx := []wantGPU{{bus: "0000:03:00.0", name: "ASPEED device 1a03:2000", pciID: "1a03:2000", driver: "ast", group: "5"}}
	for i, addr := range dgxH100Slots {
		dgx = append(dgx, wantGPU{bus: addr, name: "NVIDIA H100 SXM5 80GB", pciID: "10de:2330", driver: "nvidia", group: fmt.Sprint(20 + i), cc: true})
	}

	tests := []struct {
		name      string
		fsys      fs.FS
		want      []wantGPU
		wantNotes []string // substrings, in order, of Inventory.Notes
	}{
		{
			name:      "no sysfs",
			fsys:      fstest.MapFS{},
			wantNotes: []string{"sysfs: sys/bus/pci/devices: file does not exist"},
		},
		{
			name: "no display controller",
			fsys: sysfsTree(connectX7("0000:02:00.0", "1")),
		},
		{
			name: "only a VGA from another vendor",
			fsys: sysfsTree(aspeedVGA("0000:03:00.0", "5"), connectX7("0000:02:00.0", "1")),
			want: []wantGPU{{bus: "0000:03:00.0", name: "ASPEED device 1a03:2000", pciID: "1a03:2000", driver: "ast", group: "5"}},
		},
		{
			name: "consumer RTX 4090 with its audio function",
			fsys: rtx4090("nvidia"),
			want: []wantGPU{{bus: "0000:01:00.0", name: "NVIDIA GeForce RTX 4090", pciID: "10de:2684", driver: "nvidia", group: "12", peers: []string{"0000:01:00.1"}}},
		},
		{
			name: "8 data-centre GPUs and the BMC's VGA",
			fsys: dgxH100Tree("nvidia"),
			want: dgx,
		},
		{
			name: "GPU bound to vfio-pci",
			fsys: sysfsTree(nvidiaGPU("0000:17:00.0", "2335", "vfio-pci", "30")),
			want: []wantGPU{{bus: "0000:17:00.0", name: "NVIDIA H200 SXM 141GB", pciID: "10de:2335", driver: "vfio-pci", group: "30", cc: true}},
		},
		{
			name: "IOMMU group shared with a NIC",
			fsys: sharedGroup,
			want: []wantGPU{{bus: "0000:01:00.0", name: "NVIDIA GeForce RTX 4090", pciID: "10de:2684", driver: "nvidia", group: "12",
				peers: []string{"0000:01:00.1", "0000:02:00.1"}, foreign: []string{"0000:02:00.1"}}},
		},
		{
			name: "IOMMU group with the upstream bridge (no ACS)",
			fsys: sysfsTree(
				pciFn{"0000:00:01.0", "8086", "1901", "060400", "pcieport", "1"},
				pciFn{"0000:01:00.0", "10de", "2204", "030000", "nvidia", "1"},
				pciFn{"0000:01:00.1", "10de", "1aef", "040300", "snd_hda_intel", "1"},
			),
			want: []wantGPU{{bus: "0000:01:00.0", name: "NVIDIA GeForce RTX 3090", pciID: "10de:2204", driver: "nvidia", group: "1",
				peers: []string{"0000:00:01.0", "0000:01:00.1"}}},
		},
		{
			name: "no driver bound and IOMMU off",
			fsys: sysfsTree(nvidiaGPU("0000:17:00.0", "2901", "", "")),
			want: []wantGPU{{bus: "0000:17:00.0", name: "NVIDIA B200", pciID: "10de:2901", cc: true}},
		},
		{
			name: "unknown NVIDIA device id",
			fsys: sysfsTree(nvidiaGPU("0000:17:00.0", "2b00", "nvidia", "")),
			want: []wantGPU{{bus: "0000:17:00.0", name: "NVIDIA device 10de:2b00", pciID: "10de:2b00", driver: "nvidia"}},
		},
		{
			name: "malformed files",
			fsys: malformed,
			want: []wantGPU{{bus: "0000:17:00.0", name: "PCI device unknown:2330", pciID: "unknown:2330", group: "30",
				notes: []string{`sysfs vendor: malformed "garbage"`, "sysfs driver: invalid argument"}}},
			wantNotes: []string{`sysfs 0000:18:00.0: class: malformed "0x03"`},
		},
		{
			name: "unreadable files",
			fsys: unreadable,
			want: []wantGPU{
				{bus: "0000:17:00.0", name: "NVIDIA device 10de:unknown", pciID: "10de:unknown", driver: "nvidia", group: "30",
					notes: []string{"sysfs device: permission denied"}},
				{bus: "0000:18:00.0", name: "NVIDIA H100 SXM5 80GB", pciID: "10de:2330", driver: "nvidia", cc: true,
					notes: []string{"sysfs iommu_group: input/output error"}},
			},
			wantNotes: []string{"sysfs 0000:19:00.0: class: input/output error"},
		},
		{
			name:      "device list unreadable",
			fsys:      failFS{m: dgxH100Tree("nvidia"), fail: map[string]error{"sys/bus/pci/devices": fs.ErrPermission}},
			wantNotes: []string{"sysfs: sys/bus/pci/devices: permission denied"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Discover(context.Background(), Options{FS: tt.fsys})
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if inv.NVML.Loaded || inv.NVML.Reason == "" {
				t.Errorf("NVML status = %+v, want not loaded with a reason", inv.NVML)
			}
			checkNotes(t, "inventory notes", inv.Notes, tt.wantNotes)
			if len(inv.GPUs) != len(tt.want) {
				t.Fatalf("got %d GPUs %v, want %d", len(inv.GPUs), busIDs(inv.GPUs), len(tt.want))
			}
			for i, w := range tt.want {
				checkSysfsGPU(t, inv.GPUs[i], w)
			}
		})
	}
}

func checkSysfsGPU(t *testing.T, g GPU, w wantGPU) {
	t.Helper()
	if g.Source != SourceSysfs || g.Index != nil || g.UUID != "" {
		t.Errorf("%s: source %q index %v uuid %q, want a sysfs-only GPU", w.bus, g.Source, g.Index, g.UUID)
	}
	got := wantGPU{
		bus: g.BusID, name: g.DisplayName(), pciID: FormatPCIID(g.VendorID, g.DeviceID),
		driver: g.KernelDriver, group: g.IOMMUGroup, cc: g.Model != nil && g.Model.CCCapable,
		peers: addresses(g.IOMMUPeers), foreign: addresses(g.ForeignIOMMUPeers()),
	}
	if !reflect.DeepEqual(got, wantGPU{w.bus, w.name, w.pciID, w.driver, w.group, w.cc, w.peers, w.foreign, nil}) {
		t.Errorf("GPU\n got %+v\nwant %+v", got, w)
	}
	if g.Key() != "pci:"+w.bus {
		t.Errorf("Key() = %q, want pci:%s", g.Key(), w.bus)
	}
	checkNotes(t, w.bus+" notes", g.Notes, w.notes)
}

// checkNotes checks that got has one note per want, each containing it.
func checkNotes(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %q, want %d matching %q", what, got, len(want), want)
		return
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("%s[%d] = %q, want it to contain %q", what, i, got[i], want[i])
		}
	}
}

func addresses(ds []PCIDevice) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Address)
	}
	return out
}

func busIDs(gs []GPU) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.BusID)
	}
	return out
}

func TestSysfsIOMMUPeerDetails(t *testing.T) {
	fsys := sysfsTree(
		pciFn{"0000:01:00.0", "10de", "2684", "030000", "nvidia", "12"},
		pciFn{"0000:01:00.1", "10de", "22ba", "040300", "snd_hda_intel", "12"},
		pciFn{"0000:02:00.0", "15b3", "1021", "020000", "", "12"},
	)
	inv, err := Discover(context.Background(), Options{FS: fsys})
	if err != nil || len(inv.GPUs) != 1 {
		t.Fatalf("Discover = %d GPUs, %v; want 1", len(inv.GPUs), err)
	}
	want := []PCIDevice{
		{Address: "0000:01:00.1", VendorID: "10de", DeviceID: "22ba", Class: "040300", Driver: "snd_hda_intel"},
		{Address: "0000:02:00.0", VendorID: "15b3", DeviceID: "1021", Class: "020000"},
	}
	if g := inv.GPUs[0]; !reflect.DeepEqual(g.IOMMUPeers, want) {
		t.Errorf("IOMMUPeers = %+v, want %+v", g.IOMMUPeers, want)
	}
	if got := addresses(inv.GPUs[0].ForeignIOMMUPeers()); !slices.Equal(got, []string{"0000:02:00.0"}) {
		t.Errorf("ForeignIOMMUPeers = %v", got)
	}
}

func TestReadHexFile(t *testing.T) {
	tests := []struct {
		content string
		digits  int
		want    string
		bad     bool
	}{
		{content: "0x10de\n", digits: 4, want: "10de"},
		{content: "0x10DE", digits: 4, want: "10de"},
		{content: "0x030200\n", digits: 6, want: "030200"},
		{content: "10de", digits: 4, want: "10de"},
		{content: "0x10de0", digits: 4, bad: true},
		{content: "0xzzzz", digits: 4, bad: true},
		{content: "", digits: 4, bad: true},
		{content: "0x", digits: 4, bad: true},
	}
	for _, tt := range tests {
		fsys := fstest.MapFS{"f": text(tt.content)}
		got, err := readHexFile(fsys, "f", tt.digits)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("readHexFile(%q, %d) = %q, %v; want %q, error %v", tt.content, tt.digits, got, err, tt.want, tt.bad)
		}
	}
}

func TestReadLinkBase(t *testing.T) {
	fsys := fstest.MapFS{
		"a/driver":   symlink("../../../bus/pci/drivers/vfio-pci"),
		"a/group":    symlink("../../../kernel/iommu_groups/7/"),
		"a/dotdot":   symlink(".."),
		"a/regular":  text("x"),
		"a/absolute": symlink("/sys/bus/pci/drivers/nvidia"),
	}
	tests := []struct {
		name, want string
		bad        bool
	}{
		{name: "a/driver", want: "vfio-pci"},
		{name: "a/group", want: "7"},
		{name: "a/absolute", want: "nvidia"},
		{name: "a/missing", want: ""},
		{name: "a/dotdot", bad: true},
		{name: "a/regular", bad: true},
	}
	for _, tt := range tests {
		got, err := readLinkBase(fsys, tt.name)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("readLinkBase(%q) = %q, %v; want %q, error %v", tt.name, got, err, tt.want, tt.bad)
		}
	}
}

func TestGPUHelpers(t *testing.T) {
	tests := []struct {
		g          GPU
		nvidia     bool
		cc, ccKnow bool
	}{
		{GPU{VendorID: "10de", Model: lookupModelPtr("10de", "2330")}, true, true, true},
		{GPU{VendorID: "10de", Model: lookupModelPtr("10de", "2684")}, true, false, true},
		{GPU{VendorID: "10de"}, true, false, false},
		{GPU{VendorID: "1a03"}, false, false, false},
	}
	for _, tt := range tests {
		cc, known := tt.g.CCCapable()
		if tt.g.IsNVIDIA() != tt.nvidia || cc != tt.cc || known != tt.ccKnow {
			t.Errorf("%+v: IsNVIDIA %v CCCapable %v,%v; want %v %v,%v", tt.g, tt.g.IsNVIDIA(), cc, known, tt.nvidia, tt.cc, tt.ccKnow)
		}
	}
}
