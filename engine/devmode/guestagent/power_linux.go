package main

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Linux input event constants (linux/input-event-codes.h).
const (
	evKey    = 0x01
	keyPower = 116
	// inputEventSize is sizeof(struct input_event) on 64-bit: a 16-byte
	// timeval, then type u16, code u16, value s32.
	inputEventSize = 24
)

// isPowerPress reports whether one input_event is the power key going down.
func isPowerPress(ev []byte) bool {
	if len(ev) < inputEventSize {
		return false
	}
	typ := binary.NativeEndian.Uint16(ev[16:18])
	code := binary.NativeEndian.Uint16(ev[18:20])
	value := int32(binary.NativeEndian.Uint32(ev[20:24]))
	return typ == evKey && code == keyPower && value == 1
}

// powerButtons lists the input devices the ACPI button driver created
// ("Power Button"), as /dev/input/eventN paths. On Debian's 6.1 kernel the
// driver (button.ko) and the event interface (evdev.ko) are modules; there
// is no /proc/acpi/event (CONFIG_ACPI_PROC_EVENT is long gone).
func powerButtons(sysClassInput, devInput string) []string {
	names, _ := filepath.Glob(filepath.Join(sysClassInput, "event*", "device", "name"))
	var out []string
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil || !strings.Contains(string(b), "Power Button") {
			continue
		}
		out = append(out, filepath.Join(devInput, filepath.Base(filepath.Dir(filepath.Dir(n)))))
	}
	return out
}

// watchPowerButtons sends on pressed when any power button device reports
// KEY_POWER down. It returns how many devices it watches.
func watchPowerButtons(ctx context.Context, pressed chan<- string, log *slog.Logger) int {
	devs := powerButtons("/sys/class/input", "/dev/input")
	for _, dev := range devs {
		f, err := os.Open(dev)
		if err != nil {
			log.Warn("cannot watch power button", "device", dev, "err", err)
			continue
		}
		context.AfterFunc(ctx, func() { _ = f.Close() })
		go func() {
			defer f.Close()
			ev := make([]byte, inputEventSize)
			for {
				if _, err := io.ReadFull(f, ev); err != nil {
					if ctx.Err() == nil && !errors.Is(err, os.ErrClosed) {
						log.Warn("power button device stopped", "device", dev, "err", err)
					}
					return
				}
				if isPowerPress(ev) {
					select {
					case pressed <- "ACPI power button (" + dev + ")":
					default:
					}
				}
			}
		}()
	}
	return len(devs)
}

// powerOff syncs, unmounts the spec share and powers the VM off. It only
// returns if the kernel refuses, with that error.
func powerOff() error {
	_ = unix.Unmount(specMountDir, unix.MNT_DETACH)
	unix.Sync()
	return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}
