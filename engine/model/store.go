package model

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/internal/download"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// Defaults of Options.
const (
	// DefaultMaxSize caps a model archive: 2 TiB.
	DefaultMaxSize = 2 << 40
)

// On-disk names.
const (
	downloadsDir = ".downloads"
	recordFile   = "model.json"
	builtSuffix  = ".built"
)

// Options configure a Store. Zero values take the defaults above.
type Options struct {
	// Dir holds the models (normally <data dir>/models); required.
	Dir string
	// Policy is the download client, retries and the free space kept;
	// zero fields take download.Policy's defaults.
	download.Policy
	// MaxSize caps an archive.
	MaxSize int64
	// Mirrors are address templates tried in order when a Source has no
	// URL: {name} (the repository id), {path} (MODEL_PATH), {commit} and
	// {verity} are replaced, e.g.
	// https://mirror.example/models/{path}@{commit}.tar.
	Mirrors []string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Logger receives notes; nil discards them.
	Logger *slog.Logger
}

// Source says where a model's files are. Everything but the archive
// address is optional.
type Source struct {
	// URL is the model tar (build-model's <MODEL_PATH>.tar); empty tries
	// Options.Mirrors.
	URL string
	// VerityURL is its .tar.verity; empty builds the verity file here
	// from the tar (the same bytes build-model's veritysetup writes).
	VerityURL string
	// SHA256 and Size of the tar, and VeritySHA256 of the verity file,
	// when a manifest gives them; a missing size is asked of the server.
	SHA256       string
	Size         int64
	VeritySHA256 string
}

// Allow is the allow-list a model is checked against before anything is
// downloaded.
type Allow struct {
	// Hashes are the root contract's model hashes
	// (wallet.RootConfig.ModelHashes).
	Hashes []wallet.Hash
	// Unchecked skips the check: development and test roots only (a
	// production worker with an unlisted model is refused, §6.3).
	Unchecked bool
}

// Progress is told the stage ("download", "verity download", "verify"),
// the bytes done and the total (-1 when not known).
type Progress func(stage string, done, total int64)

// Model is the record of a stored model (model.json).
type Model struct {
	Spec         string    `json:"spec"`
	Name         string    `json:"name"`
	Commit       string    `json:"commit"`
	VerityHash   string    `json:"verity_hash"`
	ModelHash    string    `json:"model_hash"` // upper-case hex, as /jsonstats shows it
	Tar          string    `json:"tar"`        // file names inside Dir
	Verity       string    `json:"verity"`
	TarSize      int64     `json:"tar_size"`
	TarSHA256    string    `json:"tar_sha256"`
	VeritySize   int64     `json:"verity_size"`
	VerityBuilt  bool      `json:"verity_built"` // built here rather than fetched
	SourceURL    string    `json:"source_url"`
	VerityURL    string    `json:"verity_url,omitempty"`
	FetchedAt    time.Time `json:"fetched_at"`
	AllowChecked bool      `json:"allow_checked"` // the model hash was on the allow-list given at fetch
	// Dir is the model's folder (not stored).
	Dir string `json:"-"`
}

// TarPath and VerityPath are the files to attach to the VM (§3.1 items
// 13–14).
func (m Model) TarPath() string    { return filepath.Join(m.Dir, m.Tar) }
func (m Model) VerityPath() string { return filepath.Join(m.Dir, m.Verity) }

// Store keeps the models of one directory.
type Store struct {
	opts Options
	dir  string
	mu   sync.Mutex
}

// New returns a Store over opts.Dir, creating the directory.
func New(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, newError(ErrStore, nil, "no model directory was given")
	}
	opts.Policy = opts.Policy.WithDefaults()
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, newError(ErrStore, err, fmt.Sprintf("cannot create the model directory %s: %v; check its permissions", opts.Dir, err))
	}
	return &Store{opts: opts, dir: opts.Dir}, nil
}

// Dir returns the Store's directory.
func (s *Store) Dir() string { return s.dir }

// Fetch checks spec against allow, then downloads its tar (from
// src.URL or the mirrors), checks the tar's dm-verity root hash is the
// one spec names, builds or fetches and checks the verity file, and
// stores both. Free disk space for both files is checked before the
// download starts. A model already here is returned as it is. A refused
// download is deleted; an interrupted one is kept, and the next Fetch
// resumes it. Models already here are never touched.
func (s *Store) Fetch(ctx context.Context, spec Spec, src Source, allow Allow, progress Progress) (Model, error) {
	if _, err := Parse(spec.String()); err != nil {
		return Model{}, err
	}
	if !allow.Unchecked {
		if err := CheckAllowed(spec, allow.Hashes); err != nil {
			return Model{}, err
		}
	}
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, err := s.read(spec.DirName()); err == nil {
		if m.Spec != spec.String() {
			return Model{}, newError(ErrExists, nil, fmt.Sprintf("%s@%s is already here with verity hash %s, not %s: remove it first (model remove %s@%s)",
				spec.Name, spec.Commit, m.VerityHash, spec.VerityHash, spec.Name, spec.Commit))
		}
		return m, nil
	}
	urls, err := s.tarURLs(spec, src)
	if err != nil {
		return Model{}, err
	}
	var errs []error
	for _, u := range urls {
		m, err := s.fetchFrom(ctx, spec, src, u, !allow.Unchecked, progress)
		if err == nil {
			return m, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || errors.Is(err, ErrDiskSpace) || errors.Is(err, ErrStore) {
			break
		}
		if len(urls) > 1 {
			s.opts.Logger.Warn("model fetch failed; trying the next mirror", "url", u, "error", err)
		}
	}
	if len(errs) == 1 {
		return Model{}, errs[0]
	}
	return Model{}, newError(kindOf(errs[len(errs)-1]), errors.Join(errs...), fmt.Sprintf("no mirror had a good copy of model %s: %s", spec, joinMsgs(errs)))
}

func joinMsgs(errs []error) string {
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func kindOf(err error) error {
	var ke *Error
	if errors.As(err, &ke) {
		return ke.Kind
	}
	return ErrDownload
}

// tarURLs returns the addresses to try for the tar.
func (s *Store) tarURLs(spec Spec, src Source) ([]string, error) {
	if src.URL != "" {
		return []string{src.URL}, nil
	}
	if len(s.opts.Mirrors) == 0 {
		return nil, newError(ErrSource, nil, fmt.Sprintf("no address for model %s was given and no mirror is configured: give the address of its tar "+
			"(build-model's %s.tar), or build it with the release's scripts/build-model", spec, spec.PathName()))
	}
	r := strings.NewReplacer("{name}", spec.Name, "{path}", spec.PathName(), "{commit}", spec.Commit, "{verity}", spec.VerityHash)
	out := make([]string, 0, len(s.opts.Mirrors))
	for _, m := range s.opts.Mirrors {
		out = append(out, r.Replace(m))
	}
	return out, nil
}

// fetchFrom is one Fetch from one address, in the staging folder.
func (s *Store) fetchFrom(ctx context.Context, spec Spec, src Source, tarURL string, checked bool, progress Progress) (Model, error) {
	staging := filepath.Join(s.dir, downloadsDir, spec.DirName())
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return Model{}, newError(ErrStore, err, fmt.Sprintf("cannot create %s: %v; check the permissions of %s", staging, err, s.dir))
	}
	defer os.Remove(staging) // only when empty: nothing to resume
	tarName := spec.PathName() + ".tar"
	verityName := tarName + ".verity"
	tarPath := filepath.Join(staging, tarName)
	size := src.Size
	if size == 0 {
		n, err := download.Head(ctx, s.opts.Client, tarURL)
		if err != nil {
			return Model{}, fromDownload(err, spec)
		}
		if n > 0 {
			size = n
		}
	}
	// Disk space for everything before anything is downloaded.
	if size > 0 {
		need := size + VeritySize((size+VerityBlockSize-1)/VerityBlockSize*VerityBlockSize)
		if fi, err := os.Stat(tarPath + download.PartSuffix); err == nil && fi.Size() <= size {
			need -= fi.Size()
		} else if fi, err := os.Stat(tarPath); err == nil && fi.Size() == size {
			need -= size
		}
		if err := download.CheckFree(s.opts.FreeSpace, staging, need, s.opts.FreeSpaceMargin, "store model "+spec.String()+" and its verity file"); err != nil {
			return Model{}, fromDownload(err, spec)
		}
	}
	dopts := download.Options{
		SHA256: src.SHA256, Size: src.Size, MaxSize: s.opts.MaxSize,
		Progress: func(d, t int64) { progress("download", d, t) },
		Policy:   s.opts.Policy, What: "the model archive", UserAgent: "cocoon-provider-model/1", Logger: s.opts.Logger,
	}
	res, err := download.Get(ctx, tarURL, tarPath, dopts)
	if err != nil {
		return Model{}, fromDownload(err, spec)
	}
	refuse := func(err error) (Model, error) {
		if rerr := os.RemoveAll(staging); rerr != nil {
			s.opts.Logger.Warn("refused model download not removed", "path", staging, "error", rerr)
		}
		return Model{}, err
	}
	if err := download.CheckFree(s.opts.FreeSpace, staging, VeritySize(res.Size), s.opts.FreeSpaceMargin, "build the verity file of model "+spec.String()); err != nil {
		return Model{}, fromDownload(err, spec)
	}
	builtPath := filepath.Join(staging, verityName+builtSuffix)
	root, tarSum, err := buildVerityFile(tarPath, res.Size, builtPath, func(d, t int64) { progress("verify", d, t) })
	if err != nil {
		if errors.Is(err, ErrFormat) {
			return refuse(err)
		}
		return Model{}, err
	}
	if got := hex.EncodeToString(root[:]); got != spec.VerityHash {
		return refuse(newError(ErrVerity, nil, fmt.Sprintf("the archive from %s has dm-verity root hash %s, not the %s model %s names: "+
			"it is damaged or another build, and was deleted; check the address and the model string", tarURL, got, spec.VerityHash, spec.Name)))
	}
	m := Model{
		Spec: spec.String(), Name: spec.Name, Commit: spec.Commit, VerityHash: spec.VerityHash,
		ModelHash: spec.Hash().String(), Tar: tarName, Verity: verityName,
		TarSize: res.Size, TarSHA256: hex.EncodeToString(tarSum[:]), VeritySize: VeritySize(res.Size),
		SourceURL: tarURL, FetchedAt: s.opts.Now().UTC(), AllowChecked: checked,
	}
	verityPath := filepath.Join(staging, verityName)
	if src.VerityURL == "" {
		if err := os.Rename(builtPath, verityPath); err != nil {
			return Model{}, newError(ErrStore, err, fmt.Sprintf("cannot write %s: %v", verityPath, err))
		}
		m.VerityBuilt = true
	} else {
		vo := dopts
		vo.SHA256, vo.Size, vo.What = src.VeritySHA256, 0, "the model's verity file"
		vo.MaxSize = VeritySize(res.Size)
		vo.Progress = func(d, t int64) { progress("verity download", d, t) }
		if _, err := download.Get(ctx, src.VerityURL, verityPath, vo); err != nil {
			if errors.Is(err, download.ErrTooLarge) || errors.Is(err, download.ErrChecksum) {
				return refuse(fromDownload(err, spec))
			}
			return Model{}, fromDownload(err, spec)
		}
		if err := sameVerity(verityPath, builtPath); err != nil {
			return refuse(err)
		}
		_ = os.Remove(builtPath) // the fetched file is the same
		m.VerityURL = src.VerityURL
	}
	if err := os.WriteFile(filepath.Join(staging, tarName+".hash"), []byte(spec.VerityHash+"\n"), 0o644); err != nil {
		return Model{}, newError(ErrStore, err, fmt.Sprintf("cannot write in %s: %v", staging, err))
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(staging, recordFile), append(b, '\n'), 0o644); err != nil {
		return Model{}, newError(ErrStore, err, fmt.Sprintf("cannot write in %s: %v", staging, err))
	}
	final := filepath.Join(s.dir, spec.DirName())
	if err := os.RemoveAll(final); err != nil { // a folder without a record is debris
		return Model{}, newError(ErrStore, err, fmt.Sprintf("cannot replace %s: %v", final, err))
	}
	if err := os.Rename(staging, final); err != nil {
		return Model{}, newError(ErrStore, err, fmt.Sprintf("cannot move the model into %s: %v; check the permissions of %s", final, err, s.dir))
	}
	m.Dir = final
	s.opts.Logger.Info("model fetched", "model", m.Spec, "size", m.TarSize, "url", tarURL)
	return m, nil
}

// buildVerityFile computes the hash file of tarPath into out, and the
// tar's root hash and SHA-256.
func buildVerityFile(tarPath string, size int64, out string, progress func(done, total int64)) (root, sum [32]byte, err error) {
	f, err := os.Open(tarPath)
	if err != nil {
		return root, sum, newError(ErrStore, err, fmt.Sprintf("cannot read %s: %v", tarPath, err))
	}
	defer f.Close()
	o, err := os.Create(out)
	if err != nil {
		return root, sum, newError(ErrStore, err, fmt.Sprintf("cannot write %s: %v; check the free space", out, err))
	}
	h := sha256.New()
	r := &countingReader{r: io.TeeReader(f, h), total: size, fn: progress}
	root, err = BuildVerity(r, size, o, BuildModelVerity())
	if cerr := o.Close(); err == nil && cerr != nil {
		err = newError(ErrStore, cerr, fmt.Sprintf("cannot write %s: %v; check the free space", out, cerr))
	}
	if err != nil {
		var ke *Error
		if !errors.As(err, &ke) {
			err = newError(ErrStore, err, fmt.Sprintf("cannot build the verity file %s: %v; check the free space", out, err))
		}
		_ = os.Remove(out)
		return root, sum, err
	}
	copy(sum[:], h.Sum(nil))
	return root, sum, nil
}

type countingReader struct {
	r           io.Reader
	done, total int64
	fn          func(done, total int64)
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.done += int64(n)
	if c.fn != nil && n > 0 {
		c.fn(c.done, c.total)
	}
	return n, err
}

// sameVerity checks a fetched verity file against the one built here:
// the same bytes, except the superblock's UUID, which the guest does not
// check.
func sameVerity(fetched, built string) error {
	a, err := os.ReadFile(fetched)
	if err != nil {
		return newError(ErrStore, err, fmt.Sprintf("cannot read %s: %v", fetched, err))
	}
	b, err := os.ReadFile(built)
	if err != nil {
		return newError(ErrStore, err, fmt.Sprintf("cannot read %s: %v", built, err))
	}
	if _, _, err := ReadVerityHeader(bytes.NewReader(a), BuildModelVerity()); err != nil {
		return err
	}
	if len(a) != len(b) || !bytes.Equal(a[:16], b[:16]) || !bytes.Equal(a[32:], b[32:]) {
		return newError(ErrVerity, nil, "the verity file fetched does not match the model archive (it is not the hash tree of these bytes): it was deleted; "+
			"give the right verity address, or none to build the verity file here")
	}
	return nil
}

// fromDownload maps a downloader error to this package's kinds, keeping
// its message.
func fromDownload(err error, spec Spec) error {
	var ke *Error
	msg := err.Error()
	if errors.As(err, &ke) {
		msg = ke.Msg
	}
	kind := ErrDownload
	switch {
	case errors.Is(err, download.ErrSource), errors.Is(err, download.ErrSize):
		kind = ErrSource
	case errors.Is(err, download.ErrDiskSpace):
		kind = ErrDiskSpace
	case errors.Is(err, download.ErrChecksum):
		kind = ErrChecksum
	case errors.Is(err, download.ErrStore):
		kind = ErrStore
	}
	return newError(kind, err, "model "+spec.Name+": "+msg)
}

// read loads the record of a model folder, checking its files are there.
func (s *Store) read(dirName string) (Model, error) {
	dir := filepath.Join(s.dir, dirName)
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return Model{}, newError(ErrNotFound, err, fmt.Sprintf("no model %s is here", dirName))
	}
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return Model{}, newError(ErrStore, err, fmt.Sprintf("the record %s is damaged (%v): remove the model and fetch it again", filepath.Join(dir, recordFile), err))
	}
	sp, err := Parse(m.Spec)
	if err != nil || sp.DirName() != dirName || m.Tar != sp.PathName()+".tar" || m.Verity != m.Tar+".verity" {
		return Model{}, newError(ErrStore, err, fmt.Sprintf("the record %s does not match its folder: remove the model and fetch it again", filepath.Join(dir, recordFile)))
	}
	m.Dir = dir
	for _, f := range []string{m.TarPath(), m.VerityPath()} {
		if fi, err := os.Stat(f); err != nil || !fi.Mode().IsRegular() {
			return Model{}, newError(ErrStore, err, fmt.Sprintf("%s is missing: remove the model and fetch it again", f))
		}
	}
	return m, nil
}

// List returns the models here, by model string. Folders that are not
// whole models are skipped.
func (s *Store) List() ([]Model, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, newError(ErrStore, err, fmt.Sprintf("cannot read %s: %v", s.dir, err))
	}
	var out []Model
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		m, err := s.read(e.Name())
		if err != nil {
			s.opts.Logger.Warn("not a whole model; skipped", "folder", e.Name(), "error", err)
			continue
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Model) int { return strings.Compare(a.Spec, b.Spec) })
	return out, nil
}

// Get returns the stored model spec names.
func (s *Store) Get(spec Spec) (Model, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.read(spec.DirName())
	if err != nil {
		return Model{}, err
	}
	if m.Spec != spec.String() {
		return Model{}, newError(ErrNotFound, nil, fmt.Sprintf("%s@%s is here with verity hash %s, not %s", spec.Name, spec.Commit, m.VerityHash, spec.VerityHash))
	}
	return m, nil
}

// Verify re-reads a stored model: the tar's root hash must be the one its
// model string names and the verity file must be its hash tree.
func (s *Store) Verify(ctx context.Context, spec Spec, progress Progress) error {
	m, err := s.Get(spec)
	if err != nil {
		return err
	}
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	tmp, err := os.CreateTemp(s.dir, ".verify-*")
	if err != nil {
		return newError(ErrStore, err, fmt.Sprintf("cannot create a file in %s: %v", s.dir, err))
	}
	_ = tmp.Close()
	defer os.Remove(tmp.Name())
	if err := ctx.Err(); err != nil {
		return err
	}
	root, _, err := buildVerityFile(m.TarPath(), m.TarSize, tmp.Name(), func(d, t int64) { progress("verify", d, t) })
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(root[:]); got != spec.VerityHash {
		return newError(ErrVerity, nil, fmt.Sprintf("the stored archive %s has root hash %s, not %s: it was changed on disk; remove the model and fetch it again", m.TarPath(), got, spec.VerityHash))
	}
	return sameVerity(m.VerityPath(), tmp.Name())
}

// Remove deletes the model name@commit (with or without ":verity") and
// any unfinished download of it.
func (s *Store) Remove(nameAtCommit string) error {
	name, commit, _ := strings.Cut(nameAtCommit, "@")
	commit, _, _ = strings.Cut(commit, ":")
	spec := Spec{Name: name, Commit: commit, VerityHash: strings.Repeat("0", VerityHashLen)}
	if _, err := Parse(spec.String()); err != nil {
		return newError(ErrSpec, err, fmt.Sprintf("%q does not name a model: write name@commit, as model list shows it", nameAtCommit))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := filepath.Join(s.dir, spec.DirName())
	staging := filepath.Join(s.dir, downloadsDir, spec.DirName())
	_, errDir := os.Stat(dir)
	_, errStaging := os.Stat(staging)
	if errors.Is(errDir, fs.ErrNotExist) && errors.Is(errStaging, fs.ErrNotExist) {
		return newError(ErrNotFound, nil, fmt.Sprintf("no model %s@%s is here: model list shows those that are", name, commit))
	}
	for _, d := range []string{dir, staging} {
		if err := os.RemoveAll(d); err != nil {
			return newError(ErrStore, err, fmt.Sprintf("cannot remove %s: %v; check its permissions", d, err))
		}
	}
	s.opts.Logger.Info("model removed", "model", name+"@"+commit)
	return nil
}
