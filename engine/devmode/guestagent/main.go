package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/synth"
	"github.com/mdlayher/vsock"
	"golang.org/x/sys/unix"
)

// Guest network and ports (interface spec §3.1, §6, §7).
var (
	guestAddr = netip.MustParsePrefix("10.0.2.15/24")
	guestGW   = netip.MustParseAddr("10.0.2.2")
)

const (
	workerHTTPPort = 12000
	healthPort     = 9999
	logPrefix      = "cocoon-standin: "
	logKeepLines   = 2000
)

// options configure one run of the agent.
type options struct {
	pid1       bool   // the real init of the image: mount, load modules, power off
	httpAddr   string // worker HTTP listen address
	healthAddr string // health protocol TCP listen address
	vsock      bool   // also serve health on vsock port 9999
	specDir    string // where runtime/runtime.vars lives
	debug      bool
}

// agent is the stand-in's whole process state.
type agent struct {
	opts     options
	log      *slog.Logger
	sink     *logSink
	services *serviceTable
	proc     procFS
	started  time.Time
	wg       sync.WaitGroup
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	opts, err := parseOptions(os.Getpid() == 1, args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "guestagent:", err)
		return 2
	}
	a := newAgent(opts, os.Stderr)
	return a.run()
}

// parseOptions reads flags. As PID 1 it ignores them: the kernel passes
// unknown boot parameters to init as arguments.
func parseOptions(pid1 bool, args []string) (options, error) {
	opts := options{
		pid1:       pid1,
		httpAddr:   fmt.Sprintf(":%d", workerHTTPPort),
		healthAddr: fmt.Sprintf(":%d", healthPort),
		vsock:      true,
		specDir:    specMountDir,
	}
	if pid1 {
		return opts, nil
	}
	fs := flag.NewFlagSet("guestagent", flag.ContinueOnError)
	dev := fs.Bool("dev", false, "run on a host for testing: no mounts, modules, network or power-off")
	fs.StringVar(&opts.httpAddr, "http", "127.0.0.1:12000", "worker HTTP listen address")
	fs.StringVar(&opts.healthAddr, "health", "127.0.0.1:9999", "health protocol TCP listen address")
	fs.BoolVar(&opts.vsock, "vsock", false, "also serve health on vsock port 9999")
	fs.StringVar(&opts.specDir, "spec", "", "spec directory holding runtime/runtime.vars")
	fs.BoolVar(&opts.debug, "debug", false, "log debug lines")
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if !*dev {
		return opts, errors.New("this is the init of the stand-in image; to run it on a host for testing, pass -dev -spec DIR")
	}
	if opts.specDir == "" {
		return opts, errors.New("-dev needs -spec DIR (the directory QEMU would share as tag \"spec\")")
	}
	return opts, nil
}

func newAgent(opts options, console io.Writer) *agent {
	sink := newLogSink(logPrefix, logKeepLines, console)
	level := slog.LevelInfo
	if opts.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: level, ReplaceAttr: shortTime}))
	return &agent{
		opts:     opts,
		log:      log,
		sink:     sink,
		services: newServiceTable(),
		proc:     procFS{os.DirFS("/proc")},
		started:  time.Now(),
	}
}

// shortTime logs the time of day only; the log is read next to the
// kernel's, on a console.
func shortTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		return slog.String(slog.TimeKey, a.Value.Time().UTC().Format("15:04:05.000"))
	}
	return a
}

func (a *agent) run() int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.log.Info("starting", "agent", "guestagent "+agentVersion, "build", standinLabel, "pid1", a.opts.pid1)

	shutdown := make(chan string, 4)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		if s, ok := <-sigs; ok {
			shutdown <- "signal " + s.String()
		}
	}()

	if a.opts.pid1 {
		a.boot(ctx, shutdown)
	}
	a.startHealth(ctx)
	a.startWorker(ctx)
	readyState, why := a.readyState()
	a.services.Set("cocoon-ready.target", readyState, why)
	a.log.Info("ready", "since_start", time.Since(a.started).Round(time.Millisecond).String(), "uptime", a.uptime())

	reason := <-shutdown
	a.log.Info("shutting down", "reason", reason)
	signal.Stop(sigs)
	cancel()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		a.log.Warn("servers did not stop within 2s; going on")
	}
	if !a.opts.pid1 {
		return 0
	}
	a.log.Info("powering off")
	err := powerOff()
	a.log.Error("power-off refused by the kernel; exiting init instead", "err", err)
	return 1
}

// readyState is cocoon-ready.target: reached when every other critical
// unit is active.
func (a *agent) readyState() (string, string) {
	for _, s := range a.services.Snapshot() {
		if s.Critical && s.Name != "cocoon-ready.target" && s.State != stateActive {
			return stateFailed, s.Unit + " is " + s.State
		}
	}
	return stateActive, ""
}

func (a *agent) uptime() string {
	up, err := a.proc.Uptime()
	if err != nil {
		return "unknown"
	}
	return up.Round(time.Millisecond).String()
}

// boot prepares the guest as init: filesystems, modules, console, power
// button, network. Failures are logged and the agent carries on, so the
// health interface can report them.
func (a *agent) boot(ctx context.Context, shutdown chan<- string) {
	if err := mountBasics(); err != nil {
		a.log.Error("mounting basic filesystems failed", "err", err)
	}
	start := time.Now()
	loaded, err := loadModules(modulesDir, a.log)
	if err != nil {
		a.log.Error("some kernel modules did not load", "err", err)
	}
	a.log.Info("kernel modules loaded", "count", len(loaded), "took", time.Since(start).Round(time.Millisecond).String())
	if hvc, ok := openHVC(); ok {
		a.sink.AddOutput(hvc, true)
		a.log.Info("logging to hvc0 too")
	}
	if n := watchPowerButtons(ctx, shutdown, a.log); n == 0 {
		a.log.Warn("no ACPI power button device found; power-off works only by signal")
	} else {
		a.log.Info("watching the ACPI power button", "devices", n)
	}
	start = time.Now()
	if err := configureNetwork("eth0", guestAddr, guestGW, 5*time.Second); err != nil {
		a.log.Error("network setup failed", "err", err)
	} else {
		a.log.Info("network up", "iface", "eth0", "addr", guestAddr.String(), "gw", guestGW.String(), "took", time.Since(start).Round(time.Millisecond).String())
	}
}

// startHealth serves the health protocol on TCP and, when the guest has
// vsock, on vsock port 9999 (any CID).
func (a *agent) startHealth(ctx context.Context) {
	h := &healthCommands{services: a.services, proc: a.proc, logs: a.sink}
	var serving []string
	serve := func(ln net.Listener, what string) {
		serving = append(serving, what)
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := serveHealth(ctx, ln, h.Dispatch, a.log); err != nil {
				a.log.Error("health server stopped", "on", what, "err", err)
				a.services.Set("cocoon-health", stateFailed, err.Error())
			}
		}()
	}
	if ln, err := net.Listen("tcp", a.opts.healthAddr); err != nil {
		a.log.Error("health over TCP unavailable", "addr", a.opts.healthAddr, "err", err)
	} else {
		serve(ln, "tcp "+ln.Addr().String())
	}
	if a.opts.vsock {
		if _, err := os.Stat("/dev/vsock"); err == nil {
			if ln, err := vsock.ListenContextID(unix.VMADDR_CID_ANY, healthPort, nil); err != nil {
				a.log.Warn("health over vsock unavailable", "err", err)
			} else {
				serve(ln, fmt.Sprintf("vsock port %d", healthPort))
			}
		} else {
			a.log.Info("no /dev/vsock; health over TCP only")
		}
	}
	if len(serving) == 0 {
		a.services.Set("cocoon-health", stateFailed, "no listener could be opened")
		return
	}
	a.services.Set("cocoon-health", stateActive, "")
	a.log.Info("health protocol serving", "on", strings.Join(serving, ", "))
}

// startWorker reads the spec share and, if the configuration is sound,
// starts the worker HTTP server. Like the official image, a bad or missing
// runtime.vars leaves the worker stopped (connection refused on 12000)
// while health keeps answering.
func (a *agent) startWorker(ctx context.Context) {
	cfg, err := a.loadConfig()
	if err != nil {
		a.log.Error("worker not started", "err", err)
		a.services.Set("spec", stateFailed, err.Error())
		a.services.Set("cocoon-worker-runner", stateFailed, "spec preparation failed: "+err.Error())
		return
	}
	a.services.Set("spec", stateActive, "")
	ln, err := net.Listen("tcp", a.opts.httpAddr)
	if err != nil {
		a.log.Error("worker HTTP server cannot listen", "addr", a.opts.httpAddr, "err", err)
		a.services.Set("cocoon-worker-runner", stateFailed, err.Error())
		return
	}
	state := newWorkerState(cfg)
	state.log = a.log
	api := &workerHTTP{state: state, now: time.Now, started: a.started}
	a.services.Set("cocoon-worker-runner", stateActive, "")
	a.log.Info("worker HTTP serving", "addr", ln.Addr().String(), "model", cfg.ModelSpec(), "coefficient", cfg.Coefficient)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := serveHTTP(ctx, ln, api.Handle, a.log); err != nil {
			a.log.Error("worker HTTP server stopped", "err", err)
			a.services.Set("cocoon-worker-runner", stateFailed, err.Error())
		}
	}()
	a.startJobFlow(ctx, state, cfg)
}

// startJobFlow connects the worker to the stand-in proxies named in the
// root file of the spec share. Without a usable root file the worker
// runs as before, serving its HTTP API with no proxies.
func (a *agent) startJobFlow(ctx context.Context, state *workerState, cfg workerConfig) {
	rf, err := standin.ReadRoot(a.opts.specDir)
	if err != nil {
		a.log.Warn("no stand-in proxies: the worker serves no jobs", "err", err)
		return
	}
	state.setRoot(rf.Config, time.Now())
	state.setUplink(true) // the synthetic model runs in-process
	wallet := devWalletAddress(cfg.OwnerAddress, cfg.WalletKey)
	flow := newJobFlow(state, rf, synth.NewEngine(), wallet, a.opts.specDir, a.log)
	a.log.Info("connecting to stand-in proxies", "proxies", strings.Join(rf.ProxyAddrs, " "),
		"params_version", rf.Config.ParamsVersion, "proxy_hashes", len(rf.Config.ProxyHashes), "wallet", wallet,
		"auto_payout_tokens", rf.AutoPayoutTokens, "auto_payout_check_seconds", rf.AutoPayoutCheckSeconds)
	flow.start(ctx, &a.wg, rf.ProxyAddrs)
}

// loadConfig mounts the share (as init) and parses runtime.vars.
func (a *agent) loadConfig() (workerConfig, error) {
	if a.opts.pid1 {
		if err := mountSpec(a.opts.specDir); err != nil {
			return workerConfig{}, err
		}
		a.log.Info("spec share mounted", "dir", a.opts.specDir)
	}
	path := filepath.Join(a.opts.specDir, runtimeVarsPath)
	data, err := os.ReadFile(path)
	if err != nil {
		return workerConfig{}, fmt.Errorf("read %s: %w; the host must write runtime/runtime.vars into the spec share", path, err)
	}
	vars, err := parseRuntimeVars(data)
	clear(data)
	if err != nil {
		return workerConfig{}, err
	}
	a.log.Info("runtime.vars read", "keys", describeVars(vars))
	return configFromVars(vars)
}
