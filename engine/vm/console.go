package vm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Console log defaults.
const (
	// DefaultConsoleMaxBytes is the size at which console.log is rotated.
	DefaultConsoleMaxBytes = 8 << 20
	// DefaultConsoleFiles is how many files a console log may span:
	// console.log plus console.log.1 … console.log.(Files-1).
	DefaultConsoleFiles = 4
	// DefaultConsoleTailBytes is how much of the most recent output is kept
	// in memory for error messages and exit reports.
	DefaultConsoleTailBytes = 16 << 10
)

// ConsoleOptions says where and how much of the guest console is kept.
type ConsoleOptions struct {
	// Path of the active log file, e.g. <instance dir>/console.log. Empty
	// keeps only the in-memory tail.
	Path string
	// MaxBytes is the most one file may hold (default DefaultConsoleMaxBytes).
	MaxBytes int64
	// Files is the number of files the log may span, the active one
	// included (default DefaultConsoleFiles). On disk the log never holds
	// more than MaxBytes × Files bytes.
	Files int
	// TailBytes is the size of the in-memory tail (default DefaultConsoleTailBytes).
	TailBytes int
}

func (o ConsoleOptions) withDefaults() ConsoleOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultConsoleMaxBytes
	}
	if o.Files <= 0 {
		o.Files = DefaultConsoleFiles
	}
	if o.TailBytes <= 0 {
		o.TailBytes = DefaultConsoleTailBytes
	}
	return o
}

// ConsoleLog is a size-bounded, rotating log of the guest console (QEMU's
// stdout and stderr). Write never fails and never blocks on anything but
// the local file system, so a full disk or a broken file cannot stall
// QEMU: the first file error is kept (Err) and later output goes to the
// in-memory tail only until a rotation reopens the file. It is safe for
// concurrent use.
type ConsoleLog struct {
	opts ConsoleOptions

	mu   sync.Mutex
	f    *os.File
	size int64
	err  error
	tail *ring
}

// OpenConsoleLog opens (appending to) the console log at opts.Path, creating
// its directory if needed. An existing file counts towards MaxBytes.
func OpenConsoleLog(opts ConsoleOptions) (*ConsoleLog, error) {
	opts = opts.withDefaults()
	c := &ConsoleLog{opts: opts, tail: newRing(opts.TailBytes)}
	if opts.Path == "" {
		return c, nil
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o750); err != nil {
		return nil, fmt.Errorf("console log directory: %w", err)
	}
	if err := c.open(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *ConsoleLog) open() error {
	f, err := os.OpenFile(c.opts.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open console log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat console log: %w", err)
	}
	c.f, c.size = f, st.Size()
	return nil
}

// Write records p in the tail and the log file. It always reports len(p), nil.
func (c *ConsoleLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tail.Write(p)
	if c.opts.Path == "" {
		return len(p), nil
	}
	rest := p
	for len(rest) > 0 {
		if c.f == nil {
			if err := c.open(); err != nil {
				c.keepErr(err)
				break
			}
		}
		if c.size >= c.opts.MaxBytes {
			if err := c.rotate(); err != nil {
				c.keepErr(err)
				break
			}
		}
		n := min(int64(len(rest)), c.opts.MaxBytes-c.size)
		w, err := c.f.Write(rest[:n])
		c.size += int64(w)
		if err != nil {
			c.keepErr(fmt.Errorf("write console log: %w", err))
			break
		}
		rest = rest[n:]
	}
	return len(p), nil
}

// rotate shifts console.log.(i) to .(i+1), dropping the oldest, and starts
// an empty active file.
func (c *ConsoleLog) rotate() error {
	if c.f != nil {
		err := c.f.Close()
		c.f = nil
		if err != nil {
			c.keepErr(fmt.Errorf("close console log: %w", err))
		}
	}
	base := c.opts.Path
	if c.opts.Files <= 1 {
		if err := os.Truncate(base, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("truncate console log: %w", err)
		}
	} else {
		last := fmt.Sprintf("%s.%d", base, c.opts.Files-1)
		if err := os.Remove(last); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate console log: %w", err)
		}
		for i := c.opts.Files - 2; i >= 0; i-- {
			from := base
			if i > 0 {
				from = fmt.Sprintf("%s.%d", base, i)
			}
			if err := os.Rename(from, fmt.Sprintf("%s.%d", base, i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("rotate console log: %w", err)
			}
		}
	}
	return c.open()
}

func (c *ConsoleLog) keepErr(err error) {
	if c.err == nil {
		c.err = err
	}
}

// Tail returns the most recent output, at most TailBytes of it.
func (c *ConsoleLog) Tail() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tail.Bytes()
}

// Err returns the first error the log met while writing, if any.
func (c *ConsoleLog) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Path returns the active log file ("" when only the tail is kept).
func (c *ConsoleLog) Path() string { return c.opts.Path }

// Close closes the log file. Later writes still reach the tail and reopen
// the file, resuming at its size on disk.
func (c *ConsoleLog) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	c.size = 0
	if err != nil {
		return fmt.Errorf("close console log: %w", err)
	}
	return nil
}

var _ io.Writer = (*ConsoleLog)(nil)

// ring keeps the last n bytes written to it.
type ring struct {
	buf  []byte
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([]byte, n)} }

func (r *ring) Write(p []byte) {
	if len(r.buf) == 0 {
		return
	}
	if len(p) >= len(r.buf) {
		copy(r.buf, p[len(p)-len(r.buf):])
		r.next, r.full = 0, true
		return
	}
	n := copy(r.buf[r.next:], p)
	if n < len(p) {
		copy(r.buf, p[n:])
		r.full = true
	}
	r.next = (r.next + len(p)) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

func (r *ring) Bytes() []byte {
	if !r.full {
		return append([]byte(nil), r.buf[:r.next]...)
	}
	out := make([]byte, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}

// lockedRing is a ring for concurrent writers (the stderr copy).
type lockedRing struct {
	mu sync.Mutex
	r  *ring
}

func newLockedRing(n int) *lockedRing { return &lockedRing{r: newRing(n)} }

func (l *lockedRing) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r.Write(p)
	return len(p), nil
}

func (l *lockedRing) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Bytes()
}

// RotatedFiles lists a rotating log at path and its rotations (path.1,
// path.2, … as ConsoleLog writes them) that exist, newest first. A missing
// directory is fs.ErrNotExist.
func RotatedFiles(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	ents, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return nil, err
	}
	type rotation struct {
		name string
		n    int
	}
	var found []rotation
	for _, e := range ents {
		switch name := e.Name(); {
		case name == base:
			found = append(found, rotation{name, 0})
		case strings.HasPrefix(name, base+"."):
			suffix := strings.TrimPrefix(name, base+".")
			if n, err := strconv.Atoi(suffix); err == nil && n > 0 && strconv.Itoa(n) == suffix {
				found = append(found, rotation{name, n})
			}
		}
	}
	slices.SortFunc(found, func(a, b rotation) int { return a.n - b.n })
	out := make([]string, len(found))
	for i, r := range found {
		out[i] = filepath.Join(dir, r.name)
	}
	return out, nil
}
