//go:build integration && !nogui

package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/app"
	"github.com/cocoon-provider/cocoon-provider/internal/syncbuf"
)

// The test binary doubles as the app: with this variable set, TestMain runs
// the app on the main thread (as Fyne requires) instead of the tests.
const childEnv = "COCOON_UI_SMOKE_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		os.Exit(run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func need(tb testing.TB, bin, pkg string) {
	tb.Helper()
	if _, err := exec.LookPath(bin); err != nil {
		tb.Skipf("needs %s (apt install %s); make test installs it", bin, pkg)
	}
}

// startXvfb starts a virtual X server and returns its DISPLAY value.
func startXvfb(tb testing.TB) string {
	tb.Helper()
	need(tb, "Xvfb", "xvfb")
	line := startDaemon(tb, "Xvfb", "-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp")
	return ":" + line
}

// startDaemon runs a helper that reports its address on fd 3 and returns that line.
func startDaemon(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	w.Close()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case s := <-got:
		if s == "" {
			tb.Fatalf("%s exited without reporting its address", name)
		}
		return s
	case <-time.After(30 * time.Second):
		tb.Fatalf("%s did not report its address within 30s", name)
	}
	return ""
}

// appProcess is the app running as a child process.
type appProcess struct {
	cmd     *exec.Cmd
	dataDir string
	logs    syncbuf.Buffer
	lines   chan string
	done    chan error
}

// startApp runs the app with a fresh data directory on the given X display;
// busAddr empty means no D-Bus session bus.
func startApp(tb testing.TB, display, busAddr string, extra ...string) *appProcess {
	tb.Helper()
	return startAppIn(tb, display, busAddr, filepath.Join(tb.TempDir(), "data"), extra...)
}

// startAppIn is startApp with the data directory given.
func startAppIn(tb testing.TB, display, busAddr, dataDir string, extra ...string) *appProcess {
	tb.Helper()
	dir := filepath.Dir(dataDir)
	args := append([]string{"--data-dir", dataDir, "--log-level", "info"}, extra...)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(filteredEnv("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", childEnv),
		"DISPLAY="+display, "XDG_DATA_HOME="+filepath.Join(dir, "xdg"), childEnv+"="+strings.Join(args, "\x1f"))
	if busAddr != "" {
		cmd.Env = append(cmd.Env, "DBUS_SESSION_BUS_ADDRESS="+busAddr)
	}
	p := &appProcess{cmd: cmd, dataDir: dataDir, lines: make(chan string, 256), done: make(chan error, 1)}
	out, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout = &p.logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.logs.Write([]byte(sc.Text() + "\n"))
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		p.done <- cmd.Wait()
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	return p
}

// waitLog waits for a log line containing s.
func (p *appProcess) waitLog(tb testing.TB, s string, d time.Duration) {
	tb.Helper()
	deadline := time.After(d)
	for {
		select {
		case l := <-p.lines:
			if strings.Contains(l, s) {
				return
			}
		case <-deadline:
			tb.Fatalf("no log line with %q within %s; output:\n%s", s, d, p.logs.String())
		}
	}
}

// wait waits for the app to exit and returns its error.
func (p *appProcess) wait(tb testing.TB, d time.Duration) error {
	tb.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(d):
		tb.Fatalf("the app did not exit within %s; output:\n%s", d, p.logs.String())
	}
	return nil
}

// TestUIWindowScreenshot opens the real window under Xvfb (no D-Bus, so no
// tray), waits until the app says the machine check is shown, captures the
// X screen with xwd, and stops the app with SIGTERM.
func TestUIWindowScreenshot(t *testing.T) {
	display := startXvfb(t)
	need(t, "xwd", "x11-apps")
	p := startApp(t, display, "")
	p.waitLog(t, "window ready", 2*time.Minute)
	// Readiness is logged as the content is queued; give the driver a moment to paint it.
	time.Sleep(time.Second)
	img, err := captureX(display)
	if err != nil {
		t.Fatalf("capture the screen: %v", err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Errorf("the app did not exit cleanly on SIGTERM: %v", err)
	}
	t.Logf("app output:\n%s", p.logs.String())
	if !strings.Contains(p.logs.String(), "no system tray") || !strings.Contains(p.logs.String(), "D-Bus") {
		t.Errorf("the log does not say why there is no tray")
	}
	shot := filepath.Join(t.TempDir(), "window.png")
	if keep := os.Getenv("UI_SCREENSHOT"); keep != "" {
		shot = keep
	}
	if err := writePNG(shot, img); err != nil {
		t.Fatal(err)
	}
	if n := distinctColors(img, 64); n < 16 {
		t.Errorf("screenshot has only %d colours: the window looks blank", n)
	}
	t.Logf("screenshot %s: %dx%d", shot, img.Bounds().Dx(), img.Bounds().Dy())
}

// TestUITrayMenu starts the app hidden with a tray host on a private D-Bus
// session bus, reads the tray menu over D-Bus as a desktop panel does,
// checks the status, earnings, pause and payout items, clicks "Open
// dashboard" (the window must appear) and then "Quit" (the app must exit).
func TestUITrayMenu(t *testing.T) {
	display := startXvfb(t)
	need(t, "xwininfo", "x11-utils")
	host := startTrayHost(t)
	p := startApp(t, display, host.addr, "--hidden")
	var item string
	select {
	case item = <-host.registered:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the app never registered a tray icon; output:\n%s", p.logs.String())
	}
	p.waitLog(t, "window ready", 2*time.Minute)
	if mapped(display, "Cocoon Provider") {
		t.Error("--hidden showed the window")
	}
	items := host.menu(t, item)
	for _, want := range []string{"Earned today: 0 TON", "This week: 0 TON", "Claimable: 0 TON",
		"Pause 30 min", "Pause 1 hour", "Pause until tomorrow", "Resume", "Payout now", "Open dashboard", "Quit"} {
		if _, ok := items[want]; !ok {
			t.Fatalf("tray menu %v lacks %q", items, want)
		}
	}
	status := false
	for label := range items {
		status = status || strings.HasPrefix(label, "Dev mode: ")
	}
	if !status {
		t.Errorf("tray menu %v lacks the status line", items)
	}
	host.click(t, item, items["Open dashboard"])
	deadline := time.Now().Add(30 * time.Second)
	for !mapped(display, "Cocoon Provider") {
		if time.Now().After(deadline) {
			t.Fatalf("the window did not appear after Open; output:\n%s", p.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// An update of the menu renumbers its items: read it again.
	items = host.menu(t, item)
	host.click(t, item, items["Quit"])
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Errorf("Quit from the tray: %v\n%s", err, p.logs.String())
	}
	if strings.Contains(p.logs.String(), "no system tray") {
		t.Errorf("the app did not see the tray host:\n%s", p.logs.String())
	}
}

// mapped reports whether a top-level window with this name is viewable.
func mapped(display, name string) bool {
	out, err := exec.Command("xwininfo", "-display", display, "-name", name).Output()
	return err == nil && bytes.Contains(out, []byte("IsViewable"))
}

// BenchmarkGUIFootprint reports the app's resident memory with the window
// open and with only the tray icon (run with -benchtime=1x; make bench does).
func BenchmarkGUIFootprint(b *testing.B) {
	display := startXvfb(b)
	for range b.N {
		p := startApp(b, display, "")
		p.waitLog(b, "window ready", 2*time.Minute)
		time.Sleep(5 * time.Second)
		b.ReportMetric(rssMiB(b, p.cmd.Process.Pid), "MiB-RSS-window")
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.wait(b, 30*time.Second)

		host := startTrayHost(b)
		p = startApp(b, display, host.addr, "--hidden")
		<-host.registered
		p.waitLog(b, "window ready", 2*time.Minute)
		time.Sleep(5 * time.Second)
		b.ReportMetric(rssMiB(b, p.cmd.Process.Pid), "MiB-RSS-tray-only")
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.wait(b, 30*time.Second)
	}
}

func rssMiB(tb testing.TB, pid int) float64 {
	rss, _, err := procStats(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return rss
}

// captureX grabs the X screen with xwd and decodes its ZPixmap.
func captureX(display string) (image.Image, error) {
	out, err := exec.Command("xwd", "-root", "-silent", "-display", display).Output()
	if err != nil {
		return nil, err
	}
	return decodeXWD(out)
}

func decodeXWD(b []byte) (image.Image, error) {
	if len(b) < 100 {
		return nil, fmt.Errorf("xwd output too short")
	}
	h := func(i int) uint32 { return binary.BigEndian.Uint32(b[i*4:]) }
	headerSize, format, width, height := h(0), h(2), int(h(4)), int(h(5))
	bigEndian, bpp, stride := h(7) == 1, int(h(11)), int(h(12))
	rmask, gmask, bmask, ncolors := h(14), h(15), h(16), h(19)
	if format != 2 || (bpp != 32 && bpp != 24) {
		return nil, fmt.Errorf("xwd format %d with %d bits per pixel is not handled", format, bpp)
	}
	off := int(headerSize) + int(ncolors)*12
	if len(b) < off+stride*height {
		return nil, fmt.Errorf("xwd pixel data truncated")
	}
	channel := func(p, m uint32) uint8 { return uint8((p & m) >> bits.TrailingZeros32(m)) }
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	for y := range height {
		row := b[off+y*stride:]
		for x := range width {
			var p uint32
			for i := range bpp / 8 {
				v := uint32(row[x*(bpp/8)+i])
				if bigEndian {
					p = p<<8 | v
				} else {
					p |= v << (8 * i)
				}
			}
			img.Set(x, y, color.RGBA{channel(p, rmask), channel(p, gmask), channel(p, bmask), 255})
		}
	}
	return img, nil
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func distinctColors(img image.Image, limit int) int {
	seen := map[color.Color]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			seen[img.At(x, y)] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

func filteredEnv(drop ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range drop {
			if k == d {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// TestUIScreens opens the real window on each screen in turn (--show)
// under Xvfb, with an owner address set so that the dashboard is what
// opens, and checks that each screen paints something of its own. With
// UI_SCREENSHOTS=DIR it keeps one PNG per screen there.
func TestUIScreens(t *testing.T) {
	display := startXvfb(t)
	need(t, "xwd", "x11-apps")
	keep := os.Getenv("UI_SCREENSHOTS")
	seen := map[string]string{}
	for _, screen := range app.Screens {
		data := filepath.Join(t.TempDir(), "data")
		if screen != "wizard" {
			var out strings.Builder
			if code := run([]string{"wallet", "address", "--data-dir", data, soakOwner}, &out, &out); code != 0 {
				t.Fatalf("set the owner address: %s", out.String())
			}
		}
		p := startAppIn(t, display, "", data, "--show", screen)
		p.waitLog(t, "window ready", 2*time.Minute)
		time.Sleep(1500 * time.Millisecond) // let the screen's first refresh paint
		img, err := captureX(display)
		if err != nil {
			t.Fatalf("%s: capture the screen: %v", screen, err)
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		if err := p.wait(t, 30*time.Second); err != nil {
			t.Errorf("%s: the app did not exit cleanly on SIGTERM: %v", screen, err)
		}
		if n := distinctColors(img, 64); n < 16 {
			t.Errorf("%s: the screenshot has only %d colours: the window looks blank", screen, n)
		}
		sum := fmt.Sprintf("%x", sha256.Sum256(img.(*image.RGBA).Pix))
		if other, dup := seen[sum]; dup {
			t.Errorf("%s looks exactly like %s", screen, other)
		}
		seen[sum] = screen
		if keep != "" {
			if err := writePNG(filepath.Join(keep, screen+".png"), img); err != nil {
				t.Fatal(err)
			}
		}
	}
}
