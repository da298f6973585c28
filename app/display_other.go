//go:build !linux

package app

import "errors"

// ErrNoDisplay is returned by Run when there is no graphical session to open a window in.
var ErrNoDisplay = errors.New("no graphical display")

// checkDisplay: Windows and macOS always have a window system.
func checkDisplay(func(string) string) error { return nil }
