package release

import (
	"github.com/cocoon-provider/cocoon-provider/internal/bytesize"

	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest"
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
// when its SHA-256 is wrong) is left behind, and the current and previous
// releases are untouched.
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
	part := filepath.Join(dl, digestHex+partSuffix)
	size, err := m.download(ctx, src, part, progress)
	if err != nil {
		return Release{}, err
	}
	f, err := os.Open(part)
	if err != nil {
		return Release{}, newError(ErrStore, err, fmt.Sprintf("cannot read the download %s: %v", part, err))
	}
	defer f.Close()
	if err := checkDigest(f, digest, src.URL); err != nil {
		_ = os.Remove(part) // a wrong file must not be resumed
		return Release{}, err
	}
	signed, err := m.checkSignature(ctx, src, f, digest)
	if err == nil {
		var r Release
		if r, err = m.install(f, size, src, digestHex, signed); err == nil {
			_ = f.Close() // read only; the part file is removed next
			return m.fetched(r, part)
		}
	}
	_ = f.Close()
	if isRefusal(err) {
		// The archive is the one the SHA-256 names, and it is refused:
		// fetching it again cannot help, so keep nothing.
		_ = os.Remove(part)
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
func (m *Manager) fetched(r Release, part string) (Release, error) {
	if err := os.Remove(part); err != nil && !errors.Is(err, fs.ErrNotExist) {
		m.opts.Logger.Warn("the finished download could not be removed", "path", part, "error", err)
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

// checkDigest hashes f from the start.
func checkDigest(f *os.File, want [32]byte, from string) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return newError(ErrStore, err, fmt.Sprintf("cannot read the download: %v", err))
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return newError(ErrStore, err, fmt.Sprintf("cannot read the download: %v", err))
	}
	if got := h.Sum(nil); subtle.ConstantTimeCompare(got, want[:]) != 1 {
		return newError(ErrChecksum, nil, fmt.Sprintf("the archive downloaded from %s has SHA-256 %x, not the %x given: it is damaged or not the released file, and was deleted; "+
			"check the address and the SHA-256, then fetch again", from, got, want))
	}
	return nil
}

// download fetches src.URL into part, resuming what is there; it tries
// up to Options.Attempts times while the failure is one a retry can mend.
func (m *Manager) download(ctx context.Context, src Source, part string, progress Progress) (int64, error) {
	wait := m.opts.RetryWait
	for attempt := 1; ; attempt++ {
		n, retry, err := m.downloadOnce(ctx, src, part, progress)
		if err == nil {
			return n, nil
		}
		if !retry || attempt >= m.opts.Attempts || ctx.Err() != nil {
			return 0, err
		}
		m.opts.Logger.Warn("release download interrupted; resuming", "attempt", attempt, "error", err)
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return 0, err
			case <-t.C:
			}
			wait *= 2
		}
	}
}

// downloadOnce makes one request. retry says whether another attempt
// may succeed.
func (m *Manager) downloadOnce(ctx context.Context, src Source, part string, progress Progress) (n int64, retry bool, err error) {
	have := int64(0)
	if fi, err := os.Stat(part); err == nil && fi.Mode().IsRegular() {
		have = fi.Size()
	}
	if src.Size > 0 && have > src.Size {
		have = 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.URL, nil)
	if err != nil {
		return 0, false, newError(ErrSource, err, fmt.Sprintf("cannot fetch %s: %v", src.URL, err))
	}
	req.Header.Set("User-Agent", "cocoon-provider-release/1")
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := m.opts.Client.Do(req)
	if err != nil {
		return 0, true, newError(ErrUnreachable, err, fmt.Sprintf("cannot reach %s: %v; check the network connection and the address", src.URL, unwrapURLError(err)))
	}
	defer resp.Body.Close()
	total := int64(-1)
	flags := os.O_WRONLY | os.O_CREATE
	switch resp.StatusCode {
	case http.StatusOK:
		// A whole file: the server ignored Range, or there was nothing to
		// resume. Start over.
		have, total = 0, resp.ContentLength
		flags |= os.O_TRUNC
	case http.StatusPartialContent:
		start, tot, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			// Not the part asked for: drop what is there and start again.
			_ = os.Remove(part)
			return 0, true, newError(ErrIncomplete, nil, fmt.Sprintf("%s answered a resumed download with the wrong part (Content-Range %q); starting again", src.URL, resp.Header.Get("Content-Range")))
		}
		total = tot
		flags |= os.O_APPEND
	case http.StatusRequestedRangeNotSatisfiable:
		if have > 0 && src.Size > 0 && have == src.Size {
			return have, false, nil // the file was complete
		}
		_ = os.Remove(part)
		return 0, true, newError(ErrIncomplete, nil, fmt.Sprintf("%s could not resume the download; starting again", src.URL))
	default:
		retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
		return 0, retry, newError(ErrHTTPStatus, nil, fmt.Sprintf("%s answered HTTP %s: check the address of the release archive", src.URL, resp.Status))
	}
	if src.Size > 0 && total >= 0 && total != src.Size {
		return 0, false, newError(ErrSource, nil, fmt.Sprintf("%s is %d bytes, the release lists %d: it is not the released file; check the address", src.URL, total, src.Size))
	}
	if total > m.opts.MaxArchiveSize || (src.Size > m.opts.MaxArchiveSize) {
		t := max(total, src.Size)
		return 0, false, newError(ErrTooLarge, nil, fmt.Sprintf("the release archive at %s is %s, over the %s limit: it was not downloaded; check the address", src.URL, bytesize.Format(t), bytesize.Format(m.opts.MaxArchiveSize)))
	}
	if total < 0 && src.Size > 0 {
		total = src.Size
	}
	if total >= 0 {
		if err := m.checkFree(filepath.Dir(part), total-have, "download the release archive"); err != nil {
			return 0, false, err
		}
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return 0, false, newError(ErrStore, err, fmt.Sprintf("cannot write the download %s: %v; check the permissions of the release directory", part, err))
	}
	w := &progressWriter{w: f, done: have, total: total, fn: progress}
	if progress != nil {
		progress(have, total)
	}
	limit := m.opts.MaxArchiveSize - have
	copied, cerr := io.Copy(w, io.LimitReader(resp.Body, limit+1))
	if serr := f.Sync(); cerr == nil {
		cerr = serr
	}
	if err := f.Close(); cerr == nil {
		cerr = err
	}
	got := have + copied
	switch {
	case copied > limit:
		_ = os.Remove(part)
		return 0, false, newError(ErrTooLarge, nil, fmt.Sprintf("the release archive at %s is larger than the %s limit: it was deleted; check the address", src.URL, bytesize.Format(m.opts.MaxArchiveSize)))
	case cerr != nil && ctx.Err() != nil:
		return 0, false, newError(ErrIncomplete, ctx.Err(), fmt.Sprintf("the download stopped after %s (%v); fetch again to resume it", bytesize.Format(got), ctx.Err()))
	case cerr != nil:
		var we writeError
		if errors.As(cerr, &we) {
			return 0, false, newError(ErrStore, cerr, fmt.Sprintf("cannot write the download: %v; check the free space of %s", we.err, m.dir))
		}
		return 0, true, newError(ErrIncomplete, cerr, fmt.Sprintf("the download from %s stopped after %s of %s (%v); fetch again to resume it", src.URL, bytesize.Format(got), totalText(total), unwrapURLError(cerr)))
	case total >= 0 && got != total:
		return 0, true, newError(ErrIncomplete, nil, fmt.Sprintf("the download from %s stopped after %s of %s; fetch again to resume it", src.URL, bytesize.Format(got), totalText(total)))
	}
	return got, false, nil
}

// parseContentRange reads "bytes START-END/TOTAL" (TOTAL may be "*",
// returned as -1).
func parseContentRange(v string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	s, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(s, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	if tot == "*" {
		return start, -1, true
	}
	total, err = strconv.ParseInt(tot, 10, 64)
	if err != nil || total < start {
		return 0, 0, false
	}
	return start, total, true
}

// checkFree refuses when the file system holding dir has less than need
// bytes plus the margin free.
func (m *Manager) checkFree(dir string, need int64, what string) error {
	free, err := m.opts.FreeSpace(dir)
	if err != nil || free < 0 {
		return nil // unknown: the writes themselves will fail if the disk fills
	}
	if free < need+m.opts.FreeSpaceMargin {
		return newError(ErrDiskSpace, nil, fmt.Sprintf("there is %s free in %s, and it takes %s to %s (plus %s kept free): free some disk space and fetch again",
			bytesize.Format(free), dir, bytesize.Format(need), what, bytesize.Format(m.opts.FreeSpaceMargin)))
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

// progressWriter counts bytes for Progress; a write failure is marked so
// it is not taken for a dropped connection.
type progressWriter struct {
	w           io.Writer
	done, total int64
	fn          Progress
}

type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }
func (e writeError) Unwrap() error { return e.err }

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.fn != nil && n > 0 {
		p.fn(p.done, p.total)
	}
	if err != nil {
		return n, writeError{err}
	}
	return n, nil
}

// unwrapURLError drops url.Error's repetition of the method and URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func totalText(n int64) string {
	if n < 0 {
		return "an unknown size"
	}
	return bytesize.Format(n)
}
