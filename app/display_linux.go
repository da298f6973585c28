package app

import (
	"errors"
)

// ErrNoDisplay is returned by Run when there is no graphical session to open a window in.
var ErrNoDisplay = errors.New("no graphical display (neither DISPLAY nor WAYLAND_DISPLAY is set): " +
	"run a command instead, such as `cocoon-provider doctor` or `cocoon-provider dev` (see `cocoon-provider help`), " +
	"or start the app inside a desktop session")

// checkDisplay fails early where GLFW could only panic.
func checkDisplay(getenv func(string) string) error {
	if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return ErrNoDisplay
	}
	return nil
}
