//go:build linux

// Command cocoon-provider-helper is Cocoon Provider's privileged GPU
// helper: the only part of the app that runs as root. It serves one
// request per invocation, read as JSON from stdin, and writes a JSON reply
// to stdout (package engine/helper has the operations and formats):
//
//	{"op":"bind-vfio","pci":"0000:17:00.0"}
//	{"op":"restore","pci":"0000:17:00.0"}
//	{"op":"set-cc-mode","pci":"0000:17:00.0","mode":"on"}
//	{"op":"status","pci":"0000:17:00.0"}
//
// The app runs it as `pkexec /usr/lib/cocoon-provider/cocoon-provider-helper`
// (polkit action org.cocoon-provider.gpu-passthrough); an administrator may
// also pipe a request into it with sudo. It takes no arguments, refuses to
// run unless root, logs every request (operation, PCI address, result and
// the calling uid pkexec reports) to stderr and to syslog/the journal, and
// exits 0 on success, 1 on a refused or failed request and 2 on misuse.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/helper"
)

// version is set by the release build (-X main.version=...).
var version = "dev"

// maxRun bounds one request: a CC mode switch resets the GPU twice.
const maxRun = 15 * time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := environment{
		euid:    os.Geteuid(),
		getenv:  os.Getenv,
		sysroot: "/",
		cc:      helper.DefaultCCTool(),
	}
	if w, err := syslog.New(syslog.LOG_AUTHPRIV|syslog.LOG_INFO, "cocoon-provider-helper"); err == nil {
		env.syslog = w
		defer w.Close()
	}
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, env)
	stop()
	os.Exit(code)
}

// environment is what run takes from the process, injected for tests.
type environment struct {
	euid    int
	getenv  func(string) string
	sysroot string // the directory holding sys/
	cc      helper.CCTool
	syslog  io.Writer // nil: log to stderr only
}

// run serves one request and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env environment) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "cocoon-provider-helper %s: takes no arguments; it reads one JSON request on stdin, e.g.\n"+
			"  echo '{\"op\":\"status\",\"pci\":\"0000:17:00.0\"}' | sudo %s\n", version, helper.DefaultHelperPath)
		return 2
	}
	handlers := []slog.Handler{slog.NewTextHandler(stderr, nil)}
	if env.syslog != nil {
		handlers = append(handlers, slog.NewTextHandler(env.syslog, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{} // syslog stamps the time
				}
				return a
			},
		}))
	}
	log := slog.New(slog.NewMultiHandler(handlers...))
	caller := "unknown"
	if uid := env.getenv("PKEXEC_UID"); uid != "" {
		caller = "uid " + uid + " (pkexec)"
	} else if uid := env.getenv("SUDO_UID"); uid != "" {
		caller = "uid " + uid + " (sudo)"
	}
	if env.euid != 0 {
		log.Error("gpu helper refused: not running as root", "caller", caller, "euid", env.euid)
		fmt.Fprintln(stderr, "cocoon-provider-helper: must run as root (through pkexec or sudo)")
		return 1
	}
	root, err := os.OpenRoot(env.sysroot)
	if err != nil {
		log.Error("gpu helper failed", "error", err.Error())
		return 1
	}
	defer root.Close()
	ctx, cancel := context.WithTimeout(ctx, maxRun)
	defer cancel()
	h := &helper.Helper{Root: root, CC: env.cc, Log: log, Caller: caller}
	rep, err := h.Serve(ctx, stdin, stdout)
	if err != nil {
		log.Error("gpu helper failed", "error", err.Error())
		return 1
	}
	if !rep.OK {
		fmt.Fprintln(stderr, "cocoon-provider-helper: "+rep.Error)
		return 1
	}
	return 0
}
