//go:build nogui

package main

import (
	"context"
	"errors"
	"io"
)

// guiBuilt: this build has the desktop app.
const guiBuilt = false

func cmdGUI(context.Context, []string, io.Writer) error {
	return errors.New("this build has no desktop app (built with -tags nogui); use a command such as `cocoon-provider doctor`, see `cocoon-provider help`")
}
