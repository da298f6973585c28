package release

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cocoon-provider/cocoon-provider/attest"
)

// Paths inside a release root (worker interface §1.1, §2.3).
const (
	prodImagesDir   = "images/prod"
	ovmfFile        = "OVMF.fd"
	kernelFile      = "image.vmlinuz"
	initrdFile      = "image.initrd"
	cmdlineFile     = "image.cmdline"
	specWorkerDir   = "spec/spec-worker"
	tonConfigBase   = "spec/mainnet-base-ton-config.json"
	shareTONConfig  = "global.config.json"
	measurementsDoc = "measurements.json"
	maxCmdline      = 4096
)

// PinnedOVMFSHA256 is the SHA-256 of the TDVF/OVMF firmware the official
// release pins (worker interface §1.1).
const PinnedOVMFSHA256 = "7e2417e61d894e8733250f23ef35fa00197846dad33e33dbbf4698613c107d02"

// Measured is what can be known of a release's measurements from its
// files (worker interface §1.3). Hashes are lowercase hex; a field is
// empty when the file is missing.
type Measured struct {
	// OVMFSHA256 is the firmware's SHA-256 (MRTD measures the firmware);
	// OVMFPinned says it is the one the official release pins.
	OVMFSHA256 string `json:"ovmf_sha256,omitempty"`
	OVMFPinned bool   `json:"ovmf_pinned"`
	// KernelSHA256 and InitrdSHA256 are the sums of what RTMR1 and RTMR2
	// measure; Cmdline is image.cmdline (RTMR2 also measures the command
	// line, with the flags the launcher appends) and RootHash its
	// roothash= value, the root file system's dm-verity hash.
	KernelSHA256 string `json:"kernel_sha256,omitempty"`
	InitrdSHA256 string `json:"initrd_sha256,omitempty"`
	Cmdline      string `json:"cmdline,omitempty"`
	RootHash     string `json:"root_hash,omitempty"`
	// SpecTree is the git tree ID of the worker spec as cocoon-launch
	// shares it (spec/spec-worker plus global.config.json), and RTMR3 the
	// value cocoon-init extends from it (production, no cocoon_debug).
	// SpecTreeError says why they could not be computed.
	SpecTree      string `json:"spec_tree,omitempty"`
	RTMR3         string `json:"rtmr3,omitempty"`
	SpecTreeError string `json:"spec_tree_error,omitempty"`
	// Base holds MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG and RTMR0–2
	// when known; BaseFrom says where they came from ("source" or
	// "measurements.json"), BaseError why measurements.json was not used.
	Base      *Base  `json:"base,omitempty"`
	BaseFrom  string `json:"base_from,omitempty"`
	BaseError string `json:"base_error,omitempty"`
	// ImageHash is the predicted image hash, when Base and SpecTree are
	// known.
	ImageHash string `json:"image_hash,omitempty"`
}

// Base is the part of the measurements that cannot be computed from the
// release files alone, as hex (96 digits each). In measurements.json the
// three config IDs may be left out (zero).
type Base struct {
	MRTD          string `json:"mrtd"`
	MRConfigID    string `json:"mrconfigid,omitempty"`
	MROwner       string `json:"mrowner,omitempty"`
	MROwnerConfig string `json:"mrownerconfig,omitempty"`
	RTMR0         string `json:"rtmr0"`
	RTMR1         string `json:"rtmr1"`
	RTMR2         string `json:"rtmr2"`
}

// NewBase records the base registers of m (its RTMR3 is left out).
func NewBase(m attest.Measurements) *Base {
	return &Base{
		MRTD:          hex.EncodeToString(m.MRTD[:]),
		MRConfigID:    hex.EncodeToString(m.MRConfigID[:]),
		MROwner:       hex.EncodeToString(m.MROwner[:]),
		MROwnerConfig: hex.EncodeToString(m.MROwnerConfig[:]),
		RTMR0:         hex.EncodeToString(m.RTMR[0][:]),
		RTMR1:         hex.EncodeToString(m.RTMR[1][:]),
		RTMR2:         hex.EncodeToString(m.RTMR[2][:]),
	}
}

// Measurements decodes b; RTMR3 is zero.
func (b *Base) Measurements() (attest.Measurements, error) {
	var m attest.Measurements
	for _, f := range []struct {
		name     string
		v        string
		dst      *[48]byte
		optional bool
	}{
		{"mrtd", b.MRTD, &m.MRTD, false},
		{"mrconfigid", b.MRConfigID, &m.MRConfigID, true},
		{"mrowner", b.MROwner, &m.MROwner, true},
		{"mrownerconfig", b.MROwnerConfig, &m.MROwnerConfig, true},
		{"rtmr0", b.RTMR0, &m.RTMR[0], false},
		{"rtmr1", b.RTMR1, &m.RTMR[1], false},
		{"rtmr2", b.RTMR2, &m.RTMR[2], false},
	} {
		if f.v == "" && f.optional {
			continue
		}
		d, err := hex.DecodeString(strings.TrimSpace(f.v))
		if err != nil || len(d) != 48 {
			return attest.Measurements{}, fmt.Errorf("%s: want 96 hex digits (48 bytes)", f.name)
		}
		copy(f.dst[:], d)
	}
	return m, nil
}

// measure records what root's files say of its measurements; base, when
// given, takes precedence over a measurements.json in the release.
func measure(root string, base *attest.Measurements) Measured {
	var ms Measured
	img := filepath.Join(root, filepath.FromSlash(prodImagesDir))
	ms.OVMFSHA256 = fileSHA256(filepath.Join(img, ovmfFile))
	ms.OVMFPinned = ms.OVMFSHA256 == PinnedOVMFSHA256
	ms.KernelSHA256 = fileSHA256(filepath.Join(img, kernelFile))
	ms.InitrdSHA256 = fileSHA256(filepath.Join(img, initrdFile))
	if b, err := readSmall(filepath.Join(img, cmdlineFile), maxCmdline); err == nil {
		ms.Cmdline = strings.TrimSpace(string(b))
		for f := range strings.FieldsSeq(ms.Cmdline) {
			if v, ok := strings.CutPrefix(f, "roothash="); ok {
				ms.RootHash = v
			}
		}
	}
	switch {
	case base != nil:
		ms.Base, ms.BaseFrom = NewBase(*base), "source"
	default:
		b, err := readSmall(filepath.Join(root, measurementsDoc), 64<<10)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			ms.BaseError = err.Error()
		default:
			var doc Base
			if err := json.Unmarshal(b, &doc); err != nil {
				ms.BaseError = fmt.Sprintf("%s: %v", measurementsDoc, err)
			} else if _, err := doc.Measurements(); err != nil {
				ms.BaseError = fmt.Sprintf("%s: %v", measurementsDoc, err)
			} else {
				ms.Base, ms.BaseFrom = &doc, measurementsDoc
			}
		}
	}
	ms.fillSpec(root)
	return ms
}

// fillSpec computes the spec tree, RTMR3 and, with Base, the image hash.
func (ms *Measured) fillSpec(root string) {
	ms.SpecTree, ms.RTMR3, ms.SpecTreeError, ms.ImageHash = "", "", "", ""
	var base attest.Measurements
	if ms.Base != nil {
		b, err := ms.Base.Measurements()
		if err == nil {
			base = b
		}
	}
	e, err := attest.ExpectConfig(workerShare(root), base, false)
	if err != nil {
		ms.SpecTreeError = err.Error()
		return
	}
	ms.SpecTree = hex.EncodeToString(e.Tree[:])
	ms.RTMR3 = hex.EncodeToString(e.RTMR3[:])
	if ms.Base != nil {
		ms.ImageHash = hex.EncodeToString(e.ImageHash[:])
	}
}

func fileSHA256(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func readSmall(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", filepath.Base(p), limit)
	}
	return b, nil
}

// workerShare is the worker spec directory as cocoon-launch shares it
// with the guest (worker interface §2.3): the files of spec/spec-worker,
// with global.config.json a copy of spec/mainnet-base-ton-config.json.
// The copy is assumed to keep the base file's mode, as Python's
// shutil.copy does.
func workerShare(root string) fs.FS {
	return shareFS{
		template: os.DirFS(filepath.Join(root, filepath.FromSlash(specWorkerDir))),
		release:  os.DirFS(root),
	}
}

type shareFS struct{ template, release fs.FS }

var _ fs.ReadDirFS = shareFS{}

func (s shareFS) Open(name string) (fs.File, error) {
	if name == shareTONConfig {
		if f, err := s.release.Open(tonConfigBase); err == nil {
			return f, nil
		}
	}
	return s.template.Open(name)
}

func (s shareFS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := fs.ReadDir(s.template, name)
	if err != nil || name != "." {
		return ents, err
	}
	info, err := fs.Lstat(s.release, tonConfigBase)
	if err != nil {
		return ents, nil // no base config: the template alone
	}
	ents = slices.DeleteFunc(ents, func(d fs.DirEntry) bool { return d.Name() == shareTONConfig })
	ents = append(ents, fs.FileInfoToDirEntry(renamedInfo{info, shareTONConfig}))
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, nil
}

type renamedInfo struct {
	fs.FileInfo
	name string
}

func (r renamedInfo) Name() string { return r.name }

// SetBase records the base measurements of a release (for example from a
// quote of a worker running it), recomputes its image hash and clears an
// earlier allow-list verdict, which CheckAllowed must then give again.
func (m *Manager) SetBase(version string, base attest.Measurements) (Release, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.read(version)
	if err != nil {
		return Release{}, err
	}
	r.Measured.Base, r.Measured.BaseFrom, r.Measured.BaseError = NewBase(base), "source", ""
	r.Measured.fillSpec(r.Path)
	r.Allowed = nil
	if err := m.writeMeta(r); err != nil {
		return Release{}, err
	}
	return r, nil
}

// CheckAllowed computes rel's image hash from its files and base
// measurements and checks it against allowed, the image hashes the
// network's root contract allows. It records the verdict, which Activate
// requires, and returns the updated record. A hash not on the list, or
// one that cannot be computed, is an error that names it and says what to
// do; an empty list allows nothing.
func (m *Manager) CheckAllowed(rel Release, allowed [][32]byte) (Release, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.read(rel.Version)
	if err != nil {
		return Release{}, err
	}
	wasAllowed := r.Allowed != nil
	r.Measured.fillSpec(r.Path) // from the files as they are now
	h, err := imageHash(r)
	if err == nil && len(allowed) == 0 {
		err = newError(ErrNotAllowed, nil, fmt.Sprintf("release %s has image hash %x, and the allow-list given is empty: "+
			"read the allowed image hashes from the network's root contract (or a running worker's /jsonstats) and check again", r.Version, h))
	}
	if err == nil && !slices.Contains(allowed, h) {
		err = newError(ErrNotAllowed, nil, fmt.Sprintf("release %s has image hash %x, which is not among the %d the network allows: "+
			"a worker running it would be refused; use a release the network allows, or check that its base measurements (MRTD, RTMR0–2) are those of this release",
			r.Version, h, len(allowed)))
	}
	if err != nil {
		if wasAllowed {
			r.Allowed = nil
			if werr := m.writeMeta(r); werr != nil {
				return Release{}, errors.Join(err, werr)
			}
		}
		return Release{}, err
	}
	r.Allowed = &Allowance{ImageHash: hex.EncodeToString(h[:]), CheckedAt: m.opts.Now().UTC(), ListSize: len(allowed)}
	if err := m.writeMeta(r); err != nil {
		return Release{}, err
	}
	return r, nil
}

// imageHash returns r's predicted image hash, or why it is not known.
func imageHash(r Release) ([32]byte, error) {
	var h [32]byte
	ms := r.Measured
	if ms.SpecTreeError != "" {
		return h, newError(ErrImageHashUnknown, nil, fmt.Sprintf("the image hash of release %s cannot be computed: its worker spec (%s) cannot be hashed as the guest does (%s); "+
			"the release is damaged or laid out differently: fetch it again from its official source", r.Version, specWorkerDir, ms.SpecTreeError))
	}
	if ms.Base == nil || ms.ImageHash == "" {
		why := ""
		if ms.BaseError != "" {
			why = " (" + ms.BaseError + ")"
		}
		return h, newError(ErrImageHashUnknown, nil, fmt.Sprintf("the image hash of release %s cannot be computed: its MRTD and RTMR0–2 are not known%s. "+
			"They depend on the firmware, kernel, initrd, command line and the virtual hardware QEMU presents, so they cannot be derived from the files; "+
			"give them from a quote of a worker running this release (SetBase, or release fetch --mrtd/--rtmr0/--rtmr1/--rtmr2), then check again. "+
			"Its spec tree is %s", r.Version, why, ms.SpecTree))
	}
	b, err := hex.DecodeString(ms.ImageHash)
	if err != nil || len(b) != len(h) {
		return h, newError(ErrStore, err, fmt.Sprintf("the record of release %s holds a damaged image hash: fetch it again", r.Version))
	}
	copy(h[:], b)
	return h, nil
}

// ImageHash returns r's predicted image hash, or an error matching
// ErrImageHashUnknown that says what is missing.
func (r Release) ImageHash() ([32]byte, error) { return imageHash(r) }
