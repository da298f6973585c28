package main

import (
	"bytes"
	"io"
	"sync"
)

// logSink is where the agent's log goes: every console it knows of, each
// line prefixed so it stands out among kernel messages, plus a bounded copy
// of the most recent lines for the health "logs" command.
type logSink struct {
	mu      sync.Mutex
	prefix  string
	outs    []io.Writer
	ring    []string
	next    int
	full    bool
	partial []byte
}

func newLogSink(prefix string, keep int, out ...io.Writer) *logSink {
	if keep < 1 {
		keep = 1
	}
	return &logSink{prefix: prefix, outs: out, ring: make([]string, keep)}
}

// Write takes log output; only complete lines are stored and forwarded.
// Console errors are ignored: the log must never stop the agent.
func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := string(s.partial[:i])
		s.partial = s.partial[i+1:]
		s.store(line)
		for _, w := range s.outs {
			_, _ = io.WriteString(w, s.prefix+line+"\n")
		}
	}
	return len(p), nil
}

func (s *logSink) store(line string) {
	s.ring[s.next] = line
	s.next++
	if s.next == len(s.ring) {
		s.next, s.full = 0, true
	}
}

// AddOutput adds a console that appeared late (hvc0 once virtio_console is
// loaded) and, with replay, writes the lines logged so far to it first.
func (s *logSink) AddOutput(w io.Writer, replay bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if replay {
		for _, line := range s.tailLocked(len(s.ring)) {
			_, _ = io.WriteString(w, s.prefix+line+"\n")
		}
	}
	s.outs = append(s.outs, w)
}

// Tail returns up to n of the most recent lines, oldest first.
func (s *logSink) Tail(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tailLocked(n)
}

func (s *logSink) tailLocked(n int) []string {
	var all []string
	if s.full {
		all = append(all, s.ring[s.next:]...)
	}
	all = append(all, s.ring[:s.next]...)
	if n < len(all) {
		all = all[len(all)-n:]
	}
	return append([]string(nil), all...)
}
