package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultBinary is the QEMU system emulator the official launcher uses.
const DefaultBinary = "qemu-system-x86_64"

// ErrNoQEMU is returned when no QEMU binary can be found.
var ErrNoQEMU = errors.New("qemu-system-x86_64 not found in PATH; install it (Debian/Ubuntu: sudo apt install qemu-system-x86)")

// Version is a QEMU release number.
type Version struct {
	Major, Minor, Micro int
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Micro) }

// AtLeast reports whether v >= major.minor.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// QEMUInfo describes the QEMU binary found on this host.
type QEMUInfo struct {
	Path    string  `json:"path"`
	Version Version `json:"version"`
	// Banner is the first line of `--version`, including the distribution suffix.
	Banner string `json:"banner"`
	// TDX is true when this QEMU knows the tdx-guest object (QEMU 10.1+ built with TDX).
	TDX bool `json:"tdx"`
}

var versionRe = regexp.MustCompile(`QEMU emulator version (\d+)\.(\d+)(?:\.(\d+))?`)

// ParseVersion reads the output of `qemu-system-x86_64 --version`.
func ParseVersion(out string) (Version, string, error) {
	banner, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	m := versionRe.FindStringSubmatch(banner)
	if m == nil {
		return Version{}, banner, fmt.Errorf("unrecognised QEMU version output %q", banner)
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		v.Micro, _ = strconv.Atoi(m[3])
	}
	return v, banner, nil
}

// HasObjectType reports whether `-object help` output lists the given QOM type.
func HasObjectType(helpOut, typ string) bool {
	for _, line := range strings.Split(helpOut, "\n") {
		if strings.TrimSpace(line) == typ {
			return true
		}
	}
	return false
}

// Inspect finds QEMU (binary may be a name looked up in PATH or a path) and asks
// it for its version and TDX support. Each query is bounded by a short timeout.
func Inspect(ctx context.Context, binary string) (QEMUInfo, error) {
	if binary == "" {
		binary = DefaultBinary
	}
	path, err := exec.LookPath(binary)
	if err != nil {
		if binary == DefaultBinary {
			return QEMUInfo{}, ErrNoQEMU
		}
		return QEMUInfo{}, fmt.Errorf("QEMU binary %q: %w", binary, err)
	}
	info := QEMUInfo{Path: path}
	out, err := runQuick(ctx, path, "--version")
	if err != nil {
		return info, fmt.Errorf("%s --version: %w", path, err)
	}
	if info.Version, info.Banner, err = ParseVersion(out); err != nil {
		return info, err
	}
	// -object help needs no accelerator and no guest.
	if out, err := runQuick(ctx, path, "-machine", "none", "-object", "help"); err == nil {
		info.TDX = HasObjectType(out, "tdx-guest")
	}
	return info, nil
}

func runQuick(ctx context.Context, path string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}
