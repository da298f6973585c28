//go:build !linux

package tray

// Available reports whether the platform offers a tray; Windows and macOS always do.
func Available() (bool, string) { return true, "" }
