package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/internal/applog"
)

const usage = `Cocoon Provider rents this machine's spare GPU time to the COCOON network.

Usage:
  cocoon-provider [flags]              open the desktop app (tray icon + window)
  cocoon-provider run --headless [--api 127.0.0.1:9311] [--metrics 127.0.0.1:9310] [--on-stop stop|leave]
                                       the engine as a service, without the desktop app: starts the
                                       worker, serves the control API (unix socket <data dir>/api.sock,
                                       and --api with a token), logs to stderr (the journal under systemd)
  cocoon-provider --remote URL --token-file FILE [--fingerprint HEX]
                                       the desktop app watching another host's control API
  cocoon-provider watch --remote URL --token-file FILE [--fingerprint HEX] [--every 10s]
                                       the same from a terminal: progress, messages and alerts
  cocoon-provider doctor [--json]      check whether this machine can earn, and what is missing
  cocoon-provider doctor --production [--json]
                                       per requirement of earning, what this host lacks and the fix
  cocoon-provider launch --dry-run [--conf worker.conf] [--release V] [--gpus all|0,1] [--json]
                                       every step a production launch would take, numbered, with
                                       what blocks each (the launch itself is not enabled yet)
  cocoon-provider gpus [--json] [--watch]
                                       list GPUs with live telemetry
  cocoon-provider dev [--rate 1] [--concurrency 2] [--pattern steady|bursty|idle]
                    [--metrics 127.0.0.1:9310]
                                       run the stand-in worker, proxy and client (dev mode)
                                       in the foreground; --metrics serves Prometheus metrics
  cocoon-provider status [--json] [--stats-url URL]
                                       state of the running worker; with --stats-url, read
                                       any worker's /jsonstats (e.g. an official one) and explain it
  cocoon-provider activity [--json] [--since 1h]
                                       requests, tokens, success rate and concurrency recorded
  cocoon-provider earnings [--json] [--since 7d]
                                       earnings by settlement stage: earned, committed,
                                       claimable, paid out, in your wallet
  cocoon-provider pause [--for 30m | --until 15:00|tomorrow]
                                       stop taking requests (the worker stays up); resume undoes it
  cocoon-provider resume               take requests again
  cocoon-provider payout               pay out everything claimable now
  cocoon-provider attach --stats-url URL [--list] [--remove URL]
                                       monitor a worker started by the official tooling
  cocoon-provider stop                 stop the running app and its worker
  cocoon-provider attest quote|cert|expect ...
                                       verify a TDX quote or RA-TLS certificate offline, predict
                                       the image hash of a config (attest help)
  cocoon-provider wallet status|address|create|import|node-key|topup|withdraw|chain
                                       where earnings go, the node key, balances (wallet help)
  cocoon-provider liteservers [--config FILE|URL] [--json] [--timeout 3s] [--out FILE]
                                       which TON liteservers answer and are up to date (before
                                       the worker boots); --out writes a config with only those
  cocoon-provider autostart on|off|status
                                       start the desktop app (in the tray) with your desktop session
  cocoon-provider release fetch|list|use|rollback
                                       official worker releases: download, verify, switch (release help)
  cocoon-provider model fetch|list|check|remove
                                       model archives (name@commit:verity): allow-list, download,
                                       dm-verity check, store (model help)
  cocoon-provider update [--feed URL] [--json]
                                       check the signed release feed: the newest version and where
                                       to download it, worker images the network allows (installs nothing)
  cocoon-provider diag [-o FILE] [--include-addresses] [--json]
                                       write a redacted diagnostic bundle (zip) for a bug report
  cocoon-provider alerts telegram [--chat ID] [--on|--off] [--token-file FILE|--token-stdin] [--test]
                                       send alerts to a Telegram chat (the running app or service)
  cocoon-provider import-conf FILE     take over the settings of an official worker.conf
  cocoon-provider version              print the version

Flags (all commands):
  --data-dir DIR     where the database, images and disks live (default %s)
  --qemu PATH        QEMU binary (default qemu-system-x86_64 from PATH)
  --log-level LEVEL  debug, info, warn or error (default info for the app, warn for commands)

Desktop app flags:
  --hidden           start with only the tray icon (a second launch shows the window)
  --api HOST:PORT    also serve the control API on TCP (token in <data dir>/api-token)
  --api-public       allow --api on an address other than loopback (TLS, pinned certificate)

Metrics flags (dev and the desktop app):
  --metrics HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics (loopback only)
  --metrics-public     allow --metrics on an address other than loopback
`

// common holds the flags every command takes.
type common struct {
	dataDir  string
	qemu     string
	logLevel string
	devLoad  *standin.Load // dev: the stand-in client's load
	// logFile keeps a copy of the log in <data dir>/logs/app.log (rotated)
	// for long-running commands; open sets logClose to close it.
	logFile  bool
	logClose func() error
}

func (c *common) register(fs *flag.FlagSet, defaultLevel string) {
	dir, err := engine.DefaultDataDir()
	if err != nil {
		dir = ""
	}
	fs.StringVar(&c.dataDir, "data-dir", dir, "data directory")
	fs.StringVar(&c.qemu, "qemu", "", "QEMU binary")
	fs.StringVar(&c.logLevel, "log-level", defaultLevel, "log level")
}

// open builds the logger and the engine the flags describe.
func (c *common) open(stderr io.Writer) (*engine.Service, *slog.Logger, error) {
	lvl, err := applog.ParseLevel(c.logLevel)
	if err != nil {
		return nil, nil, fmt.Errorf("--log-level: %w", err)
	}
	if c.dataDir == "" {
		return nil, nil, errors.New("no data directory: set --data-dir or $HOME")
	}
	o := applog.Options{Level: lvl, Stderr: stderr}
	if f, ok := stderr.(*os.File); ok {
		o.Journal = applog.OnJournal(f, os.Getenv)
	}
	c.logClose = func() error { return nil }
	if c.logFile {
		dir := filepath.Join(c.dataDir, "logs")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("log directory: %w", err)
		}
		f, err := vm.OpenConsoleLog(vm.ConsoleOptions{Path: filepath.Join(dir, "app.log"), MaxBytes: 1 << 20, Files: 3, TailBytes: 1})
		if err != nil {
			return nil, nil, fmt.Errorf("log file: %w", err)
		}
		o.File, c.logClose = f, f.Close
	}
	log := applog.New(o)
	return engine.New(engine.Options{DataDir: c.dataDir, QEMU: c.qemu, Logger: log, SourceDir: sourceDir(),
		GuestAgent: packagedAgent(), DevLoad: c.devLoad, Version: versionString()}), log, nil
}

// session is the engine of a command that drives VMs: it holds the data
// directory's lock and runs the engine in the background until close.
type session struct {
	svc     *engine.Service
	log     *slog.Logger
	lock    *engine.Lock
	runCtx  context.Context // ends only in close, after the VM has stopped
	cancel  context.CancelFunc
	runDone chan struct{}
	// metrics serves --metrics at metricsURL; nil when not serving.
	metrics    *http.Server
	metricsURL string
	logClose   func() error
	// apiStop ends the control API's listeners; apiWG waits for them.
	apiStop context.CancelFunc
	apiWG   sync.WaitGroup
}

// start opens the engine, takes the lock and starts the engine's background work.
func (c *common) start(stderr io.Writer) (*session, error) {
	svc, log, err := c.open(stderr)
	if err != nil {
		return nil, err
	}
	lock, err := engine.AcquireLock(c.dataDir)
	if err != nil {
		svc.Close()
		c.logClose()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &session{svc: svc, log: log, lock: lock, runCtx: runCtx, cancel: cancel, runDone: make(chan struct{}), logClose: c.logClose}
	go func() {
		defer close(s.runDone)
		if err := svc.Run(runCtx); err != nil {
			log.Error("engine stopped", "error", err)
		}
	}()
	return s, nil
}

// close stops the VM first and only then the engine (so its events reach
// the database), then releases the lock.
func (s *session) close() error {
	metricsErr := s.stopMetrics()
	s.stopAPI()
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer stopCancel()
	err := s.svc.StopDev(stopCtx)
	s.cancel()
	<-s.runDone
	return errors.Join(metricsErr, err, s.lock.Release(), s.svc.Close(), s.logClose())
}

// run dispatches a command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one ends the process at once.
	context.AfterFunc(ctx, stop)
	cmd, rest := "", args
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || args[0] == "--version" || args[0] == "-version") {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "":
		err = cmdGUI(ctx, rest, stderr)
	case "run":
		err = cmdRun(ctx, rest, stdout, stderr)
	case "doctor":
		if wantsProduction(rest) {
			err = cmdDoctorProduction(ctx, rest, stdout, stderr)
		} else {
			err = cmdDoctor(ctx, rest, stdout, stderr)
		}
	case "launch":
		err = cmdLaunch(ctx, rest, stdout, stderr)
	case "gpus":
		err = cmdGPUs(ctx, rest, stdout, stderr)
	case "dev":
		err = cmdDev(ctx, rest, stdout, stderr)
	case "status":
		err = cmdStatus(ctx, rest, stdout, stderr)
	case "stop":
		err = cmdStop(ctx, rest, stdout, stderr)
	case "activity":
		err = cmdActivity(ctx, rest, stdout, stderr)
	case "earnings":
		err = cmdEarnings(ctx, rest, stdout, stderr)
	case "pause":
		err = cmdPause(ctx, rest, stdout, stderr)
	case "resume":
		err = cmdResume(ctx, rest, stdout, stderr)
	case "payout":
		err = cmdPayout(ctx, rest, stdout, stderr)
	case "attach":
		err = cmdAttach(ctx, rest, stdout, stderr)
	case "attest":
		err = cmdAttest(ctx, rest, stdout, stderr)
	case "wallet":
		err = cmdWallet(ctx, rest, stdout, stderr)
	case "liteservers":
		err = cmdLiteservers(ctx, rest, stdout, stderr)
	case "watch":
		err = cmdWatch(ctx, rest, stdout, stderr)
	case "autostart":
		err = cmdAutostart(ctx, rest, stdout, stderr)
	case "update":
		err = cmdUpdate(ctx, rest, stdout, stderr)
	case "release":
		err = cmdRelease(ctx, rest, stdout, stderr)
	case "model":
		err = cmdModel(ctx, rest, stdout, stderr)
	case "diag":
		err = cmdDiag(ctx, rest, stdout, stderr)
	case "alerts":
		err = cmdAlerts(ctx, rest, stdout, stderr)
	case "import-conf":
		err = cmdImportConf(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, usage, defaultDataDirText())
	default:
		fmt.Fprintf(stderr, "cocoon-provider: unknown command %q\n\n", cmd)
		fmt.Fprintf(stderr, usage, defaultDataDirText())
		return 2
	}
	var exit exitError
	switch {
	case errors.As(err, &exit):
		return int(exit)
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(stderr, "cocoon-provider:", err)
		return 1
	}
	return 0
}

// exitError ends a command with a status but no message.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func defaultDataDirText() string {
	if d, err := engine.DefaultDataDir(); err == nil {
		return d
	}
	return "$XDG_DATA_HOME/cocoon-provider"
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func versionString() string {
	v := version
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	out := "cocoon-provider " + v
	if rev != "" {
		out += " (" + rev + ")"
	}
	return fmt.Sprintf("%s %s/%s %s", out, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("doctor", stderr)
	var c common
	c.register(fs, "warn")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	verbose := fs.Bool("verbose", false, "explain every item, not only those that need attention")
	require := fs.String("require", "", "exit with status 3 unless this mode is ready: production or dev")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *require != "" && *require != "production" && *require != "dev" {
		return fmt.Errorf("--require %q: use production or dev", *require)
	}
	svc, _, err := c.open(stderr)
	if err != nil {
		return err
	}
	defer svc.Close()
	r, err := svc.Check(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		writeReport(stdout, r, *verbose, colorOK(stdout))
	}
	if (*require == "production" && !r.Production.Ready) || (*require == "dev" && !r.Dev.Ready) {
		return exitError(3)
	}
	return nil
}

func cmdGPUs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gpus", stderr)
	var c common
	c.register(fs, "warn")
	asJSON := fs.Bool("json", false, "print JSON (one document per line with --watch)")
	watch := fs.Bool("watch", false, "refresh every interval until interrupted")
	interval := fs.Duration("interval", time.Second, "refresh interval for --watch")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *interval < 100*time.Millisecond {
		return fmt.Errorf("--interval %s is too short: use 100ms or more", *interval)
	}
	svc, _, err := c.open(stderr)
	if err != nil {
		return err
	}
	defer svc.Close()
	tty := colorOK(stdout)
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for {
		inv, err := svc.GPUs(ctx)
		if err != nil {
			return err
		}
		switch {
		case *asJSON && *watch:
			if err := json.NewEncoder(stdout).Encode(inv); err != nil {
				return err
			}
		case *asJSON:
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(inv); err != nil {
				return err
			}
		default:
			if *watch && tty {
				fmt.Fprint(stdout, "\x1b[H\x1b[2J") // clear the screen, as watch(1) does
			}
			writeGPUs(stdout, inv)
		}
		if !*watch {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// colorOK reports whether w is a terminal that accepts colour.
func colorOK(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// subcommand is one of a command's subcommands (attest, model, release).
type subcommand struct {
	name string
	run  func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// runSubcommand runs the subcommand args[0] names. Without one, or with
// help, it prints usage; an unknown one prints usage to stderr and an
// error naming the choices.
func runSubcommand(ctx context.Context, cmd, usage string, subs []subcommand, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, args[1:], stdout, stderr)
		}
		names[i] = s.name
	}
	fmt.Fprint(stderr, usage)
	choices := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	return fmt.Errorf("%s: unknown subcommand %q: use %s", cmd, args[0], choices)
}
