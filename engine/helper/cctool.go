package helper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ccToolName is NVIDIA's admin tool from gpu-admin-tools.
const ccToolName = "nvidia_gpu_tools.py"

// CCTool runs NVIDIA's nvidia_gpu_tools.py, found only at fixed absolute
// paths and run by a fixed interpreter with a fixed argv (never through a
// shell). DefaultCCTool is the production setting.
type CCTool struct {
	// Python is the absolute path of the interpreter.
	Python string
	// Scripts are the absolute paths where nvidia_gpu_tools.py may be
	// installed; the first present one is used.
	Scripts []string
	// OwnerUID is the owner the interpreter, the script and the script's
	// directory must have (0, root, in production); none of them may be
	// writable by group or others, and the script may not be a symlink.
	OwnerUID int
	// Pause is the wait after a mode switch that resets the GPU.
	Pause time.Duration
	// Timeout bounds one run of the tool.
	Timeout time.Duration
	// Run runs argv and returns its combined output; nil runs it with
	// os/exec in a clean environment.
	Run func(ctx context.Context, argv []string) ([]byte, error)
}

// DefaultCCTool returns the production CCTool: /usr/bin/python3 and the
// script under /usr/lib/cocoon-provider/gpu-admin-tools,
// /usr/local/lib/cocoon-provider/gpu-admin-tools or
// /opt/nvidia/gpu-admin-tools, owned by root.
func DefaultCCTool() CCTool {
	return CCTool{
		Python: "/usr/bin/python3",
		Scripts: []string{
			"/usr/lib/cocoon-provider/gpu-admin-tools/" + ccToolName,
			"/usr/local/lib/cocoon-provider/gpu-admin-tools/" + ccToolName,
			"/opt/nvidia/gpu-admin-tools/" + ccToolName,
		},
		OwnerUID: 0,
		Pause:    2 * time.Second,
		Timeout:  5 * time.Minute,
	}
}

// ErrCCToolMissing is returned (wrapped in a Refusal's text) when
// nvidia_gpu_tools.py is at none of the fixed paths.
var ErrCCToolMissing = errors.New("nvidia_gpu_tools.py is not installed")

// Find returns the script to run, or a Refusal saying where to install it
// or why the one found is not trusted.
func (t CCTool) Find() (string, error) {
	if len(t.Scripts) == 0 || t.Python == "" {
		return "", refuse("%v: no location for it is configured", ErrCCToolMissing)
	}
	for _, s := range t.Scripts {
		fi, err := os.Lstat(s)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", s, err)
		}
		if !fi.Mode().IsRegular() {
			return "", refuse("%s is not a regular file (a symlink or other): install the real file there", s)
		}
		if err := t.trusted(s, fi); err != nil {
			return "", err
		}
		if err := t.trustedPath(filepath.Dir(s)); err != nil {
			return "", err
		}
		if err := t.trustedPath(t.Python); err != nil {
			return "", err
		}
		return s, nil
	}
	return "", refuse("%v: NVIDIA's gpu-admin-tools (https://github.com/NVIDIA/gpu-admin-tools) is needed to change the CC mode; install it, owned by root, so that one of %s exists",
		ErrCCToolMissing, strings.Join(t.Scripts, ", "))
}

// trustedPath checks the file or directory at p (following a symlink).
func (t CCTool) trustedPath(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return refuse("%s: %v", p, err)
	}
	return t.trusted(p, fi)
}

// trusted checks owner and mode: owned by OwnerUID, not writable by group
// or others.
func (t CCTool) trusted(p string, fi os.FileInfo) error {
	if fi.Mode().Perm()&0o022 != 0 {
		return refuse("%s is writable by group or others (mode %v): refusing to run it as root", p, fi.Mode().Perm())
	}
	if uid, ok := fileOwner(fi); !ok || uid != t.OwnerUID {
		return refuse("%s is not owned by uid %d: refusing to run it as root", p, t.OwnerUID)
	}
	return nil
}

// argv is the fixed command line for script on the GPU pci with the
// tool's flags. -E and -s keep Python from reading PYTHON* variables and
// the user's site directory.
func (t CCTool) argv(script, pci string, flags ...string) []string {
	return append([]string{t.Python, "-E", "-s", script, "--gpu-bdf=" + pci}, flags...)
}

// The tool's flags, as documented by gpu-admin-tools and used by Cocoon's
// setup-gpu-vfio.
var (
	flagsPPCIeOff = []string{"--set-ppcie-mode=off", "--reset-after-ppcie-mode-switch"}
	flagsQuery    = []string{"--query-cc-mode"}
)

func flagsCC(mode string) []string {
	return []string{"--set-cc-mode=" + mode, "--reset-after-cc-mode-switch"}
}

// ccSteps are the runs that switch pci to mode: protected PCIe off first
// (it excludes CC mode) when turning CC on, last when turning it off, as
// Cocoon's setup-gpu-vfio does; each followed by a pause for the reset.
func (t CCTool) ccSteps(script, pci, mode string) []Step {
	runs := [][]string{flagsPPCIeOff, flagsCC(mode)}
	if mode == ModeOff {
		runs = [][]string{flagsCC(mode), flagsPPCIeOff}
	}
	var steps []Step
	for i, f := range runs {
		steps = append(steps, Step{Kind: StepExec, Argv: t.argv(script, pci, f...)})
		if i < len(runs)-1 && t.Pause > 0 {
			steps = append(steps, Step{Kind: StepWait, Wait: t.Pause})
		}
	}
	return steps
}

// allowedArgv reports whether argv is one of the fixed command lines for
// pci with the script found now.
func (t CCTool) allowedArgv(argv []string, pci string) bool {
	script, err := t.Find()
	if err != nil {
		return false
	}
	for _, f := range [][]string{flagsPPCIeOff, flagsCC(ModeOn), flagsCC(ModeOff), flagsCC(ModeDevTools), flagsQuery} {
		if slices.Equal(argv, t.argv(script, pci, f...)) {
			return true
		}
	}
	return false
}

// run runs one fixed command line, bounded by Timeout, and returns its
// output; a failure carries the output's last lines.
func (t CCTool) run(ctx context.Context, argv []string) ([]byte, error) {
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	runner := t.Run
	if runner == nil {
		runner = execArgv
	}
	out, err := runner(ctx, argv)
	if err != nil {
		return out, fmt.Errorf("%s %s: %w%s", ccToolName, strings.Join(argv[4:], " "), err, tail(out))
	}
	return out, nil
}

// execArgv runs argv directly (no shell), with stdin from /dev/null, in a
// clean environment and the root directory, keeping at most 64 KiB of
// output.
func execArgv(ctx context.Context, argv []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	cmd.Dir = "/"
	out := &capped{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.b, err
}

// capped keeps the first max bytes written to it.
type capped struct {
	b   []byte
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// tail is ": " and the last three non-empty lines of out, for an error.
func tail(out []byte) string {
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return ": " + strings.Join(lines[max(0, len(lines)-3):], " / ")
}

// ccModeRE matches the CC mode in the tool's output as Cocoon's
// setup-gpu-vfio does ("mode is on", "mode=on", "cc mode: on"), plus
// devtools.
var ccModeRE = regexp.MustCompile(`(?i)(?:mode is|mode=|cc mode:)\s*(on|off|devtools)\b`)

// ParseCCMode finds the CC mode in nvidia_gpu_tools.py --query-cc-mode
// output: ModeOn, ModeOff, ModeDevTools, or "" when none is stated. Lines
// about the protected-PCIe mode are skipped.
func ParseCCMode(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(strings.ToLower(l), "ppcie") {
			continue
		}
		if m := ccModeRE.FindStringSubmatch(l); m != nil {
			return strings.ToLower(m[1])
		}
	}
	return ""
}

// QueryCCMode asks the tool for the GPU's CC mode. pci must be a GPU
// Check accepted.
func (t CCTool) QueryCCMode(ctx context.Context, pci string) (string, error) {
	if err := ValidPCI(pci); err != nil {
		return "", err
	}
	script, err := t.Find()
	if err != nil {
		return "", err
	}
	out, err := t.run(ctx, t.argv(script, pci, flagsQuery...))
	if err != nil {
		return "", err
	}
	mode := ParseCCMode(string(out))
	if mode == "" {
		return "", fmt.Errorf("%s --query-cc-mode stated no CC mode%s", ccToolName, tail(out))
	}
	return mode, nil
}
