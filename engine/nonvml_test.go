//go:build !linux || !cgo

package engine

import "github.com/cocoon-provider/cocoon-provider/engine/gpu"

// noNVML is this build's NVML, which is none.
func noNVML() gpu.NVML { return nil }
