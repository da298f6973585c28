//go:build !nogui

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/cocoon-provider/cocoon-provider/app"
	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/remote"
)

// guiBuilt: this build has the desktop app.
const guiBuilt = true

func cmdGUI(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("cocoon-provider", stderr)
	var c common
	c.register(fs, "info")
	metrics := metricsFlags()
	metrics.register(fs, metricsUsage, metricsPublicUsage)
	api := apiFlags()
	api.register(fs, apiUsage, apiPublicUsage)
	var rf remoteFlags
	rf.register(fs)
	hidden := fs.Bool("hidden", false, "start with only the tray icon")
	screen := fs.String("show", "", "open on this screen: "+strings.Join(app.Screens, ", "))
	fs.Bool("headless", false, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := errors.Join(metrics.check(), api.check()); err != nil {
		return err
	}
	if *screen != "" && !slices.Contains(app.Screens, *screen) {
		return fmt.Errorf("--show %s: there is no such screen; choose one of %s", *screen, strings.Join(app.Screens, ", "))
	}
	opts := app.Options{Version: versionString(), Hidden: *hidden, Connect: connectRemote, Screen: *screen}
	if rf.target != "" {
		client, err := rf.dial(ctx)
		if err != nil {
			return err
		}
		defer client.Close()
		opts.Remote = rf.target
		_, err = app.Run(ctx, client, opts)
		return err
	}
	if runtime.GOOS != "linux" {
		// Workers run on Linux only: here the app is a monitor.
		opts.Remote = "none yet"
		_, err := app.Run(ctx, remote.Disconnected("This system cannot run the worker itself: use Remote host… to watch a Linux worker host (cocoon-provider run --headless --api-public there)."), opts)
		return err
	}
	// One app per data directory: a second launch shows the first one's
	// window; a headless engine already running here is watched instead.
	if client, err := remote.Dial(ctx, "unix://"+remote.SocketPath(c.dataDir), "", ""); err == nil {
		defer client.Close()
		if err := client.Show(ctx); err == nil {
			fmt.Fprintln(stderr, "Cocoon Provider is already running; its window was brought to the front.")
			return nil
		}
		fmt.Fprintln(stderr, "Cocoon Provider runs here without a desktop app (run --headless); showing it.")
		opts.Remote = "this machine's headless service"
		_, err = app.Run(ctx, client, opts)
		return err
	}
	c.logFile = true
	sess, err := c.startServing(stderr, metrics)
	if err != nil {
		return err
	}
	show := make(chan struct{}, 1)
	onShow := func() {
		select {
		case show <- struct{}{}:
		default:
		}
	}
	if err := sess.serveAPI(c.dataDir, versionString(), api, onShow, os.Stdout); err != nil {
		// The app works without it; only a second launch and remote
		// monitoring need it.
		sess.log.Warn("control API not served", "error", err)
	}
	notices := make(chan string, 4)
	go watchUpdates(sess.runCtx, c.dataDir, notices, sess.log)
	opts.Logger, opts.Show, opts.Notices = sess.log, show, notices
	if e, err := sessionAutostart(); err == nil {
		opts.Autostart = e
	}
	choice, err := app.Run(ctx, sess.svc, opts)
	if choice != app.QuitLeaveRunning {
		return errors.Join(err, sess.close())
	}
	pid, herr := sess.handOver(c.dataDir, c.qemu)
	if herr != nil {
		return errors.Join(err, herr)
	}
	sess.log.Info("the worker keeps running in the background", "pid", pid)
	return err
}

// connectRemote is the desktop app's "Connect to a remote host".
func connectRemote(ctx context.Context, target, token, fingerprint string) (engine.API, io.Closer, error) {
	c, err := remote.Dial(ctx, target, token, fingerprint)
	if err != nil {
		return nil, nil, err
	}
	return c, c, nil
}
