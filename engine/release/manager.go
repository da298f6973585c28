package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/internal/download"
)

// Defaults of Options.
const (
	// DefaultMaxArchiveSize caps a downloaded archive: 16 GiB.
	DefaultMaxArchiveSize = 16 << 30
	// DefaultMaxUnpackedSize caps the bytes an archive unpacks to: 64 GiB.
	DefaultMaxUnpackedSize = 64 << 30
	// DefaultMaxFiles caps the entries of an archive.
	DefaultMaxFiles = 100_000
	// MaxSignatureSize caps a detached signature.
	MaxSignatureSize = 64 << 10
)

// On-disk names inside the Manager's directory.
const (
	stateFile     = ".state.json"
	downloadsDir  = ".downloads"
	stagingPrefix = ".staging-"
	metaSuffix    = ".json"
	partSuffix    = ".part"
)

// SignatureVerifier checks a detached signature over a release archive.
// The official COCOON project defines no signature for its release
// archives (worker interface §9 item 1), so the scheme is the caller's:
// archive reads the archive's bytes from the start, digest is their
// SHA-256 (already checked against the Source), sig is the signature as
// fetched. A nil error accepts the archive.
type SignatureVerifier interface {
	VerifyRelease(archive *os.File, digest [32]byte, sig []byte) error
}

// VerifierFunc adapts a function to SignatureVerifier.
type VerifierFunc func(archive *os.File, digest [32]byte, sig []byte) error

// VerifyRelease calls f.
func (f VerifierFunc) VerifyRelease(archive *os.File, digest [32]byte, sig []byte) error {
	return f(archive, digest, sig)
}

// Options configure a Manager. Zero values take the defaults above.
type Options struct {
	// Dir holds the releases (normally <data dir>/releases); required.
	Dir string
	// Policy is the download client, retries and the free space kept;
	// zero fields take download.Policy's defaults.
	download.Policy
	// Verifier checks detached signatures; nil refuses signed Sources.
	Verifier SignatureVerifier
	// RequireSignature refuses a Source without a signature.
	RequireSignature bool
	// MaxArchiveSize, MaxUnpackedSize and MaxFiles are the size limits.
	MaxArchiveSize  int64
	MaxUnpackedSize int64
	MaxFiles        int
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Logger receives progress notes; nil discards them.
	Logger *slog.Logger
}

// Manager keeps the worker releases of one directory.
type Manager struct {
	opts Options
	dir  string
	mu   sync.Mutex
}

// New returns a Manager over opts.Dir, creating the directory.
func New(opts Options) (*Manager, error) {
	if opts.Dir == "" {
		return nil, newError(ErrStore, nil, "no release directory was given")
	}
	opts.Policy = opts.Policy.WithDefaults()
	if opts.MaxArchiveSize <= 0 {
		opts.MaxArchiveSize = DefaultMaxArchiveSize
	}
	if opts.MaxUnpackedSize <= 0 {
		opts.MaxUnpackedSize = DefaultMaxUnpackedSize
	}
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, newError(ErrStore, err, fmt.Sprintf("the release directory %s is not usable: %v", opts.Dir, err))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, newError(ErrStore, err, fmt.Sprintf("cannot create the release directory %s: %v; check its permissions", dir, err))
	}
	m := &Manager{opts: opts, dir: dir}
	m.removeStaging()
	return m, nil
}

// Dir is the Manager's directory.
func (m *Manager) Dir() string { return m.dir }

// Release is what is known of one unpacked release; it is stored as
// <dir>/<version>.json.
type Release struct {
	Version string `json:"version"`
	// SHA256 is the archive's SHA-256, lowercase hex.
	SHA256 string `json:"sha256"`
	// Size is the archive's length in bytes.
	Size      int64     `json:"size"`
	SourceURL string    `json:"source_url"`
	FetchedAt time.Time `json:"fetched_at"`
	// SignatureVerified: a detached signature was checked and accepted.
	SignatureVerified bool `json:"signature_verified"`
	// Measured is what could be known of the measurements (spec §1.3).
	Measured Measured `json:"measured"`
	// Allowed is set when CheckAllowed accepted the release.
	Allowed *Allowance `json:"allowed,omitempty"`
	// Path is the release root, <dir>/<version> (not stored).
	Path string `json:"-"`
}

// Allowance records an accepted allow-list check.
type Allowance struct {
	ImageHash string    `json:"image_hash"`
	CheckedAt time.Time `json:"checked_at"`
	// ListSize is how many hashes the allow-list held.
	ListSize int `json:"allow_list_size"`
}

// state is .state.json.
type state struct {
	Current   string    `json:"current,omitempty"`
	Previous  string    `json:"previous,omitempty"`
	Unchecked bool      `json:"current_unchecked,omitempty"` // activated with ActivateUnchecked
	Changed   time.Time `json:"changed,omitzero"`
}

// versionRE is what a version may look like: it names a directory.
var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)

// ValidVersion reports whether v can name a release: 1–128 letters,
// digits, '.', '_', '+' or '-', starting with a letter or digit, without
// "..", and not ending in ".json" or ".part".
func ValidVersion(v string) bool {
	return versionRE.MatchString(v) && !strings.Contains(v, "..") &&
		!strings.HasSuffix(v, metaSuffix) && !strings.HasSuffix(v, partSuffix)
}

func versionError(v string) error {
	return newError(ErrSource, nil, fmt.Sprintf("%q cannot be a release version: use 1–128 letters, digits, '.', '_', '+' or '-', starting with a letter or digit", v))
}

// List returns the unpacked releases, newest fetch first. A directory
// without its metadata (an interrupted fetch) is not listed.
func (m *Manager) List() ([]Release, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.list()
}

func (m *Manager) list() ([]Release, error) {
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		return nil, newError(ErrStore, err, fmt.Sprintf("cannot read the release directory %s: %v", m.dir, err))
	}
	var out []Release
	for _, e := range ents {
		if !e.IsDir() || !ValidVersion(e.Name()) {
			continue
		}
		r, err := m.read(e.Name())
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue
			}
			return nil, err
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Release) int {
		if c := b.FetchedAt.Compare(a.FetchedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return out, nil
}

// Get returns the release with this version.
func (m *Manager) Get(version string) (Release, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.read(version)
}

func (m *Manager) read(version string) (Release, error) {
	if !ValidVersion(version) {
		return Release{}, versionError(version)
	}
	notFound := newError(ErrNotFound, nil, fmt.Sprintf("there is no release %s in %s: see the list of releases, or fetch it first", version, m.dir))
	fi, err := os.Lstat(filepath.Join(m.dir, version))
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.IsDir()) {
		return Release{}, notFound
	}
	b, err := os.ReadFile(filepath.Join(m.dir, version+metaSuffix))
	if errors.Is(err, fs.ErrNotExist) {
		return Release{}, notFound
	}
	if err != nil {
		return Release{}, newError(ErrStore, err, fmt.Sprintf("cannot read the record of release %s: %v", version, err))
	}
	var r Release
	if err := json.Unmarshal(b, &r); err != nil || r.Version != version {
		return Release{}, newError(ErrStore, err, fmt.Sprintf("the record %s is damaged: fetch release %s again", filepath.Join(m.dir, version+metaSuffix), version))
	}
	r.Path = filepath.Join(m.dir, version)
	return r, nil
}

// writeMeta stores r's record, replacing any earlier one in one rename.
func (m *Manager) writeMeta(r Release) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return m.writeFile(r.Version+metaSuffix, append(b, '\n'))
}

// writeFile replaces <dir>/name atomically: a temporary file, fsync,
// rename, fsync of the directory.
func (m *Manager) writeFile(name string, data []byte) error {
	f, err := os.CreateTemp(m.dir, "."+name+".tmp-*")
	if err != nil {
		return newError(ErrStore, err, fmt.Sprintf("cannot write in the release directory %s: %v; check its permissions and free space", m.dir, err))
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(m.dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp) // best effort; the error below matters
		return newError(ErrStore, err, fmt.Sprintf("cannot write %s in %s: %v; check its permissions and free space", name, m.dir, err))
	}
	syncDir(m.dir)
	return nil
}

// syncDir flushes a directory's entries where the system allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // not supported everywhere; the rename itself is atomic
		_ = d.Close()
	}
}

func (m *Manager) readState() (state, error) {
	b, err := os.ReadFile(filepath.Join(m.dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, nil
	}
	if err != nil {
		return state{}, newError(ErrStore, err, fmt.Sprintf("cannot read which release is active (%v); check the permissions of %s", err, m.dir))
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return state{}, newError(ErrStore, err, fmt.Sprintf("%s is damaged (%v): activate a release again to rewrite it", filepath.Join(m.dir, stateFile), err))
	}
	return s, nil
}

func (m *Manager) writeState(s state) error {
	s.Changed = m.opts.Now().UTC()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return m.writeFile(stateFile, append(b, '\n'))
}

// Current returns the active release; ErrNoCurrent when none is.
func (m *Manager) Current() (Release, error) {
	return m.stateRelease(func(s state) string { return s.Current },
		newError(ErrNoCurrent, nil, "no worker release is active yet: fetch one, check it against the allow-list and activate it"))
}

// Previous returns the release Rollback would go back to.
func (m *Manager) Previous() (Release, error) {
	return m.stateRelease(func(s state) string { return s.Previous },
		newError(ErrNoPrevious, nil, "there is no previous worker release to go back to"))
}

// stateRelease reads the release the state names through pick, or
// returns none when it names none.
func (m *Manager) stateRelease(pick func(state) string, none error) (Release, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.readState()
	if err != nil {
		return Release{}, err
	}
	if pick(s) == "" {
		return Release{}, none
	}
	return m.read(pick(s))
}

// Activate makes version the current release; the one current before
// becomes the previous one, and older releases are pruned. It refuses a
// release whose image hash CheckAllowed has not accepted.
func (m *Manager) Activate(version string) error { return m.activate(version, false) }

// ActivateUnchecked is Activate without the allow-list check: for
// development and tests only, since the network refuses a worker whose
// image hash it does not allow.
func (m *Manager) ActivateUnchecked(version string) error { return m.activate(version, true) }

func (m *Manager) activate(version string, unchecked bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.read(version)
	if err != nil {
		return err
	}
	if r.Allowed == nil && !unchecked {
		return newError(ErrUnchecked, nil, fmt.Sprintf("release %s has not been checked against the network's allow-list, so it is not activated: "+
			"check its image hash first (a worker running an image the network does not allow earns nothing)", version))
	}
	s, err := m.readState()
	if err != nil {
		return err
	}
	if s.Current == version {
		if s.Unchecked != unchecked && !unchecked {
			s.Unchecked = false
			return m.writeState(s)
		}
		return nil
	}
	s.Previous, s.Current, s.Unchecked = s.Current, version, unchecked
	if s.Previous == "" || !m.exists(s.Previous) {
		s.Previous = ""
	}
	if err := m.writeState(s); err != nil {
		return err
	}
	m.opts.Logger.Info("worker release activated", "version", version, "previous", s.Previous, "unchecked", unchecked)
	_, err = m.prune(s)
	return err
}

// Rollback makes the previous release current again; the current one
// becomes the previous one, so a second Rollback undoes the first.
func (m *Manager) Rollback() (Release, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.readState()
	if err != nil {
		return Release{}, err
	}
	if s.Previous == "" {
		return Release{}, newError(ErrNoPrevious, nil, "there is no previous worker release to go back to: only one release has been activated here")
	}
	prev, err := m.read(s.Previous)
	if err != nil {
		return Release{}, err
	}
	s.Current, s.Previous = s.Previous, s.Current
	s.Unchecked = prev.Allowed == nil
	if err := m.writeState(s); err != nil {
		return Release{}, err
	}
	m.opts.Logger.Info("worker release rolled back", "version", s.Current, "from", s.Previous)
	return prev, nil
}

func (m *Manager) exists(version string) bool {
	fi, err := os.Lstat(filepath.Join(m.dir, version))
	return err == nil && fi.IsDir()
}

// Prune removes the releases older than the current one (fetched
// before it) other than the previous one, and any leftover of an
// interrupted fetch. Releases fetched after the current one are
// candidates for the next activation and are kept. It returns the
// versions removed.
func (m *Manager) Prune() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.readState()
	if err != nil {
		return nil, err
	}
	return m.prune(s)
}

func (m *Manager) prune(s state) ([]string, error) {
	all, err := m.list()
	if err != nil {
		return nil, err
	}
	var cur *Release
	for i := range all {
		if all[i].Version == s.Current {
			cur = &all[i]
		}
	}
	if cur == nil {
		return nil, nil // nothing is current: every release is a candidate
	}
	keepSet := map[string]bool{s.Current: true, s.Previous: true}
	for _, r := range all {
		if r.FetchedAt.After(cur.FetchedAt) {
			keepSet[r.Version] = true
		}
	}
	var removed []string
	var errs []error
	listed := map[string]bool{}
	for _, r := range all {
		listed[r.Version] = true
		if keepSet[r.Version] {
			continue
		}
		if err := m.remove(r.Version); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, r.Version)
	}
	// Directories without a record are left by an interrupted fetch.
	ents, _ := os.ReadDir(m.dir) // listed above; a failure here only skips the sweep
	for _, e := range ents {
		if e.IsDir() && ValidVersion(e.Name()) && !listed[e.Name()] && !keepSet[e.Name()] {
			if err := os.RemoveAll(filepath.Join(m.dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(removed) > 0 {
		m.opts.Logger.Info("old worker releases removed", "versions", removed)
	}
	if len(errs) > 0 {
		return removed, newError(ErrStore, errors.Join(errs...), fmt.Sprintf("some old releases could not be removed from %s (%v); remove them by hand if disk space is short", m.dir, errors.Join(errs...)))
	}
	return removed, nil
}

// remove deletes a release: its record first, so that a crash half-way
// leaves a directory without a record, which List ignores and Prune
// sweeps.
func (m *Manager) remove(version string) error {
	if err := os.Remove(filepath.Join(m.dir, version+metaSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.RemoveAll(filepath.Join(m.dir, version))
}

// removeStaging deletes unpack folders left by an interrupted Fetch.
func (m *Manager) removeStaging() {
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), stagingPrefix) {
			_ = os.RemoveAll(filepath.Join(m.dir, e.Name())) // leftovers; a failure is retried next time
		}
	}
}
