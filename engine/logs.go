package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode"
	"github.com/cocoon-provider/cocoon-provider/engine/diag"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

// LogSource names a log that Logs reads.
type LogSource string

// The logs the app can show.
const (
	// LogApp is the app's own log, logs/app.log in the data directory
	// (rotated to app.log.1, app.log.2).
	LogApp LogSource = "app"
	// LogConsole is a worker VM's console, instances/N/console.log
	// (rotated to console.log.1 …).
	LogConsole LogSource = "console"
)

// Limits of Logs.
const (
	// DefaultLogLimit is how many lines Logs returns when the query names
	// no limit.
	DefaultLogLimit = 500
	// MaxLogLimit is the most lines one Logs call returns.
	MaxLogLimit = 5000
	// MaxLogLine is the longest line Logs returns, in bytes; a longer one
	// is cut and ends in "…".
	MaxLogLine = 4 << 10
)

// Bounds on what one Logs call reads from disk: the newest logReadBudget
// bytes of the log are searched; up to logLookback bytes more are read as
// context for the redaction of the oldest of them.
const (
	logReadBudget = 4 << 20
	logChunk      = 64 << 10
	// logLookback and logLookahead are the text read around a line when it
	// is redacted, so that a recovery phrase written over several lines or
	// a private key block is recognised whole even when only one of its
	// lines is shown.
	logLookback  = 16 << 10
	logLookahead = 4 << 10
)

// ErrBadLogQuery: the query names no log (an unknown source, a negative
// instance or limit).
var ErrBadLogQuery = errors.New("bad log query")

// LogQuery says which lines Logs returns.
type LogQuery struct {
	// Source is the log to read; empty means LogApp.
	Source LogSource
	// Instance is the worker instance whose console LogConsole reads.
	Instance int
	// Contains keeps the lines that contain it, in any case; empty keeps
	// every line. It is matched against the lines as they are returned
	// (redacted), so searching for a hidden value finds nothing.
	Contains string
	// Limit is the most lines returned: 0 means DefaultLogLimit, more
	// than MaxLogLimit means MaxLogLimit.
	Limit int
}

// LogPage is what Logs returns.
type LogPage struct {
	// Lines are the newest matching lines, at most the query's limit,
	// oldest first, redacted, without line breaks.
	Lines []string
	// Truncated: older matching lines exist, or older lines were not
	// searched (only the newest few MiB of a log are read).
	Truncated bool
	// Source is the log the lines come from.
	Source LogSource
}

// Normalized returns q with its defaults filled in and its limit capped,
// or an error wrapping ErrBadLogQuery.
func (q LogQuery) Normalized() (LogQuery, error) {
	switch q.Source {
	case "":
		q.Source = LogApp
	case LogApp, LogConsole:
	default:
		return q, fmt.Errorf("%w: unknown source %q (use %q or %q)", ErrBadLogQuery, q.Source, LogApp, LogConsole)
	}
	if q.Instance < 0 {
		return q, fmt.Errorf("%w: instance %d is negative", ErrBadLogQuery, q.Instance)
	}
	switch {
	case q.Limit < 0:
		return q, fmt.Errorf("%w: limit %d is negative", ErrBadLogQuery, q.Limit)
	case q.Limit == 0:
		q.Limit = DefaultLogLimit
	case q.Limit > MaxLogLimit:
		q.Limit = MaxLogLimit
	}
	return q, nil
}

// AppLogPath is the app's log file in dataDir; its rotations add .1, .2.
func AppLogPath(dataDir string) string { return filepath.Join(dataDir, "logs", "app.log") }

// apiTokenFile is the control API's token in the data directory (the
// remote package writes it); its value is hidden wherever it appears.
const apiTokenFile = "api-token"

// Logs implements API. It reads the log's files newest first from their
// ends, a bounded amount, and redacts every line it returns.
func (s *Service) Logs(ctx context.Context, q LogQuery) (LogPage, error) {
	q, err := q.Normalized()
	if err != nil {
		return LogPage{}, err
	}
	if s.opts.DataDir == "" {
		return LogPage{}, errors.New("no data directory configured")
	}
	path := AppLogPath(s.opts.DataDir)
	if q.Source == LogConsole {
		path = InstanceFiles(s.opts.DataDir, q.Instance).Console
	}
	t, err := openLogTail(path)
	if err != nil {
		return LogPage{}, err
	}
	defer t.close()
	key := fmt.Sprintf("%q %d %q %d %s", q.Source, q.Instance, q.Contains, q.Limit, t.version)
	if p, ok := s.logs.get(key); ok {
		return p, nil
	}
	lines, truncated, err := t.newest(ctx, diag.NewRedactor(s.logRedactorConfig()), q)
	if err != nil {
		return LogPage{}, err
	}
	p := LogPage{Lines: lines, Truncated: truncated, Source: q.Source}
	s.logs.put(key, p)
	return p, nil
}

// logCache keeps the last Logs answer: asked again while the log's files
// are unchanged (the view refreshes every few seconds), Logs answers
// without reading or redacting anything.
type logCache struct {
	mu   sync.Mutex
	key  string
	page LogPage
}

func (c *logCache) get(key string) (LogPage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.key != key {
		return LogPage{}, false
	}
	p := c.page
	p.Lines = slices.Clone(p.Lines)
	return p, true
}

func (c *logCache) put(key string, p LogPage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.key, c.page = key, p
	c.page.Lines = slices.Clone(p.Lines)
}

// logRedactorConfig is how Logs redacts. Recovery phrases, private keys,
// tokens and passwords (the API token's value among them) and long hex
// strings other than the stand-in image's public hashes are always
// hidden, as in a diagnostic bundle. TON addresses are kept: the lines
// are shown to the user (or to whoever holds the API token, who controls
// the worker anyway), and the addresses in them are the user's own; a
// bundle, made to be given to others, hides them unless the user opts in.
// The home directory, user and host names are kept for the same reason.
// IP addresses other than loopback are hidden, as the Redactor always does.
func (s *Service) logRedactorConfig() diag.RedactorConfig {
	cfg := diag.RedactorConfig{KeepAddresses: true, PublicHashes: s.publicHashes()}
	if tok, err := readSmallFile(filepath.Join(s.opts.DataDir, apiTokenFile), 64<<10); err == nil {
		cfg.Secrets = append(cfg.Secrets, strings.TrimSpace(tok))
	}
	return cfg
}

// publicHashes are the hashes of the cached stand-in images: they name
// public builds, so logs and bundles may show them.
func (s *Service) publicHashes() []string {
	cache := s.opts.ImageCacheDir
	if cache == "" {
		cache, _ = devmode.DefaultCacheDir()
	}
	return diag.ImageHashes(cache)
}

// readSmallFile reads a regular file of at most limit bytes.
func readSmallFile(path string, limit int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() || fi.Size() > limit {
		return "", fmt.Errorf("%s: not a small regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit))
	return string(b), err
}

// DiagBundle implements API: the doctor's last report and GPU scan (a
// check runs first when there is none yet), the data directory and the
// version go to diag.Write; the stand-in image's hashes name public
// builds, so they stay readable.
func (s *Service) DiagBundle(ctx context.Context, w io.Writer, includeAddresses bool) (diag.Manifest, error) {
	st := s.State()
	report, inv := st.Report, st.GPUs
	if report == nil {
		r, err := s.Check(ctx)
		if ctx.Err() != nil {
			return diag.Manifest{}, ctx.Err()
		}
		if err == nil {
			report = &r
		} else {
			s.log.Warn("diagnostic bundle: the doctor could not run", "error", err)
		}
		inv = s.State().GPUs
	}
	if inv.Time.IsZero() {
		fresh, err := s.GPUs(ctx)
		if ctx.Err() != nil {
			return diag.Manifest{}, ctx.Err()
		}
		inv = fresh
		if err != nil {
			inv.Notes = append(slices.Clip(inv.Notes), err.Error())
		}
	}
	return diag.Write(ctx, w, diag.Options{
		DataDir:          s.opts.DataDir,
		Version:          s.opts.Version,
		Report:           report,
		GPUs:             &inv,
		IncludeAddresses: includeAddresses,
		PublicHashes:     s.publicHashes(),
		Now:              s.opts.Now,
	})
}

// logTail reads a rotated log backwards: the active file first, from its
// end, then its rotations (base.1 is newer than base.2), as one text. A
// line cut by a rotation is joined again.
type logTail struct {
	files []logFile // newest first
	fi    int       // the file being read
	pos   int64     // bytes of files[fi] before pos are unread
	// partial is the start of the text read so far, up to its first line
	// break: the end of a line that starts in older text.
	partial []byte
	// rev are the lines read so far, newest first, cleaned for display;
	// dist[i] is the number of bytes from the start of line i to the end
	// of the text.
	rev     []string
	dist    []int64
	read    int64 // bytes read
	started bool  // a line was emitted (or the final line break skipped)
	eof     bool  // the start of the oldest file was reached
	// version names the files' sizes and times as opened: the same
	// version is the same text.
	version string
}

type logFile struct {
	f    *os.File
	size int64
}

// openLogTail opens path and its rotations. A log that does not exist
// yet is empty; symbolic links and other non-regular files are skipped.
func openLogTail(path string) (*logTail, error) {
	paths, err := vm.RotatedFiles(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &logTail{eof: true, started: true}, nil
	}
	if err != nil {
		return nil, err
	}
	t := &logTail{}
	var infos []os.FileInfo
	var firstErr error
	for _, p := range paths {
		f, info, err := openRegular(p)
		if err != nil {
			if firstErr == nil && !errors.Is(err, fs.ErrNotExist) {
				firstErr = err
			}
			continue
		}
		// A rotation between two opens shows the same file under two
		// names: it is read once.
		if slices.ContainsFunc(infos, func(o os.FileInfo) bool { return os.SameFile(o, info) }) {
			f.Close()
			continue
		}
		infos = append(infos, info)
		t.files = append(t.files, logFile{f: f, size: info.Size()})
		t.version += fmt.Sprintf("%s:%d:%d ", filepath.Base(p), info.Size(), info.ModTime().UnixNano())
	}
	if len(t.files) == 0 && firstErr != nil {
		return nil, firstErr
	}
	if len(t.files) > 0 {
		t.pos = t.files[0].size
	}
	return t, nil
}

// openRegular opens path when it is a regular file and not a link.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	linfo, err := os.Lstat(path)
	if err != nil {
		return nil, nil, err
	}
	if !linfo.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", filepath.Base(path))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil || !os.SameFile(linfo, info) {
		f.Close()
		return nil, nil, fmt.Errorf("%s changed while it was opened", filepath.Base(path))
	}
	return f, info, nil
}

func (t *logTail) close() {
	for _, f := range t.files {
		f.f.Close()
	}
}

// readMore reads one more chunk, reading at most limit bytes in all. It
// returns false when nothing more can be read: the start of the text was
// reached (eof) or the limit.
func (t *logTail) readMore(limit int64) (bool, error) {
	if t.eof {
		return false, nil
	}
	for t.fi < len(t.files) && t.pos == 0 {
		t.fi++
		if t.fi < len(t.files) {
			t.pos = t.files[t.fi].size
		}
	}
	if t.fi >= len(t.files) {
		// The start of the oldest file: what is left is the oldest line.
		t.emit(t.partial)
		t.partial = nil
		t.eof = true
		return false, nil
	}
	n := min(logChunk, t.pos, limit-t.read)
	if n <= 0 {
		return false, nil
	}
	buf := make([]byte, int(n)+len(t.partial))
	if _, err := t.files[t.fi].f.ReadAt(buf[:n], t.pos-n); err != nil {
		if errors.Is(err, io.EOF) {
			// The file shrank since it was opened: what it held is gone.
			t.pos = 0
			return true, nil
		}
		return false, err
	}
	copy(buf[n:], t.partial)
	t.pos -= n
	t.read += n
	end := len(buf)
	for {
		i := bytes.LastIndexByte(buf[:end], '\n')
		if i < 0 {
			break
		}
		t.emit(buf[i+1 : end])
		end = i
	}
	t.partial = buf[:end]
	return true, nil
}

// emit adds the next older line.
func (t *logTail) emit(raw []byte) {
	if !t.started {
		t.started = true
		if len(raw) == 0 {
			return // the text ends with a line break
		}
	}
	var d int64
	if n := len(t.dist); n > 0 {
		d = t.dist[n-1]
	}
	t.rev = append(t.rev, cleanLine(raw))
	t.dist = append(t.dist, d+int64(len(raw))+1)
}

// has reports whether line i (0 is the newest) can be read within limit
// bytes, reading as much as it needs.
func (t *logTail) has(i int, limit int64) (bool, error) {
	for len(t.rev) <= i {
		more, err := t.readMore(limit)
		if err != nil {
			return false, err
		}
		if !more {
			return len(t.rev) > i, nil
		}
	}
	return true, nil
}

// newest returns the newest q.Limit lines that match q, oldest first,
// redacted by r, and whether older matching lines exist or were not
// searched. Lines are chosen by their text as read and kept only if they
// still match once redacted (or, searching for a placeholder's text,
// only by their redacted text).
func (t *logTail) newest(ctx context.Context, r *diag.Redactor, q LogQuery) ([]string, bool, error) {
	needle := strings.ToLower(q.Contains)
	match := func(s string) bool { return needle == "" || strings.Contains(strings.ToLower(s), needle) }
	// A search for a placeholder's text ("redacted", "<ip>") can match a
	// line only once it is redacted: every line is then a candidate.
	anyLine := needle != "" && slices.ContainsFunc(diag.Placeholders(), func(p string) bool {
		return strings.Contains(p, needle) || strings.Contains(needle, p)
	})
	want := q.Limit + 1 // one more than shown says whether there are more
	readLimit := int64(logReadBudget + logLookback)
	var found []string // newest first
	truncated, done := false, false
	next := 0
	for !done && len(found) < want {
		var cands []int
		for len(cands) < want-len(found) {
			if err := ctx.Err(); err != nil {
				return nil, false, err
			}
			ok, err := t.has(next, readLimit)
			if err != nil {
				return nil, false, err
			}
			if !ok {
				// The start of the log, or the end of what one call reads.
				truncated = truncated || !t.eof
				done = true
				break
			}
			if !t.eof && t.dist[next] > logReadBudget {
				// Older lines are read only as context for newer ones.
				truncated, done = true, true
				break
			}
			if anyLine || match(t.rev[next]) {
				cands = append(cands, next)
			}
			next++
		}
		if len(cands) == 0 {
			break
		}
		red, err := t.redactAround(r, cands, readLimit)
		if err != nil {
			return nil, false, err
		}
		for _, line := range red {
			if match(line) {
				found = append(found, cutLine(line))
			}
		}
	}
	if len(found) > q.Limit {
		found, truncated = found[:q.Limit], true
	}
	slices.Reverse(found)
	return found, truncated, nil
}

// redactAround redacts the lines cands (ascending: newest first) with the
// lines around them as context, and returns them in the same order.
func (t *logTail) redactAround(r *diag.Redactor, cands []int, readLimit int64) ([]string, error) {
	lineLen := func(j int) int64 { // raw length with the line break
		if j == 0 {
			return t.dist[0]
		}
		return t.dist[j] - t.dist[j-1]
	}
	type block struct{ lo, hi int } // newest and oldest line, inclusive
	var blocks []block
	for _, c := range cands {
		lo := c
		for acc := int64(0); lo > 0 && acc+lineLen(lo-1) <= logLookahead; lo-- {
			acc += lineLen(lo - 1)
		}
		hi := c
		for {
			ok, err := t.has(hi+1, readLimit)
			if err != nil {
				return nil, err
			}
			if !ok || t.dist[hi+1]-t.dist[c] > logLookback {
				break
			}
			hi++
		}
		if n := len(blocks); n > 0 && lo <= blocks[n-1].hi+1 {
			blocks[n-1].hi = max(blocks[n-1].hi, hi)
			continue
		}
		blocks = append(blocks, block{lo, hi})
	}
	redacted := make(map[int]string, len(cands))
	for _, b := range blocks {
		lines := make([]string, 0, b.hi-b.lo+1)
		for j := b.hi; j >= b.lo; j-- {
			lines = append(lines, t.rev[j])
		}
		out := r.RedactLines(lines)
		for j := b.lo; j <= b.hi; j++ {
			redacted[j] = out[b.hi-j]
		}
	}
	res := make([]string, len(cands))
	for i, c := range cands {
		res[i] = redacted[c]
	}
	return res, nil
}

// cleanLine makes a raw line fit for display: valid UTF-8, without
// terminal escape sequences or control characters other than tabs. A
// carriage return inside the line overwrote what came before it on a
// terminal; only what follows the last one is kept.
func cleanLine(raw []byte) string {
	raw = bytes.TrimRight(raw, "\r")
	if i := bytes.LastIndexByte(raw, '\r'); i >= 0 {
		raw = raw[i+1:]
	}
	plain := true
	for _, c := range raw {
		if c < 0x20 && c != '\t' || c >= 0x7f {
			plain = false
			break
		}
	}
	if plain {
		return string(raw)
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == 0x1b:
			i = skipEscape(raw, i)
		case c == '\t' || c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
			i++
		case c < 0x80:
			i++ // another control character
		default:
			r, size := utf8.DecodeRune(raw[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				b.WriteRune(utf8.RuneError)
			case r >= 0x80 && r < 0xa0: // C1 controls
			default:
				b.Write(raw[i : i+size])
			}
			i += size
		}
	}
	return b.String()
}

// skipEscape returns the index after the escape sequence that starts at
// raw[i] (an ESC): a CSI sequence (ESC [ … final byte), an OSC sequence
// (ESC ] … BEL or ESC \), or ESC and one more character.
func skipEscape(raw []byte, i int) int {
	i++
	if i >= len(raw) {
		return i
	}
	switch raw[i] {
	case '[':
		for i++; i < len(raw); i++ {
			if raw[i] >= 0x40 && raw[i] <= 0x7e {
				return i + 1
			}
		}
		return i
	case ']':
		for i++; i < len(raw); i++ {
			if raw[i] == 0x07 {
				return i + 1
			}
			if raw[i] == 0x1b && i+1 < len(raw) && raw[i+1] == '\\' {
				return i + 2
			}
		}
		return i
	}
	return i + 1
}

// cutLine shortens a line to MaxLogLine bytes (at a character boundary).
func cutLine(s string) string {
	if len(s) <= MaxLogLine {
		return s
	}
	n := MaxLogLine
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
