package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/remote"
	"github.com/cocoon-provider/cocoon-provider/internal/autostart"
)

// serveAPI serves the control API on the data directory's unix socket and,
// with --api, on TCP; the session's close ends both. onShow is what a
// second launch of the desktop app triggers (nil for headless).
func (s *session) serveAPI(dataDir, version string, a listenFlags, onShow func(), stdout io.Writer) error {
	token, err := remote.LoadOrCreateToken(dataDir)
	if err != nil {
		return err
	}
	listeners := 1
	if a.addr != "" {
		listeners = 2
	}
	up := make(chan string, listeners)
	srv := remote.NewServer(s.svc, remote.ServerOptions{Token: token, Version: version, Logger: s.log, OnShow: onShow,
		OnListen: func(addr string) { up <- addr }})
	ctx, cancel := context.WithCancel(context.Background())
	s.apiStop = cancel
	sock := remote.SocketPath(dataDir)
	errs := make(chan error, listeners)
	serve := func(what string, f func() error) {
		s.apiWG.Add(1)
		go func() {
			defer s.apiWG.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				s.log.Error("control API stopped", "listener", what, "error", err)
				errs <- fmt.Errorf("%s: %w", what, err)
			}
		}()
	}
	serve("unix socket "+sock, func() error { return srv.ServeUnix(ctx, sock) })
	if a.addr != "" {
		serve("--api "+a.addr, func() error { return srv.ServeTCP(ctx, a.addr, a.public, dataDir) })
	}
	// Every listener either accepts connections or fails to start.
	for range listeners {
		select {
		case err := <-errs:
			cancel()
			s.apiWG.Wait()
			return err
		case <-up:
		}
	}
	s.log.Info("serving the control API", "socket", sock, "tcp", a.addr)
	if stdout != nil && a.addr != "" {
		scheme := "http"
		fp := ""
		if a.public {
			scheme = "https"
			if f, err := remote.CertFingerprint(dataDir); err == nil {
				fp = " --fingerprint " + f
			}
		}
		fmt.Fprintf(stdout, "Control API: %s://%s (token in %s/api-token). From another machine: cocoon-provider --remote %s://HOST:PORT --token-file FILE%s\n",
			scheme, a.addr, dataDir, scheme, fp)
	}
	return nil
}

// stopAPI ends the control API listeners, if they run.
func (s *session) stopAPI() {
	if s.apiStop != nil {
		s.apiStop()
		s.apiWG.Wait()
	}
}

// cmdRun is `run`: the desktop app, or with --headless the same engine
// as a service: the worker started, the control API and metrics served,
// logs on stderr (the journal under systemd), until SIGTERM.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	headless := hasFlag(args, "headless")
	if !headless && guiBuilt {
		return cmdGUI(ctx, args, stderr)
	}
	fs := newFlagSet("run", stderr)
	var c common
	c.register(fs, "info")
	metrics := metricsFlags()
	metrics.register(fs, metricsUsage, metricsPublicUsage)
	api := apiFlags()
	api.register(fs, apiUsage, apiPublicUsage)
	fs.Bool("headless", false, "run without the desktop app (a service)")
	onStop := fs.String("on-stop", "stop", "on SIGTERM: stop the worker VM, or leave it running for the next start to adopt")
	noStart := fs.Bool("no-start", false, "do not start the worker; only serve the API and metrics (monitoring attached workers)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *onStop != "stop" && *onStop != "leave" {
		return fmt.Errorf("--on-stop %q: use stop or leave", *onStop)
	}
	if err := errors.Join(metrics.check(), api.check()); err != nil {
		return err
	}
	c.logFile = true
	sess, err := c.startServing(stderr, metrics)
	if err != nil {
		return err
	}
	if err := sess.serveAPI(c.dataDir, versionString(), api, nil, stdout); err != nil {
		return errors.Join(fmt.Errorf("control API: %w", err), sess.close())
	}
	svc := sess.svc
	log := sess.log
	log.Info("Cocoon Provider started headless", "version", versionString(), "data_dir", c.dataDir, "mode", svc.State().Mode)
	go logInstanceEvents(sess.runCtx, svc, log)
	notices := make(chan string, 4)
	go watchUpdates(sess.runCtx, c.dataDir, notices, log)
	go func() {
		for {
			select {
			case msg := <-notices:
				log.Info(msg)
			case <-sess.runCtx.Done():
				return
			}
		}
	}()
	var runErr error
	if !*noStart {
		if err := svc.StartDev(ctx); err != nil {
			if ctx.Err() != nil {
				err = nil // stopped while preparing
			}
			return errors.Join(err, sess.close())
		}
	}
	select {
	case <-ctx.Done():
		log.Info("stopping", "on_stop", *onStop)
	case <-devDone(svc, *noStart):
		runErr = errors.New("the worker VM failed and was not restarted; see the log above")
		if inst := svc.State().Dev; inst != nil && inst.LastExit != "" {
			runErr = fmt.Errorf("the worker VM failed and was not restarted: %s", inst.LastExit)
		}
	}
	if *onStop == "leave" && runErr == nil {
		lctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := svc.LeaveDev(lctx)
		cancel()
		runErr = err
	}
	return errors.Join(runErr, sess.close())
}

// devDone is the dev instance's end, or a channel that never closes.
func devDone(svc *engine.Service, none bool) <-chan struct{} {
	if ch := svc.DevDone(); ch != nil && !none {
		return ch
	}
	return nil
}

// logInstanceEvents writes the engine's instance messages and alerts to
// the log (the journal under systemd): what an operator reads with
// journalctl. An alert is a warning; one that says a problem is over
// (Clear) is information.
func logInstanceEvents(ctx context.Context, svc engine.API, log interface {
	Info(string, ...any)
	Warn(string, ...any)
}) {
	for ev := range svc.Subscribe(ctx) {
		if a := ev.Alert; ev.Kind == engine.EventAlert && a != nil {
			args := []any{"event", ev.Kind, "alert", a.Kind, "body", a.Body}
			if a.Instance != engine.NoInstance {
				args = append(args, "instance", a.Instance)
			}
			if a.Clear {
				log.Info(a.Title, args...)
			} else {
				log.Warn(a.Title, args...)
			}
			continue
		}
		if ev.Message == "" {
			continue
		}
		switch ev.Kind {
		case engine.EventError:
			log.Warn(ev.Message, "event", ev.Kind)
		case engine.EventInstance, engine.EventPause, engine.EventEarnings:
			log.Info(ev.Message, "event", ev.Kind)
		}
	}
}

// hasFlag reports whether args hold the boolean flag -name or --name
// (before any "--").
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-" + name, "--" + name, "-" + name + "=true", "--" + name + "=true":
			return true
		}
	}
	return false
}

// sessionAutostart is the desktop app's entry in the session's autostart.
func sessionAutostart() (autostart.Entry, error) {
	dir, err := autostart.Dir(os.Getenv)
	if err != nil {
		return autostart.Entry{}, err
	}
	exe, err := os.Executable()
	if err != nil {
		return autostart.Entry{}, err
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return autostart.Entry{Dir: dir, Exec: exe}, nil
}

// cmdAutostart is `autostart on|off|status`: start the desktop app (in the
// tray) with the desktop session.
func cmdAutostart(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("autostart", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	what := "status"
	if fs.NArg() == 1 {
		what = fs.Arg(0)
	} else if fs.NArg() > 1 {
		return fmt.Errorf("autostart takes one of on, off, status; have %q", fs.Args())
	}
	e, err := sessionAutostart()
	if err != nil {
		return err
	}
	switch what {
	case "on", "off":
		if err := e.Set(what == "on"); err != nil {
			return err
		}
	case "status":
	default:
		return fmt.Errorf("autostart %q: use on, off or status", what)
	}
	if e.Enabled() {
		fmt.Fprintf(stdout, "Cocoon Provider starts in the tray with your desktop session (%s).\n", filepath.Join(e.Dir, autostart.FileName))
	} else {
		fmt.Fprintln(stdout, "Cocoon Provider does not start with your desktop session (`cocoon-provider autostart on` to change that).")
	}
	return nil
}

// handOver keeps the worker running without this process (the desktop
// app quitting with "Keep it running"): the VM is left running, the data
// directory released, and `run --headless` started in the background,
// which adopts the VM. It returns the service's PID; the session is closed.
func (s *session) handOver(dataDir, qemu string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	leaveErr := s.svc.LeaveDev(ctx)
	cancel()
	if err := errors.Join(leaveErr, s.close()); err != nil {
		return 0, err
	}
	pid, err := startHeadless(dataDir, qemu)
	if err != nil {
		return 0, fmt.Errorf("the worker VM was left running but the background service did not start (%w); run `cocoon-provider run --headless` or `cocoon-provider stop`", err)
	}
	return pid, nil
}

// headlessCommand builds the background service's command (tests run
// their own binary instead).
var headlessCommand = exec.Command
