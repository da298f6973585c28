//go:build !nogui

package main

import (
	"context"
	"errors"
	"io"

	"github.com/cocoon-provider/cocoon-provider/app"
)

func cmdGUI(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("cocoon-provider", stderr)
	var c common
	c.register(fs, "info")
	var metrics metricsFlags
	metrics.register(fs)
	hidden := fs.Bool("hidden", false, "start with only the tray icon")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := metrics.check(); err != nil {
		return err
	}
	sess, err := c.start(stderr)
	if err != nil {
		return err
	}
	if err := sess.serveMetrics(metrics); err != nil {
		return errors.Join(err, sess.close())
	}
	// Leaving a VM running headless is a later choice; for now quitting stops it.
	err = app.Run(ctx, sess.svc, app.Options{Version: versionString(), Hidden: *hidden, Logger: sess.log})
	return errors.Join(err, sess.close())
}
