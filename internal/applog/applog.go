// Package applog builds the app's logger: text lines on stderr (in the
// journal's form when systemd captures stderr) and, for long-running
// commands, a copy in a rotating file that the diagnostic bundle reads.
package applog

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Options say where log lines go.
type Options struct {
	Level slog.Level
	// Stderr receives every line at Level or above.
	Stderr io.Writer
	// Journal writes Stderr's lines for systemd's journal: no time stamp
	// (the journal adds its own) and a "<N>" syslog priority prefix.
	Journal bool
	// File, if not nil, receives the same lines with time stamps.
	File io.Writer
}

// New returns the logger Options describe.
func New(o Options) *slog.Logger {
	var handlers []slog.Handler
	if o.Journal {
		noTime := func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
		handlers = append(handlers, slog.NewTextHandler(&priorityWriter{w: o.Stderr}, &slog.HandlerOptions{Level: o.Level, ReplaceAttr: noTime}))
	} else {
		handlers = append(handlers, slog.NewTextHandler(o.Stderr, &slog.HandlerOptions{Level: o.Level}))
	}
	if o.File != nil {
		handlers = append(handlers, slog.NewTextHandler(o.File, &slog.HandlerOptions{Level: o.Level}))
	}
	if len(handlers) == 1 {
		return slog.New(handlers[0])
	}
	return slog.New(slog.NewMultiHandler(handlers...))
}

// priorityWriter prefixes each record (slog's text handler writes one
// record per Write) with the syslog priority of its level, which journald
// reads from the start of a line.
type priorityWriter struct{ w io.Writer }

func (p *priorityWriter) Write(b []byte) (int, error) {
	prio := 6 // info
	switch {
	case bytes.HasPrefix(b, []byte("level=ERROR")):
		prio = 3
	case bytes.HasPrefix(b, []byte("level=WARN")):
		prio = 4
	case bytes.HasPrefix(b, []byte("level=DEBUG")):
		prio = 7
	}
	line := make([]byte, 0, len(b)+3)
	line = append(line, '<', byte('0'+prio), '>')
	line = append(line, b...)
	if _, err := p.w.Write(line); err != nil {
		return 0, err
	}
	return len(b), nil
}

// ParseLevel reads debug, info, warn or error.
func ParseLevel(s string) (slog.Level, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return 0, fmt.Errorf("log level %q: use debug, info, warn or error", s)
	}
	return lvl, nil
}
