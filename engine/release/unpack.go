package release

import (
	"github.com/ulikunitz/xz"

	"github.com/cocoon-provider/cocoon-provider/internal/bytesize"

	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// launcherPath is the file every worker release has (worker interface
// §1.1); an archive without it is not one.
const launcherPath = "scripts/cocoon-launch"

// Archive magic numbers.
var (
	magicGzip = []byte{0x1f, 0x8b}
	magicXZ   = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicBz2  = []byte("BZh")
)

// install unpacks the verified archive f into a staging folder, checks
// it is a worker release, records what can be measured, and moves it to
// <dir>/<version> with one rename, then writes its record.
func (m *Manager) install(f *os.File, size int64, src Source, digestHex string, signed bool) (Release, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Release{}, newError(ErrStore, err, fmt.Sprintf("cannot read the download: %v", err))
	}
	// An archive unpacks to at least its own size.
	if err := m.checkFree(m.dir, size, "unpack the release"); err != nil {
		return Release{}, err
	}
	budget, budgetIsDisk := m.opts.MaxUnpackedSize, false
	if free, err := m.opts.FreeSpace(m.dir); err == nil && free >= 0 && free-m.opts.FreeSpaceMargin < budget {
		budget, budgetIsDisk = free-m.opts.FreeSpaceMargin, true
	}
	staging, err := os.MkdirTemp(m.dir, stagingPrefix)
	if err != nil {
		return Release{}, newError(ErrStore, err, fmt.Sprintf("cannot create a folder in %s: %v; check its permissions and free space", m.dir, err))
	}
	defer func() {
		if err := os.RemoveAll(staging); err != nil {
			m.opts.Logger.Warn("staging folder not removed", "path", staging, "error", err)
		}
	}()
	tree := filepath.Join(staging, "t")
	if err := os.Mkdir(tree, 0o755); err != nil {
		return Release{}, newError(ErrStore, err, fmt.Sprintf("cannot create a folder in %s: %v", staging, err))
	}
	u := unpacker{dest: tree, maxTotal: budget, maxFiles: m.opts.MaxFiles, totalIsDisk: budgetIsDisk, margin: m.opts.FreeSpaceMargin}
	if err := u.unpack(f); err != nil {
		return Release{}, err
	}
	root, top := tree, ""
	if ents, err := os.ReadDir(tree); err == nil && len(ents) == 1 && ents[0].Type().IsDir() {
		top = ents[0].Name()
		root = filepath.Join(tree, top)
	}
	if err := u.checkLinks(root); err != nil {
		return Release{}, err
	}
	version := src.Version
	if version == "" {
		version = deriveVersion(top, digestHex)
	}
	if r, err := m.read(version); err == nil {
		return sameOrExists(r, digestHex)
	}
	if fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(launcherPath))); err != nil || !fi.Mode().IsRegular() {
		return Release{}, newError(ErrLayout, err, fmt.Sprintf("the archive from %s has no %s: it is not a COCOON worker release (or it is laid out differently); check the address", src.URL, launcherPath))
	}
	r := Release{
		Version:           version,
		SHA256:            digestHex,
		Size:              size,
		SourceURL:         src.URL,
		FetchedAt:         m.opts.Now().UTC(),
		SignatureVerified: signed,
		Measured:          measure(root, src.Base),
	}
	final := filepath.Join(m.dir, version)
	if err := os.Rename(root, final); err != nil {
		if _, serr := os.Lstat(final); serr == nil {
			return Release{}, newError(ErrExists, err, fmt.Sprintf("%s already exists but is not a recorded release: move it away, or give this release another version", final))
		}
		return Release{}, newError(ErrStore, err, fmt.Sprintf("cannot move the unpacked release to %s: %v", final, err))
	}
	syncDir(m.dir)
	r.Path = final
	if err := m.writeMeta(r); err != nil {
		_ = os.RemoveAll(final) // without its record the release is not usable
		return Release{}, err
	}
	return r, nil
}

// deriveVersion names a release by its top folder (release-<commit>
// gives <commit>) or, failing that, by its SHA-256.
func deriveVersion(top, digestHex string) string {
	v := strings.TrimPrefix(top, "release-")
	if v != "" && ValidVersion(v) {
		return v
	}
	return "sha256-" + digestHex[:12]
}

// unpacker extracts a tar.gz archive into dest, refusing anything that
// would be unsafe.
type unpacker struct {
	dest        string
	maxTotal    int64
	maxFiles    int
	totalIsDisk bool // maxTotal is the free disk space, not the limit
	margin      int64

	total int64
	files int
	links map[string]bool // symlinks made, by archive path
	regs  map[string]bool // regular files made, by archive path
}

func unsafeEntry(name, why string) error {
	return newError(ErrUnsafe, nil, fmt.Sprintf("the release archive holds %q, %s: it was not installed; the archive is damaged or malicious, get the release from its official source", name, why))
}

func (u *unpacker) unpack(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(8) // a short archive fails below
	var zr io.Reader
	switch {
	case bytes.HasPrefix(head, magicGzip):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return newError(ErrFormat, err, fmt.Sprintf("the release archive cannot be decompressed (%v): it is damaged; fetch it again", err))
		}
		defer gz.Close()
		zr = gz
	case bytes.HasPrefix(head, magicXZ):
		xr, err := xz.NewReader(br)
		if err != nil {
			return newError(ErrFormat, err, fmt.Sprintf("the release archive cannot be decompressed (%v): it is damaged; fetch it again", err))
		}
		zr = xr
	case bytes.HasPrefix(head, magicZstd), bytes.HasPrefix(head, magicBz2):
		return newError(ErrFormat, nil, "the release archive is zstd- or bzip2-compressed, which this build cannot unpack: use the .tar.xz or a .tar.gz of the same release")
	default:
		return newError(ErrFormat, nil, "the release archive is neither a .tar.xz nor a .tar.gz: check the address")
	}
	u.links, u.regs = map[string]bool{}, map[string]bool{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return newError(ErrFormat, err, fmt.Sprintf("the release archive cannot be read after %d entries (%v): it is damaged; fetch it again", u.files, err))
		}
		if err := u.entry(tr, h); err != nil {
			return err
		}
	}
	if u.files == 0 {
		return newError(ErrLayout, nil, "the release archive is empty: check the address")
	}
	return nil
}

// cleanName checks an entry's name and returns it cleaned, relative to
// the archive root ("" for the root itself).
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", unsafeEntry(name, "an entry without a name")
	case strings.ContainsAny(name, "\x00\\"):
		return "", unsafeEntry(name, "a name with a NUL or a backslash")
	case strings.HasPrefix(name, "/") || (len(name) >= 2 && name[1] == ':'):
		return "", unsafeEntry(name, "an absolute path")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", unsafeEntry(name, `a path with ".." that could lead out of the release`)
		}
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil
	}
	return c, nil
}

// throughLink reports whether a parent of name is a symlink made earlier.
func (u *unpacker) throughLink(name string) bool {
	for p := path.Dir(name); p != "." && p != "/"; p = path.Dir(p) {
		if u.links[p] {
			return true
		}
	}
	return false
}

func (u *unpacker) entry(tr *tar.Reader, h *tar.Header) error {
	if h.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := cleanName(h.Name)
	if err != nil {
		return err
	}
	if name == "" {
		if h.Typeflag == tar.TypeDir {
			return nil
		}
		return unsafeEntry(h.Name, "a file in place of the release root")
	}
	if u.throughLink(name) {
		return unsafeEntry(h.Name, "a path through a symbolic link")
	}
	u.files++
	if u.files > u.maxFiles {
		return newError(ErrTooLarge, nil, fmt.Sprintf("the release archive holds more than %d entries, more than a worker release has: it was not installed; check the address", u.maxFiles))
	}
	full := filepath.Join(u.dest, filepath.FromSlash(name))
	switch h.Typeflag {
	case tar.TypeDir:
		fi, err := os.Lstat(full)
		if err == nil {
			if !fi.IsDir() {
				return unsafeEntry(h.Name, "a folder with the name of another entry")
			}
			return nil
		}
		return u.mkdir(full, 0o755)
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // TypeRegA is still written by old tools
		return u.file(tr, h, name, full)
	case tar.TypeSymlink:
		return u.symlink(h, name, full)
	case tar.TypeLink:
		return u.hardlink(h, name, full)
	case tar.TypeChar, tar.TypeBlock:
		return unsafeEntry(h.Name, "a device file")
	case tar.TypeFifo:
		return unsafeEntry(h.Name, "a named pipe")
	}
	return unsafeEntry(h.Name, fmt.Sprintf("an entry of a kind a release does not have (tar type %q)", h.Typeflag))
}

func (u *unpacker) mkdir(full string, perm fs.FileMode) error {
	if err := os.MkdirAll(full, perm); err != nil {
		return newError(ErrStore, err, fmt.Sprintf("cannot unpack the release: %v", err))
	}
	return nil
}

func (u *unpacker) file(tr *tar.Reader, h *tar.Header, name, full string) error {
	if h.Size < 0 {
		return unsafeEntry(h.Name, "a file with a negative size")
	}
	if u.total+h.Size > u.maxTotal {
		if u.totalIsDisk {
			return newError(ErrDiskSpace, nil, fmt.Sprintf("the release unpacks to more than the free disk space allows (%s, keeping %s free): free some disk space and fetch again", bytesize.Format(u.maxTotal), bytesize.Format(u.margin)))
		}
		return newError(ErrTooLarge, nil, fmt.Sprintf("the release unpacks to more than %s, more than a worker release is: it was not installed; check the address", bytesize.Format(u.maxTotal)))
	}
	u.total += h.Size
	if err := u.mkdir(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	// Git, and so the spec tree, keeps only the owner's executable bit.
	perm := fs.FileMode(0o644)
	if h.Mode&0o100 != 0 {
		perm = 0o755
	}
	f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return unsafeEntry(h.Name, "an entry that appears twice")
	}
	if err != nil {
		return newError(ErrStore, err, fmt.Sprintf("cannot unpack the release: %v", err))
	}
	n, err := io.CopyN(f, tr, h.Size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if n < h.Size && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			return newError(ErrFormat, err, fmt.Sprintf("the release archive ends inside %q: it is damaged; fetch it again", h.Name))
		}
		return newError(ErrStore, err, fmt.Sprintf("cannot unpack %q: %v; check the free disk space", h.Name, err))
	}
	if err := os.Chmod(full, perm); err != nil { // the umask may have dropped bits
		return newError(ErrStore, err, fmt.Sprintf("cannot unpack %q: %v", h.Name, err))
	}
	u.regs[name] = true
	return nil
}

func (u *unpacker) symlink(h *tar.Header, name, full string) error {
	t := h.Linkname
	switch {
	case t == "" || strings.ContainsAny(t, "\x00\\"):
		return unsafeEntry(h.Name, "a symbolic link without a usable target")
	case strings.HasPrefix(t, "/") || (len(t) >= 2 && t[1] == ':'):
		return unsafeEntry(h.Name, fmt.Sprintf("a symbolic link to the absolute path %q, outside the release", t))
	}
	if r := path.Join(path.Dir(name), t); r == ".." || strings.HasPrefix(r, "../") {
		return unsafeEntry(h.Name, fmt.Sprintf("a symbolic link to %q, outside the release", t))
	}
	if err := u.mkdir(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	if err := os.Symlink(t, full); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return unsafeEntry(h.Name, "an entry that appears twice")
		}
		return newError(ErrStore, err, fmt.Sprintf("cannot unpack the symbolic link %q: %v", h.Name, err))
	}
	u.links[name] = true
	return nil
}

func (u *unpacker) hardlink(h *tar.Header, name, full string) error {
	target, err := cleanName(h.Linkname)
	if err != nil || target == "" {
		return unsafeEntry(h.Name, fmt.Sprintf("a hard link to %q, outside the release", h.Linkname))
	}
	if !u.regs[target] {
		return unsafeEntry(h.Name, fmt.Sprintf("a hard link to %q, which is not a file unpacked before it", h.Linkname))
	}
	if err := u.mkdir(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	if err := os.Link(filepath.Join(u.dest, filepath.FromSlash(target)), full); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return unsafeEntry(h.Name, "an entry that appears twice")
		}
		return newError(ErrStore, err, fmt.Sprintf("cannot unpack the hard link %q: %v", h.Name, err))
	}
	u.regs[name] = true
	return nil
}

// checkLinks resolves every symlink now that all are in place: chains of
// links, each inside the archive on its own, may still lead out of it,
// and a link to the archive's top folder leads out of the release root
// (release) once that folder is the release.
func (u *unpacker) checkLinks(release string) error {
	if len(u.links) == 0 {
		return nil
	}
	root, err := filepath.EvalSymlinks(release)
	if err != nil {
		return newError(ErrStore, err, fmt.Sprintf("cannot check the unpacked release: %v", err))
	}
	for name := range u.links {
		real, err := filepath.EvalSymlinks(filepath.Join(u.dest, filepath.FromSlash(name)))
		if err != nil {
			return unsafeEntry(name, "a symbolic link that leads nowhere or in a loop")
		}
		rel, err := filepath.Rel(root, real)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			return unsafeEntry(name, "a symbolic link that leads outside the release")
		}
	}
	return nil
}
