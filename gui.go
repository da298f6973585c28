//go:build !nogui

package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/cocoon-provider/cocoon-provider/app"
)

func cmdGUI(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("cocoon-provider", stderr)
	var c common
	c.register(fs, "info")
	hidden := fs.Bool("hidden", false, "start with only the tray icon")
	if err := fs.Parse(args); err != nil {
		return err
	}
	svc, log, closeAll, err := c.openLocked(stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if err := svc.Run(ctx); err != nil {
			log.Error("engine stopped", "error", err)
		}
	}()
	err = app.Run(ctx, svc, app.Options{Version: versionString(), Hidden: *hidden, Logger: log})
	// Leaving a VM running headless is a later choice; for now quitting stops it.
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer stopCancel()
	return errors.Join(err, svc.StopDev(stopCtx))
}
