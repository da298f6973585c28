// Package download fetches one file over HTTP into a local path: the
// bytes go to <dest>.part, a dropped connection is resumed with a Range
// request (in the same call, a few attempts, or the next call), a server
// that ignores Range starts over cleanly, sizes are checked against a
// limit and the free disk space before anything is written, the SHA-256
// is checked when it is known, and the finished file reaches dest by one
// rename. Every error is a *kinderr.Error whose kind is one of the Err…
// values and whose message says what to do.
package download

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/internal/bytesize"
	"github.com/cocoon-provider/cocoon-provider/internal/kinderr"
)

// Kinds of failure; every error Get and Head return matches one of them
// with errors.Is.
var (
	// ErrSource: the address, SHA-256 or size given is unusable.
	ErrSource = errors.New("the download source is not usable")
	// ErrUnreachable: the server could not be reached.
	ErrUnreachable = errors.New("the server could not be reached")
	// ErrHTTPStatus: the server answered with an error status.
	ErrHTTPStatus = errors.New("the server answered with an error")
	// ErrIncomplete: the download stopped before the end; Get again
	// resumes it.
	ErrIncomplete = errors.New("the download is incomplete")
	// ErrSize: the server's file is not the size the caller expects.
	ErrSize = errors.New("the file is not the expected size")
	// ErrTooLarge: the file is over Options.MaxSize.
	ErrTooLarge = errors.New("the file is too large")
	// ErrDiskSpace: not enough free disk space.
	ErrDiskSpace = errors.New("not enough free disk space")
	// ErrChecksum: the file's SHA-256 is not the one given.
	ErrChecksum = errors.New("the file's SHA-256 does not match")
	// ErrStore: the destination could not be read or written.
	ErrStore = errors.New("the download could not be stored")
)

// PartSuffix is added to dest for the partial download.
const PartSuffix = ".part"

// Options describe what the file must be and how to fetch it. The zero
// value is usable: one attempt, no size limit, no SHA-256 check, the
// system's free space with no margin.
type Options struct {
	// SHA256 is the file's SHA-256 in hex, either case; empty skips the
	// check.
	SHA256 string
	// Size is the file's length in bytes; 0 when not known.
	Size int64
	// MaxSize refuses a larger file; 0 means no limit.
	MaxSize int64
	// Progress is told the bytes downloaded so far and the total (-1
	// when not known); nil for none.
	Progress func(done, total int64)
	// Policy is the client, the retries and the free space kept.
	Policy
	// What names the file in messages ("the release archive"); empty is
	// "the file".
	What string
	// UserAgent is sent with each request; empty is "cocoon-provider".
	UserAgent string
	// Logger receives retry notes; nil discards them.
	Logger *slog.Logger
}

// Result describes a finished download.
type Result struct {
	Path string // dest
	Size int64
	// Cached is true when dest was already there with the SHA-256 given,
	// and nothing was fetched.
	Cached bool
}

// Error is the error type of this package.
type Error = kinderr.Error

func newError(kind, err error, msg string) *Error {
	return &Error{Kind: kind, Err: err, Msg: msg}
}

// NewClient returns a client with a response-header timeout and no
// overall timeout (the context bounds a download).
func NewClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: tr}
}

// ParseSHA256 reads 64 hex digits in either case, with surrounding space.
func ParseSHA256(s string) ([32]byte, error) {
	var d [32]byte
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != sha256.Size {
		return d, fmt.Errorf("%q is not a SHA-256 (64 hex digits)", s)
	}
	copy(d[:], b)
	return d, nil
}

// CheckURL refuses anything but an absolute http or https URL.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return newError(ErrSource, err, fmt.Sprintf("the address %q is not an http or https URL: give the file's http(s) address", raw))
	}
	return nil
}

// Get downloads rawURL to dest as Options describe. A dest already there
// with the SHA-256 given is kept and nothing is fetched; otherwise the
// download goes to dest+".part" (resumed when there is one), is checked,
// and replaces dest by one rename. A part file with the wrong SHA-256 is
// deleted, so the next Get starts afresh; any other failure keeps it for
// resuming.
func Get(ctx context.Context, rawURL, dest string, o Options) (Result, error) {
	g, err := newGetter(rawURL, dest, o)
	if err != nil {
		return Result{}, err
	}
	if r, ok := g.cached(); ok {
		return r, nil
	}
	part := dest + PartSuffix
	n, err := g.download(ctx, part)
	if err != nil {
		return Result{}, err
	}
	if g.hasSum {
		if err := g.checkSum(part); err != nil {
			return Result{}, err
		}
	}
	if err := os.Rename(part, dest); err != nil {
		return Result{}, newError(ErrStore, err, fmt.Sprintf("cannot move the finished download to %s: %v; check the permissions of %s", dest, err, filepath.Dir(dest)))
	}
	return Result{Path: dest, Size: n}, nil
}

// Head asks the server for the size of the file at rawURL without
// fetching it; -1 when the server does not say.
func Head(ctx context.Context, client *http.Client, rawURL string) (int64, error) {
	if err := CheckURL(rawURL); err != nil {
		return 0, err
	}
	if client == nil {
		client = NewClient()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, rawURL, nil)
	if err != nil {
		return 0, newError(ErrSource, err, fmt.Sprintf("cannot ask %s for the size: %v", rawURL, err))
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, newError(ErrUnreachable, err, fmt.Sprintf("cannot reach %s: %v; check the network connection and the address", rawURL, unwrapURLError(err)))
	}
	_ = resp.Body.Close() // a HEAD answer has no body
	if resp.StatusCode != http.StatusOK {
		return 0, newError(ErrHTTPStatus, nil, fmt.Sprintf("%s answered HTTP %s: check the address", rawURL, resp.Status))
	}
	return resp.ContentLength, nil
}

type getter struct {
	o      Options
	url    string
	dest   string
	sum    [32]byte
	hasSum bool
	what   string
}

func newGetter(rawURL, dest string, o Options) (*getter, error) {
	if err := CheckURL(rawURL); err != nil {
		return nil, err
	}
	g := &getter{o: o, url: rawURL, dest: dest, what: o.What}
	if g.what == "" {
		g.what = "the file"
	}
	if o.SHA256 != "" {
		d, err := ParseSHA256(o.SHA256)
		if err != nil {
			return nil, newError(ErrSource, nil, fmt.Sprintf("the SHA-256 of %s, %q, is not 64 hex digits: copy it again", g.what, o.SHA256))
		}
		g.sum, g.hasSum = d, true
	}
	if o.Size < 0 {
		return nil, newError(ErrSource, nil, fmt.Sprintf("the size %d of %s is not a number of bytes", o.Size, g.what))
	}
	if g.o.Attempts < 1 {
		g.o.Attempts = 1
	}
	if g.o.FreeSpace == nil {
		g.o.FreeSpace = FreeSpace
	}
	if g.o.Client == nil {
		g.o.Client = NewClient()
	}
	if g.o.UserAgent == "" {
		g.o.UserAgent = "cocoon-provider"
	}
	if g.o.Logger == nil {
		g.o.Logger = slog.New(slog.DiscardHandler)
	}
	return g, nil
}

// cached reports whether dest is already the file asked for.
func (g *getter) cached() (Result, bool) {
	fi, err := os.Stat(g.dest)
	if err != nil || !fi.Mode().IsRegular() || !g.hasSum || (g.o.Size > 0 && fi.Size() != g.o.Size) {
		return Result{}, false
	}
	if got, err := fileSum(g.dest); err != nil || got != g.sum {
		return Result{}, false
	}
	return Result{Path: g.dest, Size: fi.Size(), Cached: true}, true
}

func fileSum(path string) ([32]byte, error) {
	var d [32]byte
	f, err := os.Open(path)
	if err != nil {
		return d, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return d, err
	}
	copy(d[:], h.Sum(nil))
	return d, nil
}

// checkSum hashes the part file; a wrong one is deleted, since resuming
// it cannot help.
func (g *getter) checkSum(part string) error {
	got, err := fileSum(part)
	if err != nil {
		return newError(ErrStore, err, fmt.Sprintf("cannot read the download %s: %v", part, err))
	}
	if subtle.ConstantTimeCompare(got[:], g.sum[:]) != 1 {
		_ = os.Remove(part) // a wrong file must not be resumed
		return newError(ErrChecksum, nil, fmt.Sprintf("%s downloaded from %s has SHA-256 %x, not the %x given: it is damaged or not the right file, and was deleted; "+
			"check the address and the SHA-256, then fetch again", g.what, g.url, got, g.sum))
	}
	return nil
}

// download fetches into part, resuming what is there, up to Attempts
// times while the failure is one a retry can mend.
func (g *getter) download(ctx context.Context, part string) (int64, error) {
	wait := g.o.RetryWait
	for attempt := 1; ; attempt++ {
		n, retry, err := g.once(ctx, part)
		if err == nil {
			return n, nil
		}
		if !retry || attempt >= g.o.Attempts || ctx.Err() != nil {
			return 0, err
		}
		g.o.Logger.Warn("download interrupted; resuming", "url", g.url, "attempt", attempt, "error", err)
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

// once makes one request. retry says whether another attempt may
// succeed.
func (g *getter) once(ctx context.Context, part string) (n int64, retry bool, err error) {
	have := int64(0)
	if fi, err := os.Stat(part); err == nil && fi.Mode().IsRegular() {
		have = fi.Size()
	}
	if g.o.Size > 0 && have > g.o.Size {
		have = 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
	if err != nil {
		return 0, false, newError(ErrSource, err, fmt.Sprintf("cannot fetch %s: %v", g.url, err))
	}
	req.Header.Set("User-Agent", g.o.UserAgent)
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := g.o.Client.Do(req)
	if err != nil {
		return 0, true, newError(ErrUnreachable, err, fmt.Sprintf("cannot reach %s: %v; check the network connection and the address", g.url, unwrapURLError(err)))
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
			return 0, true, newError(ErrIncomplete, nil, fmt.Sprintf("%s answered a resumed download with the wrong part (Content-Range %q); starting again", g.url, resp.Header.Get("Content-Range")))
		}
		total = tot
		flags |= os.O_APPEND
	case http.StatusRequestedRangeNotSatisfiable:
		// "bytes */N" says how long the file is: the part may be whole.
		_, tot, _ := parseContentRange(strings.Replace(resp.Header.Get("Content-Range"), "*/", "0-0/", 1))
		if have > 0 && ((g.o.Size > 0 && have == g.o.Size) || (g.o.Size == 0 && tot == have)) {
			return have, false, nil
		}
		_ = os.Remove(part)
		return 0, true, newError(ErrIncomplete, nil, fmt.Sprintf("%s could not resume the download; starting again", g.url))
	default:
		retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
		return 0, retry, newError(ErrHTTPStatus, nil, fmt.Sprintf("%s answered HTTP %s: check the address of %s", g.url, resp.Status, g.what))
	}
	if g.o.Size > 0 && total >= 0 && total != g.o.Size {
		return 0, false, newError(ErrSize, nil, fmt.Sprintf("%s is %d bytes, %d were expected: it is not the right file; check the address", g.url, total, g.o.Size))
	}
	if g.o.MaxSize > 0 && (total > g.o.MaxSize || g.o.Size > g.o.MaxSize) {
		t := max(total, g.o.Size)
		return 0, false, newError(ErrTooLarge, nil, fmt.Sprintf("%s at %s is %s, over the %s limit: it was not downloaded; check the address", g.what, g.url, bytesize.Format(t), bytesize.Format(g.o.MaxSize)))
	}
	if total < 0 && g.o.Size > 0 {
		total = g.o.Size
	}
	if total >= 0 {
		if err := CheckFree(g.o.FreeSpace, filepath.Dir(part), total-have, g.o.FreeSpaceMargin, "download "+g.what); err != nil {
			return 0, false, err
		}
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return 0, false, newError(ErrStore, err, fmt.Sprintf("cannot write the download %s: %v; check the permissions of %s", part, err, filepath.Dir(part)))
	}
	w := &progressWriter{w: f, done: have, total: total, fn: g.o.Progress}
	if g.o.Progress != nil {
		g.o.Progress(have, total)
	}
	var body io.Reader = resp.Body
	limit := int64(-1)
	if g.o.MaxSize > 0 {
		limit = g.o.MaxSize - have
		body = io.LimitReader(resp.Body, limit+1)
	}
	copied, cerr := io.Copy(w, body)
	if serr := f.Sync(); cerr == nil {
		cerr = serr
	}
	if err := f.Close(); cerr == nil {
		cerr = err
	}
	got := have + copied
	switch {
	case limit >= 0 && copied > limit:
		_ = os.Remove(part)
		return 0, false, newError(ErrTooLarge, nil, fmt.Sprintf("%s at %s is larger than the %s limit: it was deleted; check the address", g.what, g.url, bytesize.Format(g.o.MaxSize)))
	case cerr != nil && ctx.Err() != nil:
		return 0, false, newError(ErrIncomplete, ctx.Err(), fmt.Sprintf("the download stopped after %s (%v); fetch again to resume it", bytesize.Format(got), ctx.Err()))
	case cerr != nil:
		var we writeError
		if errors.As(cerr, &we) {
			return 0, false, newError(ErrStore, cerr, fmt.Sprintf("cannot write the download: %v; check the free space of %s", we.err, filepath.Dir(part)))
		}
		return 0, true, newError(ErrIncomplete, cerr, fmt.Sprintf("the download from %s stopped after %s of %s (%v); fetch again to resume it", g.url, bytesize.Format(got), totalText(total), unwrapURLError(cerr)))
	case total >= 0 && got != total:
		return 0, true, newError(ErrIncomplete, nil, fmt.Sprintf("the download from %s stopped after %s of %s; fetch again to resume it", g.url, bytesize.Format(got), totalText(total)))
	}
	return got, false, nil
}

// CheckFree refuses when the file system holding dir, as free reports
// it, has less than need bytes plus margin free; what says what the space
// is for ("download the model archive"). An unknown free space (an error
// or -1) passes: the writes themselves fail if the disk fills.
func CheckFree(free func(string) (int64, error), dir string, need, margin int64, what string) error {
	if free == nil {
		free = FreeSpace
	}
	n, err := free(dir)
	if err != nil || n < 0 {
		return nil
	}
	if n < need+margin {
		return newError(ErrDiskSpace, nil, fmt.Sprintf("there is %s free in %s, and it takes %s to %s (plus %s kept free): free some disk space and fetch again",
			bytesize.Format(n), dir, bytesize.Format(need), what, bytesize.Format(margin)))
	}
	return nil
}

// RemovePart deletes the partial download of dest, if any.
func RemovePart(dest string) error {
	if err := os.Remove(dest + PartSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
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

// progressWriter counts bytes for Progress; a write failure is marked so
// it is not taken for a dropped connection.
type progressWriter struct {
	w           io.Writer
	done, total int64
	fn          func(done, total int64)
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
