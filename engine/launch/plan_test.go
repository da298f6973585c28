package launch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/helper"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/release"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

var update = flag.Bool("update", false, "rewrite the golden plans in testdata/golden")

const dataDir = "/srv/cocoon-provider"

// fixtureHost is a host from testdata/hosts: its files through FS, the
// doctor's report from hostcheck over the same tree, and effects that
// fail the test, because a plan must never carry anything out.
type fixtureHost struct {
	t    *testing.T
	root string // absolute path of the fixture tree
	in   hostcheck.Inputs
	cc   map[string]string // CC mode per GPU, as the helper's status read it
	// files replace or add files of the tree, by host path.
	files map[string][]byte
	// lite checks liteservers; nil: a plan must not ask them.
	lite func(ctx context.Context, configJSON []byte, timeout time.Duration) ([]wallet.LiteserverHealth, error)
}

func (h *fixtureHost) FS() fs.FS {
	if len(h.files) == 0 {
		return os.DirFS(h.root)
	}
	return overlayFS{base: os.DirFS(h.root), files: h.files}
}

func (h *fixtureHost) CheckLiteservers(ctx context.Context, configJSON []byte, timeout time.Duration) ([]wallet.LiteserverHealth, error) {
	if h.lite == nil {
		h.t.Errorf("the plan asked the liteservers without --check-liteservers")
		return nil, errors.New("must not touch the network")
	}
	return h.lite(ctx, configJSON, timeout)
}

// overlayFS is base with some files replaced or added (by host path).
type overlayFS struct {
	base  fs.FS
	files map[string][]byte
}

func (o overlayFS) Open(name string) (fs.File, error) {
	if b, ok := o.files["/"+name]; ok {
		return fstest.MapFS{name: {Data: b, Mode: 0o644}}.Open(name)
	}
	return o.base.Open(name)
}

// ReadLink and Lstat keep the base's links (sysfs) readable.
func (o overlayFS) ReadLink(name string) (string, error) { return fs.ReadLink(o.base, name) }

func (o overlayFS) Lstat(name string) (fs.FileInfo, error) {
	if _, ok := o.files["/"+name]; ok {
		return fs.Stat(o, name)
	}
	return fs.Lstat(o.base, name)
}

func (h *fixtureHost) Check(ctx context.Context) (hostcheck.Report, error) {
	in := h.in
	in.Root, in.DataDir = h.root, filepath.Join(h.root, dataDir)
	in.Now = time.Date(2025, 11, 24, 10, 0, 0, 0, time.UTC)
	r := hostcheck.Run(ctx, in)
	for i := range r.Checks { // show host paths as the host sees them
		r.Checks[i].Observed = strings.ReplaceAll(r.Checks[i].Observed, h.root, "")
		r.Checks[i].Fix = strings.ReplaceAll(r.Checks[i].Fix, h.root, "")
	}
	return r, nil
}

func (h *fixtureHost) CCMode(_ context.Context, pci string) string { return h.cc[pci] }

func (h *fixtureHost) CCTool() helper.CCTool {
	return helper.CCTool{Python: "/nonexistent/python3", Scripts: []string{"/nonexistent/gpu-admin-tools/nvidia_gpu_tools.py"},
		Run: func(context.Context, []string) ([]byte, error) {
			h.t.Errorf("the plan ran the CC tool")
			return nil, errors.New("must not run")
		}}
}

func (h *fixtureHost) Releases() Releases {
	if _, err := os.Stat(filepath.Join(h.root, dataDir, "releases")); err != nil {
		return nil
	}
	return fsReleases{fsys: h.FS(), dir: dataDir + "/releases"}
}

func (h *fixtureHost) WriteFile(_ context.Context, name string, _ []byte, _ fs.FileMode) error {
	h.t.Errorf("the plan wrote %s", name)
	return errors.New("must not write")
}

func (h *fixtureHost) CreateSparse(_ context.Context, name string, _ int64) error {
	h.t.Errorf("the plan created %s", name)
	return errors.New("must not create")
}

func (h *fixtureHost) Exec(_ context.Context, argv []string) error {
	h.t.Errorf("the plan ran %v", argv)
	return errors.New("must not run")
}

// fsReleases reads a release directory as release.Manager lays it out.
type fsReleases struct {
	fsys fs.FS
	dir  string
}

func (r fsReleases) Current() (release.Release, error) {
	b, err := fs.ReadFile(r.fsys, rel(r.dir+"/.state.json"))
	if err != nil {
		return release.Release{}, err
	}
	var st struct{ Current string }
	if err := json.Unmarshal(b, &st); err != nil || st.Current == "" {
		return release.Release{}, errors.New("no worker release is active yet")
	}
	return r.Get(st.Current)
}

func (r fsReleases) Get(v string) (release.Release, error) {
	b, err := fs.ReadFile(r.fsys, rel(r.dir+"/"+v+".json"))
	if err != nil {
		return release.Release{}, fmt.Errorf("there is no release %s", v)
	}
	var rel release.Release
	if err := json.Unmarshal(b, &rel); err != nil {
		return release.Release{}, err
	}
	rel.Path = path.Join(r.dir, v)
	return rel, nil
}

func diskFree(free uint64) func(context.Context, string) (uint64, string, error) {
	return func(context.Context, string) (uint64, string, error) { return free, "/home", nil }
}

func h100s() []hostcheck.GPU {
	var out []hostcheck.GPU
	for i, bus := range []string{"18", "2a", "3a", "5d", "9a", "ab", "ba", "db"} {
		out = append(out, hostcheck.GPU{PCIBusID: "0000:" + bus + ":00.0", Name: "H100 SXM5 80GB", VendorID: "10de", DeviceID: "2330",
			Driver: "vfio-pci", CCCapable: true, CCMode: "on", IOMMUGroup: fmt.Sprint(40 + i)})
	}
	return out
}

// tdxInputs are the facts of the tdx-8xh100 host that its tree lacks.
func tdxInputs() hostcheck.Inputs {
	return hostcheck.Inputs{
		DiskFree: diskFree(3 << 40),
		QEMU:     hostcheck.QEMUFacts{Found: true, Path: "/usr/bin/qemu-system-x86_64", Banner: "QEMU emulator version 10.1.0", Major: 10, Minor: 1, TDX: true},
		KVM:      hostcheck.ProbeFacts{Ran: true, OK: true, Duration: 40 * time.Millisecond},
		TCG:      hostcheck.ProbeFacts{Ran: true, OK: true, Duration: 100 * time.Millisecond},
		NVML:     hostcheck.NVMLFacts{Reason: "NVIDIA library not found"},
		GPUs:     h100s(),
	}
}

// fixtures are the three hosts with the configuration each is planned for.
func fixtures(t *testing.T) map[string]struct {
	host *fixtureHost
	cfg  Config
} {
	abs := func(name string) string {
		p, err := filepath.Abs(filepath.Join("testdata", "hosts", name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	keys := make([]worker.Secret, 7)
	for i := range keys {
		keys[i] = worker.Secret(fmt.Sprintf("%043dA=", i+1))
	}
	cc := map[string]string{}
	for _, g := range h100s() {
		cc[g.PCIBusID] = "on"
	}
	return map[string]struct {
		host *fixtureHost
		cfg  Config
	}{
		"tdx-8xh100": {
			host: &fixtureHost{t: t, root: abs("tdx-8xh100"), cc: cc, in: tdxInputs()},
			cfg:  Config{DataDir: dataDir, ConfPath: "/srv/cocoon/worker.conf", AllGPUs: true, NodeWalletKeys: keys},
		},
		// Debug launches on the same host, one GPU each: --test and
		// --fake-ton.
		"tdx-8xh100-test": {
			host: &fixtureHost{t: t, root: abs("tdx-8xh100"), cc: cc, in: tdxInputs()},
			cfg:  Config{DataDir: dataDir, ConfPath: "/srv/cocoon/worker.conf", GPUs: []int{0}, Test: true},
		},
		"tdx-8xh100-fake-ton": {
			host: &fixtureHost{t: t, root: abs("tdx-8xh100"), cc: cc, in: tdxInputs()},
			cfg:  Config{DataDir: dataDir, ConfPath: "/srv/cocoon/worker.conf", GPUs: []int{0}, FakeTON: true},
		},
		"consumer-4090": {
			host: &fixtureHost{t: t, root: abs("consumer-4090"), in: hostcheck.Inputs{
				DiskFree: diskFree(900 << 30),
				QEMU:     hostcheck.QEMUFacts{Found: true, Path: "/usr/bin/qemu-system-x86_64", Banner: "QEMU emulator version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1.10)", Major: 8, Minor: 2},
				KVM:      hostcheck.ProbeFacts{Ran: true, OK: true, Duration: 35 * time.Millisecond},
				TCG:      hostcheck.ProbeFacts{Ran: true, OK: true, Duration: 90 * time.Millisecond},
				NVML:     hostcheck.NVMLFacts{Loaded: true, DriverVersion: "550.163.01", CUDAVersion: "12.4"},
				GPUs: []hostcheck.GPU{{PCIBusID: "0000:01:00.0", Name: "NVIDIA GeForce RTX 4090", VendorID: "10de", DeviceID: "2684",
					Driver: "nvidia", MemoryMiB: 24564, IOMMUGroup: "14"}},
			}},
			cfg: Config{DataDir: dataDir, ConfPath: "/srv/cocoon/worker.conf"},
		},
		"cloud-vm-2cpu": {
			host: &fixtureHost{t: t, root: abs("cloud-vm-2cpu"), in: hostcheck.Inputs{
				DiskFree: diskFree(80 << 30),
				QEMU:     hostcheck.QEMUFacts{Found: true, Path: "/usr/bin/qemu-system-x86_64", Banner: "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)", Major: 7, Minor: 2},
				KVM:      hostcheck.ProbeFacts{Ran: true, Reason: "QEMU failed: error: failed to set MSR 0x10a to 0x69"},
				TCG:      hostcheck.ProbeFacts{Ran: true, OK: true, Duration: 110 * time.Millisecond},
				NVML:     hostcheck.NVMLFacts{Reason: "NVIDIA library not found"},
			}},
			cfg: Config{DataDir: dataDir, AllGPUs: true},
		},
	}
}

func TestPlanGolden(t *testing.T) {
	for name, f := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			f.host.t = t
			before := treeSum(t, f.host.root)
			p, err := NewPlan(context.Background(), f.host, f.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := Text(&buf, p); err != nil {
				t.Fatal(err)
			}
			got := buf.String()
			file := filepath.Join("testdata", "golden", name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				want, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("%v (run `go test ./engine/launch -run TestPlanGolden -update` to create it)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs (check, then rerun with -update); got:\n%s", file, got)
				}
			}
			if after := treeSum(t, f.host.root); after != before {
				t.Error("planning changed the fixture host's files")
			}
			js, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{"hf_fixtureTokenNotReal", "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80="} {
				if strings.Contains(got, secret) || strings.Contains(string(js), secret) {
					t.Errorf("the plan shows a secret")
				}
			}
		})
	}
}

func TestPlanVerdicts(t *testing.T) {
	fx := fixtures(t)
	plan := func(name string, mutate func(*Config)) Plan {
		f := fx[name]
		f.host.t = t
		if mutate != nil {
			mutate(&f.cfg)
		}
		p, err := NewPlan(context.Background(), f.host, f.cfg)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	p := plan("tdx-8xh100", nil)
	if !p.Ready || len(p.Instances) != 8 {
		t.Fatalf("eligible host: ready %v, %d instances; blocked: %v", p.Ready, len(p.Instances), blocked(p))
	}
	seen := map[string]bool{}
	for i, in := range p.Instances {
		if in.Number != i || in.StatsPort != 12000+10*i || in.SSHPort != 12005+10*i || in.CID != uint32(6+10*i) {
			t.Errorf("instance %d = %+v", i, in)
		}
		for _, v := range []string{in.GPU, in.PersistentDisk, in.SpecDir, fmt.Sprint("port", in.StatsPort), fmt.Sprint("cid", in.CID)} {
			if seen[v] {
				t.Errorf("instance %d shares %s with another", i, v)
			}
			seen[v] = true
		}
	}

	// Without a key of their own, instances 1–7 would share one wallet.
	p = plan("tdx-8xh100", func(c *Config) { c.NodeWalletKeys = nil })
	if p.Ready || !strings.Contains(strings.Join(blocked(p), "\n"), "instance 1 needs a node wallet key of its own") {
		t.Errorf("shared wallet key not blocked: %v", blocked(p))
	}
	p = plan("tdx-8xh100", func(c *Config) { c.AllGPUs, c.GPUs, c.NodeWalletKeys = false, []int{2}, nil })
	if !p.Ready || len(p.Instances) != 1 || p.Instances[0].GPU != "0000:3a:00.0" {
		t.Errorf("--gpus 2: ready %v, instances %+v, blocked %v", p.Ready, p.Instances, blocked(p))
	}
	// Settings' GPU choice narrows the default (worker.conf naming no GPU).
	p = plan("tdx-8xh100", func(c *Config) {
		c.AllGPUs, c.GPUs, c.NodeWalletKeys = false, nil, c.NodeWalletKeys[:1]
		c.Allowed = []string{"pci:0000:3a:00.0", "pci:0000:18:00.0", "GPU-not-here"}
	})
	if got := fmt.Sprintf("%d %s %s", len(p.Instances), p.Instances[0].GPU, p.Instances[1].GPU); got != "2 0000:18:00.0 0000:3a:00.0" {
		t.Errorf("GPUs chosen in Settings: %s, blocked %v", got, blocked(p))
	}
	p = plan("tdx-8xh100", func(c *Config) { c.AllGPUs, c.GPUs, c.Allowed = false, nil, []string{"GPU-not-here"} })
	if p.Ready || !strings.Contains(strings.Join(blocked(p), "\n"), "none of the GPUs chosen in Settings") {
		t.Errorf("no chosen GPU present not blocked: %v", blocked(p))
	}
	p = plan("tdx-8xh100", func(c *Config) { c.AllGPUs, c.GPUs = false, []int{9} })
	if p.Ready || !strings.Contains(strings.Join(blocked(p), "\n"), "there is no GPU 9") {
		t.Errorf("--gpus 9 not blocked: %v", blocked(p))
	}
	p = plan("tdx-8xh100", func(c *Config) { c.Release = "1999.01.01" })
	if p.Ready || !strings.Contains(strings.Join(blocked(p), "\n"), "there is no release 1999.01.01") {
		t.Errorf("missing release not blocked: %v", blocked(p))
	}

	p = plan("consumer-4090", nil)
	all := strings.Join(blocked(p), "\n")
	for _, want := range []string{"boot VGA device", "TDX enabled in KVM", "no worker release"} {
		if !strings.Contains(all, want) {
			t.Errorf("consumer box: blocked reasons lack %q:\n%s", want, all)
		}
	}
	p = plan("cloud-vm-2cpu", nil)
	if p.Ready || len(p.Instances) != 0 || !strings.Contains(strings.Join(blocked(p), "\n"), "no NVIDIA GPU on this host") {
		t.Errorf("VM: %v", blocked(p))
	}
}

// TestPlanCCModeUnknown: when the mode cannot be read, the helper's
// set-cc-mode plan is shown, and a missing CC tool blocks it.
func TestPlanCCModeUnknown(t *testing.T) {
	f := fixtures(t)["tdx-8xh100"]
	f.host.t, f.host.cc = t, nil
	f.cfg.AllGPUs, f.cfg.GPUs = false, []int{0}
	p, err := NewPlan(context.Background(), f.host, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Steps {
		if s.Kind == KindCCMode {
			if s.WouldDo() || !strings.Contains(s.Blocked[0], "nvidia_gpu_tools.py is not installed") {
				t.Errorf("cc step = %+v", s)
			}
			return
		}
	}
	t.Fatal("no CC step")
}

func TestPlanStopsWithContext(t *testing.T) {
	f := fixtures(t)["tdx-8xh100"]
	f.host.t = t
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewPlan(ctx, f.host, f.cfg); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestNoEffects(t *testing.T) {
	var e Effects = NoEffects{}
	ctx := context.Background()
	for _, err := range []error{e.WriteFile(ctx, "x", nil, 0o600), e.CreateSparse(ctx, "x", 1), e.Exec(ctx, []string{"x"})} {
		if !errors.Is(err, ErrNotEnabled) {
			t.Errorf("err = %v", err)
		}
	}
}

func TestCommandLines(t *testing.T) {
	got := commandLines([]string{"qemu", "-machine", "q35", "-nographic", "-append", "a b", "-object", `{"x":"y"}`})
	want := []string{`qemu \`, `-machine q35 \`, `-nographic \`, `-append 'a b' \`, `-object '{"x":"y"}'`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q", got)
	}
}

func blocked(p Plan) []string {
	var out []string
	for _, s := range p.Steps {
		for _, b := range s.Blocked {
			out = append(out, fmt.Sprintf("%d %s: %s", s.Number, s.Title, b))
		}
	}
	return out
}

// treeSum hashes every entry of a tree (not following links).
func treeSum(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d", p, info.Mode(), info.Size())
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(h[:])
}
