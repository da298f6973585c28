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
	// The engine outlives the window: on quit or SIGTERM the VM is stopped
	// first, and only then is the database closed.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		if err := svc.Run(runCtx); err != nil {
			log.Error("engine stopped", "error", err)
		}
	}()
	err = app.Run(ctx, svc, app.Options{Version: versionString(), Hidden: *hidden, Logger: log})
	// Leaving a VM running headless is a later choice; for now quitting stops it.
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer stopCancel()
	err = errors.Join(err, svc.StopDev(stopCtx))
	cancel()
	<-runDone
	return err
}
