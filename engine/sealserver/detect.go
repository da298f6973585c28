package sealserver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// CheckStatus is the outcome of one check.
type CheckStatus string

// Check outcomes. Warn never blocks.
const (
	StatusOK   CheckStatus = "ok"
	StatusWarn CheckStatus = "warn"
	StatusFail CheckStatus = "fail"
)

// Check IDs.
const (
	CheckEnclaveDevice   = "sgx-enclave-device"
	CheckProvisionDevice = "sgx-provision-device"
	CheckAESM            = "aesmd"
	CheckBinary          = "seal-server-binary"
	CheckEnclaveFile     = "seal-server-enclave"
)

// Host paths Detect reads, below the root.
const (
	enclaveDevice   = "/dev/sgx_enclave"
	provisionDevice = "/dev/sgx_provision"
)

// aesmSockets are where Intel's aesmd listens (/var/run is usually a link
// to /run; a fixture tree may hold either).
var aesmSockets = []string{"/var/run/aesmd/aesm.socket", "/run/aesmd/aesm.socket"}

// Check is one line of the seal-server checklist.
type Check struct {
	ID       string      `json:"id"`
	Title    string      `json:"title"`
	Status   CheckStatus `json:"status"`
	Observed string      `json:"observed"`
	// Fix is the next step; empty when nothing needs doing.
	Fix string `json:"fix,omitempty"`
}

// Detection is the whole checklist.
type Detection struct {
	Checks []Check `json:"checks"`
	// Ready: no check failed.
	Ready bool `json:"ready"`
	// Summary is one sentence for the user.
	Summary string `json:"summary"`
	// Files are the release's seal-server files (empty without a release).
	Files Files `json:"files,omitzero"`
}

// Check returns the check with the given ID.
func (d Detection) Check(id string) (Check, bool) {
	for _, c := range d.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// DetectInput is what Detect looks at.
type DetectInput struct {
	// Root holds dev/, etc/ and run/ ("/" on a real host).
	Root string
	// ReleaseDir is the release root; "" skips the release's files.
	ReleaseDir string
	// User is the name of the user that will run seal-server; "" means
	// the current user.
	User string
}

// Detect checks whether seal-server can run here.
func Detect(in DetectInput) Detection {
	if in.Root == "" {
		in.Root = "/"
	}
	if in.User == "" {
		if u, err := user.Current(); err == nil {
			in.User = u.Username
		}
	}
	h := &sgxHost{root: in.Root, fsys: os.DirFS(in.Root), user: in.User}
	d := Detection{Checks: []Check{
		h.device(CheckEnclaveDevice, enclaveDevice, "SGX enclave device",
			"seal-server loads its enclave through it"),
		h.device(CheckProvisionDevice, provisionDevice, "SGX provisioning device",
			"Intel's quoting enclave, which signs seal-server's answers, needs it"),
		h.aesm(),
	}}
	if in.ReleaseDir != "" {
		files, _ := Locate(in.ReleaseDir)
		d.Files = files
		d.Checks = append(d.Checks, fileCheck(CheckBinary, "seal-server program", binaryProblem(files.Binary), files.Binary),
			fileCheck(CheckEnclaveFile, "seal-server enclave", enclaveProblem(files.Enclave), files.Enclave))
	}
	var failed []string
	for _, c := range d.Checks {
		if c.Status == StatusFail {
			failed = append(failed, c.Title)
		}
	}
	d.Ready = len(failed) == 0
	if d.Ready {
		d.Summary = "seal-server can run here."
	} else {
		d.Summary = "seal-server cannot run here, because of: " + strings.Join(failed, "; ") +
			". Without it production worker VMs get no sealed keys and run with no worker; test mode does not need it."
	}
	return d
}

func fileCheck(id, title, problem, abs string) Check {
	c := Check{ID: id, Title: title}
	if problem == "" {
		c.Status, c.Observed = StatusOK, abs
		return c
	}
	c.Status, c.Observed, c.Fix = StatusFail, problem, missingFilesFix
	return c
}

// sgxHost reads host facts below a root.
type sgxHost struct {
	root string
	fsys fs.FS
	user string
}

func rel(p string) string { return strings.TrimPrefix(path.Clean(p), "/") }

// device checks that an SGX device exists and this user may open it
// read-write; when not, it names the group to join.
func (h *sgxHost) device(id, dev, title, why string) Check {
	c := Check{ID: id, Title: title}
	fi, err := fs.Stat(h.fsys, rel(dev))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.Status = StatusFail
		c.Observed = dev + " is missing (" + why + ")"
		c.Fix = "Enable SGX with flexible launch control and an EPC (PRMRR) size in the BIOS, and boot a Linux kernel 5.11 or newer with the in-tree SGX driver; " + dev + " then appears."
		return c
	case err != nil:
		c.Status, c.Observed = StatusFail, fmt.Sprintf("%s cannot be read: %v", dev, err)
		c.Fix = "Run the check as the user that will run seal-server."
		return c
	}
	aerr := accessRW(filepath.Join(h.root, filepath.FromSlash(rel(dev))))
	if aerr == nil {
		c.Status, c.Observed = StatusOK, dev+" present and usable"
		return c
	}
	c.Status = StatusFail
	who := h.user
	if who == "" {
		who = "this user"
	}
	c.Observed = fmt.Sprintf("%s present, but %s cannot open it read-write", dev, who)
	group := h.groupOf(fi)
	switch {
	case group == "" || group == "root":
		c.Fix = fmt.Sprintf("Give the group sgx (for /dev/sgx_provision: sgx_prv) read-write access to %s with a udev rule (the SGX packages of most distributions install one), then add %s to that group and log in again.", dev, who)
	case slices.Contains(h.members(group), h.user):
		c.Fix = fmt.Sprintf("%s is in group %s but this session predates it: log out and in again (or restart the app's service) so the membership applies.", who, group)
	default:
		c.Fix = fmt.Sprintf("Add %s to group %s (sudo usermod -aG %s %s), then log in again.", who, group, group, orDollarUser(h.user))
	}
	return c
}

func orDollarUser(u string) string {
	if u == "" {
		return "$USER"
	}
	return u
}

// groupOf names the group owning a file, from etc/group below the root.
func (h *sgxHost) groupOf(fi fs.FileInfo) string {
	gid, ok := fileGID(fi)
	if !ok {
		return ""
	}
	for _, g := range h.groups() {
		if g.gid == strconv.FormatUint(uint64(gid), 10) {
			return g.name
		}
	}
	return ""
}

// members lists the named group's supplementary members.
func (h *sgxHost) members(name string) []string {
	for _, g := range h.groups() {
		if g.name == name {
			return g.members
		}
	}
	return nil
}

type groupEntry struct {
	name, gid string
	members   []string
}

// groups parses etc/group below the root.
func (h *sgxHost) groups() []groupEntry {
	b, err := fs.ReadFile(h.fsys, "etc/group")
	if err != nil {
		return nil
	}
	var out []groupEntry
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(strings.TrimSpace(line), ":")
		if len(f) != 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		g := groupEntry{name: f[0], gid: f[2]}
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				g.members = append(g.members, m)
			}
		}
		out = append(out, g)
	}
	return out
}

// aesm reports Intel's AESM socket. Upstream does not say whether
// seal-server needs aesmd (worker interface §9 item 6): with DCAP's
// in-process quoting it does not, so the check only warns.
func (h *sgxHost) aesm() Check {
	c := Check{ID: CheckAESM, Title: "Intel AESM service (aesmd)"}
	for _, s := range aesmSockets {
		if fi, err := fs.Stat(h.fsys, rel(s)); err == nil && fi.Mode().Type() == fs.ModeSocket {
			c.Status, c.Observed = StatusOK, s+" is listening"
			return c
		}
	}
	c.Status = StatusWarn
	c.Observed = "no aesmd socket; whether seal-server needs it is not documented"
	c.Fix = "If seal-server fails with a quoting or enclave error, install and start Intel's aesmd (package sgx-aesm-service with libsgx-dcap-ql from Intel's SGX repository) and retry."
	return c
}
