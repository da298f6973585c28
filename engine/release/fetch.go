package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/internal/bytesize"
	"github.com/cocoon-provider/cocoon-provider/internal/download"
)

// Source says where a release archive is and what it must be.
type Source struct {
	// URL is the archive's http or https address.
	URL string
	// SHA256 is the archive's SHA-256 in hex; required.
	SHA256 string
	// Size is the archive's length in bytes; 0 if not known.
	Size int64
	// Version names the release; empty takes it from the archive's top
	// folder (release-<commit> gives <commit>), else from the SHA-256.
	Version string
	// SignatureURL or Signature give a detached signature, checked by
	// Options.Verifier; both empty means unsigned.
	SignatureURL string
	Signature    []byte
	// Base, when known, holds the release's MRTD, MRCONFIGID, MROWNER,
	// MROWNERCONFIG and RTMR0–2 (for example from a quote of a worker
	// running it); RTMR3 is ignored. It lets CheckAllowed compute the
	// image hash.
	Base *attest.Measurements
}

// Progress is told the bytes downloaded so far and the total (-1 when
// the server does not say).
type Progress func(done, total int64)

// Fetch downloads, verifies and unpacks the release src describes, and
// returns its record. The release is not activated. A release of the
// same version and SHA-256 already here is returned as it is. On any
// failure nothing but the partial download (kept for resuming, removed
// when its SHA-256 is wrong) or a checked download that could not be
// unpacked (used by the next Fetch) is left behind, and the current and
// previous releases are untouched.
func (m *Manager) Fetch(ctx context.Context, src Source, progress Progress) (Release, error) {
	digest, err := checkSource(src)
	if err != nil {
		return Release{}, err
	}
	digestHex := hex.EncodeToString(digest[:])
	m.mu.Lock()
	defer m.mu.Unlock()
	if src.Version != "" {
		if r, err := m.read(src.Version); err == nil {
			return sameOrExists(r, digestHex)
		}
	}
	dl := filepath.Join(m.dir, downloadsDir)
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return Release{}, newError(ErrStore, err, fmt.Sprintf("cannot create %s: %v; check the permissions of %s", dl, err, m.dir))
	}
	file := filepath.Join(dl, digestHex)
	size, err := m.download(ctx, src, file, progress)
	if err != nil {
		return Release{}, err
	}
	f, err := os.Open(file)
	if err != nil {
		return Release{}, newError(ErrStore, err, fmt.Sprintf("cannot read the download %s: %v", file, err))
	}
	defer f.Close()
	signed, err := m.checkSignature(ctx, src, f, digest)
	if err == nil {
		var r Release
		if r, err = m.install(f, size, src, digestHex, signed); err == nil {
			_ = f.Close() // read only; the download is removed next
			return m.fetched(r, file)
		}
	}
	_ = f.Close()
	if isRefusal(err) {
		// The archive is the one the SHA-256 names, and it is refused:
		// fetching it again cannot help, so keep nothing.
		_ = os.Remove(file)
	}
	return Release{}, err
}

// isRefusal reports whether err refuses the archive itself.
func isRefusal(err error) bool {
	for _, k := range []error{ErrSignature, ErrUnsafe, ErrFormat, ErrLayout, ErrTooLarge} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// fetched finishes a successful Fetch: the download is dropped.
func (m *Manager) fetched(r Release, file string) (Release, error) {
	if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		m.opts.Logger.Warn("the finished download could not be removed", "path", file, "error", err)
	}
	m.opts.Logger.Info("worker release fetched", "version", r.Version, "sha256", r.SHA256, "url", r.SourceURL)
	return r, nil
}

// checkSource validates src and returns its digest.
func checkSource(src Source) ([32]byte, error) {
	var d [32]byte
	u, err := url.Parse(src.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return d, newError(ErrSource, err, fmt.Sprintf("the release address %q is not an http or https URL: give the address of the release archive", src.URL))
	}
	s := strings.TrimSpace(src.SHA256)
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		if s == "" {
			return d, newError(ErrSource, nil, "the release archive's SHA-256 was not given: it is required, since it is what proves the archive is the released one; copy it from the release announcement")
		}
		return d, newError(ErrSource, nil, fmt.Sprintf("the release SHA-256 %q is not 64 hex digits: copy it again from the release announcement", src.SHA256))
	}
	copy(d[:], b)
	if src.Version != "" && !ValidVersion(src.Version) {
		return d, versionError(src.Version)
	}
	if src.Size < 0 {
		return d, newError(ErrSource, nil, fmt.Sprintf("the release size %d is not a number of bytes", src.Size))
	}
	if src.SignatureURL != "" {
		if su, err := url.Parse(src.SignatureURL); err != nil || (su.Scheme != "http" && su.Scheme != "https") || su.Host == "" {
			return d, newError(ErrSource, err, fmt.Sprintf("the signature address %q is not an http or https URL", src.SignatureURL))
		}
	}
	return d, nil
}

func sameOrExists(r Release, digestHex string) (Release, error) {
	if r.SHA256 == digestHex {
		return r, nil
	}
	return Release{}, newError(ErrExists, nil, fmt.Sprintf("release %s is already here with SHA-256 %s, not %s: give the new archive another version", r.Version, r.SHA256, digestHex))
}

// download fetches src.URL to <downloads>/<sha256> through the shared
// downloader (resuming <sha256>.part, retrying, checking limits, free
// space and the SHA-256) and maps its errors to this package's kinds.
func (m *Manager) download(ctx context.Context, src Source, dest string, progress Progress) (int64, error) {
	r, err := download.Get(ctx, src.URL, dest, download.Options{
		SHA256:    src.SHA256,
		Size:      src.Size,
		MaxSize:   m.opts.MaxArchiveSize,
		Progress:  progress,
		Policy:    m.opts.Policy,
		What:      "the release archive",
		UserAgent: "cocoon-provider-release/1",
		Logger:    m.opts.Logger,
	})
	if err != nil {
		return 0, fromDownload(err)
	}
	return r.Size, nil
}

// downloadKinds maps the shared downloader's kinds to this package's.
var downloadKinds = []struct{ from, to error }{
	{download.ErrSource, ErrSource},
	{download.ErrSize, ErrSource},
	{download.ErrUnreachable, ErrUnreachable},
	{download.ErrHTTPStatus, ErrHTTPStatus},
	{download.ErrIncomplete, ErrIncomplete},
	{download.ErrTooLarge, ErrTooLarge},
	{download.ErrDiskSpace, ErrDiskSpace},
	{download.ErrChecksum, ErrChecksum},
	{download.ErrStore, ErrStore},
}

// fromDownload gives a downloader error this package's kind, keeping its
// message and the error itself as the cause.
func fromDownload(err error) error {
	var ke *Error
	if !errors.As(err, &ke) {
		return newError(ErrStore, err, err.Error())
	}
	for _, k := range downloadKinds {
		if errors.Is(err, k.from) {
			return newError(k.to, err, ke.Msg)
		}
	}
	return newError(ErrStore, err, ke.Msg)
}

// checkFree refuses when the file system holding dir has less than need
// bytes plus the margin free.
func (m *Manager) checkFree(dir string, need int64, what string) error {
	if err := download.CheckFree(m.opts.FreeSpace, dir, need, m.opts.FreeSpaceMargin, what); err != nil {
		return fromDownload(err)
	}
	return nil
}

// checkSignature verifies the detached signature, when there is one.
func (m *Manager) checkSignature(ctx context.Context, src Source, f *os.File, digest [32]byte) (bool, error) {
	sig := src.Signature
	if len(sig) == 0 && src.SignatureURL != "" {
		var err error
		if sig, err = m.fetchSmall(ctx, src.SignatureURL, MaxSignatureSize); err != nil {
			return false, err
		}
	}
	if len(sig) == 0 {
		if m.opts.RequireSignature {
			return false, newError(ErrSignature, nil, "the release has no signature, and this app requires one: give the signature's address with the release")
		}
		return false, nil
	}
	if m.opts.Verifier == nil {
		return false, newError(ErrSignature, nil, "the release comes with a signature, but no signature scheme is configured to check it "+
			"(the official project defines none): fetch it without the signature, relying on its SHA-256, or configure the scheme")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, newError(ErrStore, err, fmt.Sprintf("cannot read the download: %v", err))
	}
	if err := m.opts.Verifier.VerifyRelease(f, digest, sig); err != nil {
		return false, newError(ErrSignature, err, fmt.Sprintf("the release archive's signature does not verify (%v): it is not the signed release; it was not installed", err))
	}
	return true, nil
}

// fetchSmall GETs u and returns at most limit bytes.
func (m *Manager) fetchSmall(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, newError(ErrSource, err, fmt.Sprintf("cannot fetch %s: %v", u, err))
	}
	resp, err := m.opts.Client.Do(req)
	if err != nil {
		return nil, newError(ErrUnreachable, err, fmt.Sprintf("cannot reach %s: %v; check the network connection", u, unwrapURLError(err)))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, newError(ErrSignature, nil, fmt.Sprintf("the release signature at %s could not be fetched (HTTP %s): check its address", u, resp.Status))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, newError(ErrUnreachable, err, fmt.Sprintf("reading %s failed: %v", u, unwrapURLError(err)))
	}
	if int64(len(b)) > limit {
		return nil, newError(ErrSignature, nil, fmt.Sprintf("the release signature at %s is larger than %s, more than a signature can be: check its address", u, bytesize.Format(limit)))
	}
	return b, nil
}

// unwrapURLError drops url.Error's repetition of the method and URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
