//go:build integration

package devmode

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/internal/syncbuf"
)

// Environment knobs of the integration test.
const (
	// envCache keeps the kernel .deb and built images between runs.
	envCache = "COCOON_STANDIN_CACHE"
	// envKernelDeb builds from a .deb on disk instead of apt-get download.
	envKernelDeb = "COCOON_STANDIN_KERNEL_DEB"
)

// Bounds of the waits; the measured figures are logged.
const (
	bootBound     = 90 * time.Second
	powerOffBound = 30 * time.Second
	bootTarget    = 10 * time.Second
)

// TestStandInImage builds the stand-in image, boots it under QEMU/TCG and
// talks to it through the forwarded ports like the host side will: HTTP
// (/jsonstats, /stats, /request/disable), the health protocol over TCP, and
// ACPI power-off through QMP.
func TestStandInImage(t *testing.T) {
	for _, tool := range []string{"qemu-system-x86_64", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: the stand-in image test needs it (apt-get install qemu-system-x86 dpkg)", tool)
		}
	}
	deb := os.Getenv(envKernelDeb)
	if _, err := exec.LookPath("apt-get"); err != nil && deb == "" {
		t.Skipf("no apt-get to fetch the kernel; set %s to a linux-image-<version>-amd64 .deb", envKernelDeb)
	}
	cache := os.Getenv(envCache)
	if cache == "" {
		cache = t.TempDir()
		t.Logf("%s unset: downloading the kernel into a temporary cache (set it to reuse the download)", envCache)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))

	// Build, then build again: the second comes from the cache.
	start := time.Now()
	img, err := Build(ctx, Options{CacheDir: cache, KernelDeb: deb, SourceDir: root, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build: %s (cached: %v); kernel %s %d bytes, initrd %d bytes, %d modules",
		time.Since(start).Round(time.Millisecond), img.Cached, img.Inputs.KernelVersion, img.Kernel.Size, img.Initrd.Size, len(img.Modules))
	start = time.Now()
	warm, err := Build(ctx, Options{CacheDir: cache, KernelDeb: deb, SourceDir: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("warm build: %s", time.Since(start).Round(time.Millisecond))
	if !warm.Cached || warm.Initrd.SHA256 != img.Initrd.SHA256 {
		t.Errorf("second build was not served from the cache (cached %v)", warm.Cached)
	}

	// Reproducible: a fresh cache and a fresh agent build give the same bytes.
	rep, err := Build(ctx, Options{CacheDir: t.TempDir(), KernelDeb: img.KernelDeb, SourceDir: root})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Initrd.SHA256 != img.Initrd.SHA256 || rep.Kernel.SHA256 != img.Kernel.SHA256 {
		t.Errorf("rebuild differs: initrd %s vs %s", rep.Initrd.SHA256, img.Initrd.SHA256)
	}

	vm := bootStandIn(t, img)
	defer vm.stop()

	// Cold boot until /jsonstats answers through the forwarded port.
	body, err := vm.waitHTTP(ctx, "/jsonstats", bootBound)
	if err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, vm.console.String())
	}
	bootTime := time.Since(vm.started)
	t.Logf("cold boot to /jsonstats under TCG: %s (target %s)", bootTime.Round(time.Millisecond), bootTarget)
	if bootTime > bootTarget {
		t.Logf("NOTE: boot took longer than the %s target", bootTarget)
	}
	for _, line := range strings.Split(vm.console.String(), "\n") {
		if strings.Contains(line, "msg=ready") {
			t.Logf("agent: %s", strings.TrimSpace(line)) // its uptime= is the guest kernel's clock
		}
	}
	checkJSONStats(t, body, vm.owner)

	// Health protocol over the forwarded TCP port.
	status := vm.health(t, "status")
	for _, want := range []string{"Status: OK - All critical services active", "TDX Image Hash: XFXI9NtAELqSA9g1NtBgmFavjIR6wDnjfn3ej71XS2E=",
		"[+] cocoon-worker-runner: active", "[+] cocoon-health: active", "stand-in (synthetic, earns nothing)"} {
		if !strings.Contains(status, want) {
			t.Errorf("health status lacks %q:\n%s", want, status)
		}
	}
	if got := vm.health(t, "frobnicate"); got != `{"error":"Unknown command. Available: status, logs, sys, svc, tdx, eventlog, gpu, all"}` {
		t.Errorf("unknown health command: %s", got)
	}
	logs := vm.health(t, "logs cocoon-worker-runner 50")
	if !strings.Contains(logs, "worker HTTP serving") {
		t.Errorf("health logs lack the agent's lines:\n%s", logs)
	}
	if sys := vm.health(t, "sys"); !strings.Contains(sys, "Uptime:") || !strings.Contains(sys, "eth0:") {
		t.Errorf("health sys:\n%s", sys)
	}

	// Disable the worker; /stats shows it. /jsonstats keeps "enabled":
	// true, as the official worker does (interface spec §6.3).
	if got, err := vm.get("/request/disable"); err != nil || !strings.Contains(got, "state updated") {
		t.Errorf("/request/disable: %q, %v", got, err)
	}
	if page, err := vm.get("/stats"); err != nil || !strings.Contains(page, `no <a href="/request/enable">enable</a>`) {
		t.Errorf("/stats does not show the worker disabled: %v\n%s", err, page)
	}
	if js, err := vm.get("/jsonstats"); err != nil || !strings.Contains(js, `"enabled": true`) {
		t.Errorf("/jsonstats after disable: %v", err)
	} else {
		checkJSONStats(t, js, vm.owner)
	}

	// ACPI power-off: QEMU must exit by itself.
	start = time.Now()
	if err := qmpPowerdown(vm.qmpSocket); err != nil {
		t.Fatal(err)
	}
	select {
	case <-vm.done:
		t.Logf("powerdown to QEMU exit: %s", time.Since(start).Round(time.Millisecond))
		if vm.waitErr != nil {
			t.Errorf("QEMU exit: %v", vm.waitErr)
		}
	case <-time.After(powerOffBound):
		t.Fatalf("QEMU still running %s after system_powerdown\nconsole:\n%s", powerOffBound, vm.console.String())
	}

	console := vm.console.String()
	hvc, _ := os.ReadFile(vm.hvcLog)
	for name, out := range map[string]string{"serial console": console, "hvc0": string(hvc), "health logs": logs + status} {
		if strings.Contains(out, vm.walletKey) {
			t.Errorf("NODE_WALLET_KEY appears on the %s", name)
		}
	}
	if !strings.Contains(console, "cocoon-standin: ") || !strings.Contains(console, "powering off") {
		t.Errorf("serial console lacks the agent's log:\n%s", console)
	}
	if !strings.Contains(string(hvc), "cocoon-standin: ") || !strings.Contains(string(hvc), "msg=starting") {
		t.Errorf("hvc0 lacks the agent's log (with replay of early lines):\n%s", hvc)
	}
}

func checkJSONStats(t *testing.T, body, owner string) {
	t.Helper()
	if !strings.HasPrefix(body, "\n{\n  \"status\": {") {
		t.Errorf("/jsonstats does not start like the official one: %q", body[:min(len(body), 30)])
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("/jsonstats is not JSON: %v\n%s", err, body)
	}
	for _, k := range []string{"status", "stats", "localconfig", "root_contract_config", "proxies"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("/jsonstats lacks %q", k)
		}
	}
	var lc struct {
		OwnerAddress string `json:"owner_address"`
		Coefficient  int    `json:"coefficient"`
	}
	if err := json.Unmarshal(doc["localconfig"], &lc); err != nil || lc.OwnerAddress != owner || lc.Coefficient != 1000 {
		t.Errorf("localconfig = %+v (%v)", lc, err)
	}
}

// standInVM is one QEMU process running the image.
type standInVM struct {
	cmd        *exec.Cmd
	started    time.Time
	done       chan struct{} // closed when QEMU has exited and been reaped
	waitErr    error         // QEMU's exit, valid after done
	console    *syncbuf.Buffer
	hvcLog     string
	qmpSocket  string
	httpPort   int
	healthPort int
	owner      string
	walletKey  string
	once       sync.Once
}

func bootStandIn(t *testing.T, img Image) *standInVM {
	t.Helper()
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec")
	if err := os.MkdirAll(filepath.Join(spec, "runtime"), 0o755); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	vm := &standInVM{
		done:       make(chan struct{}),
		console:    &syncbuf.Buffer{},
		hvcLog:     filepath.Join(dir, "hvc0.log"),
		qmpSocket:  filepath.Join(dir, "qmp.sock"),
		httpPort:   freePort(t),
		healthPort: freePort(t),
		owner:      "UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m",
		walletKey:  base64.StdEncoding.EncodeToString(key),
	}
	vars := fmt.Sprintf("MODEL_NAME=Qwen/Qwen3-0.6B\nOWNER_ADDRESS=%s\nROOT_CONTRACT_ADDRESS=EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k\nWORKER_COEFFICIENT=1000\nNODE_WALLET_KEY=%s\n", vm.owner, vm.walletKey)
	if err := os.WriteFile(filepath.Join(spec, "runtime", "runtime.vars"), []byte(vars), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{
		"-machine", "q35,accel=tcg", "-m", "512", "-nographic", "-no-reboot",
		"-kernel", img.Kernel.Path, "-initrd", img.Initrd.Path, "-append", img.Cmdline,
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:12000,hostfwd=tcp:127.0.0.1:%d-:9999", vm.httpPort, vm.healthPort),
		"-device", "virtio-net-pci,netdev=n0",
		"-virtfs", "local,path=" + spec + ",mount_tag=spec,security_model=mapped,readonly=on",
		"-chardev", "file,id=hvc,path=" + vm.hvcLog, "-device", "virtio-serial-pci", "-device", "virtconsole,chardev=hvc",
		"-qmp", "unix:" + vm.qmpSocket + ",server=on,wait=off",
	}
	t.Logf("qemu-system-x86_64 %s", strings.Join(args, " "))
	vm.cmd = exec.Command("qemu-system-x86_64", args...)
	vm.cmd.Stdout, vm.cmd.Stderr = vm.console, vm.console
	vm.started = time.Now()
	if err := vm.cmd.Start(); err != nil {
		t.Fatalf("start QEMU: %v", err)
	}
	go func() { vm.waitErr = vm.cmd.Wait(); close(vm.done) }()
	t.Cleanup(func() {
		vm.stop()
		if t.Failed() {
			t.Logf("console:\n%s", vm.console.String())
		}
	})
	return vm
}

// stop kills QEMU if it is still running and reaps it.
func (vm *standInVM) stop() {
	vm.once.Do(func() {
		select {
		case <-vm.done:
		default:
			_ = vm.cmd.Process.Kill()
			<-vm.done
		}
	})
}

func (vm *standInVM) get(path string) (string, error) {
	return vm.getWithin(path, 5*time.Second)
}

// getWithin is GET with a per-request bound. Polling during boot needs a
// short one: before the guest listens, QEMU's user networking accepts the
// host-side connection and leaves it hanging instead of refusing it.
func (vm *standInVM) getWithin(path string, timeout time.Duration) (string, error) {
	c := http.Client{Timeout: timeout}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", vm.httpPort, path))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}

// waitHTTP polls path until it answers 200, QEMU exits or bound passes.
func (vm *standInVM) waitHTTP(ctx context.Context, path string, bound time.Duration) (string, error) {
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if body, err := vm.getWithin(path, 500*time.Millisecond); err == nil {
			return body, nil
		}
		select {
		case <-vm.done:
			return "", fmt.Errorf("QEMU exited before %s answered: %v", path, vm.waitErr)
		case <-deadline.C:
			return "", fmt.Errorf("%s did not answer within %s", path, bound)
		case <-ctx.Done():
			return "", ctx.Err()
		case <-tick.C:
		}
	}
}

// health sends one health request (4-byte little-endian length + text)
// and returns the response text.
func (vm *standInVM) health(t *testing.T, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", vm.healthPort), 5*time.Second)
	if err != nil {
		t.Fatalf("health connect: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := binary.LittleEndian.AppendUint32(nil, uint32(len(cmd)))
	if _, err := c.Write(append(req, cmd...)); err != nil {
		t.Fatalf("health %s: %v", cmd, err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("health %s: read length: %v", cmd, err)
	}
	resp := make([]byte, binary.LittleEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(c, resp); err != nil {
		t.Fatalf("health %s: read payload: %v", cmd, err)
	}
	return string(resp)
}

// qmpPowerdown sends system_powerdown over the QMP socket.
func qmpPowerdown(sock string) error {
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return fmt.Errorf("connect to QMP: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if _, err := r.ReadBytes('\n'); err != nil { // greeting
		return fmt.Errorf("QMP greeting: %w", err)
	}
	for _, cmd := range []string{"qmp_capabilities", "system_powerdown"} {
		if _, err := fmt.Fprintf(c, "{\"execute\":%q}\n", cmd); err != nil {
			return err
		}
		for { // skip events until the command's reply
			line, err := r.ReadBytes('\n')
			if err != nil {
				return fmt.Errorf("QMP %s: %w", cmd, err)
			}
			var msg struct {
				Return json.RawMessage `json:"return"`
				Error  *struct{ Desc string }
			}
			if err := json.Unmarshal(line, &msg); err != nil {
				return fmt.Errorf("QMP %s: %w", cmd, err)
			}
			if msg.Error != nil {
				return fmt.Errorf("QMP %s: %s", cmd, msg.Error.Desc)
			}
			if msg.Return != nil {
				break
			}
		}
	}
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
