//go:build !linux || !cgo

package gpu

import (
	"context"
	"time"
)

// noNVML is why this build reports no NVML GPUs.
const noNVML = "this build has no NVML (go-nvml needs cgo on Linux): GPU telemetry is unavailable"

// NVML stands for the NVIDIA management library, which this build cannot
// load: a Scanner reports NVML as unavailable whatever it is given, and
// sysfs still lists the GPUs.
type NVML interface{}

// NewNVML returns nil: this build has no NVML.
func NewNVML() NVML { return nil }

// nvmlSession is never opened in this build.
type nvmlSession struct{}

// scanNVML reports NVML as unavailable.
func (s *Scanner) scanNVML(_ context.Context, _ time.Time, st *NVMLStatus) ([]GPU, []string, error) {
	st.Reason = noNVML
	return nil, nil, nil
}

// shutdown has no NVML session to close.
func (s *Scanner) shutdown() error { return nil }
