//go:build !linux

package engine

import (
	"context"
	"time"
)

// noIdle is the IdleSource of systems without logind.
type noIdle struct{}

// newIdleSource returns an IdleSource that never knows: idle detection
// uses logind, which only Linux has.
func newIdleSource(func() time.Time) IdleSource { return noIdle{} }

// Idle implements IdleSource.
func (noIdle) Idle(context.Context) IdleState {
	return IdleState{Why: "idle detection is unavailable: it needs logind (Linux)"}
}
