//go:build !linux || !cgo

package gpu

import "context"

// Processes returns nil: this build has no NVML to ask.
func (s *Scanner) Processes(ctx context.Context) ([]GPUProcesses, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return nil, ctx.Err()
}
