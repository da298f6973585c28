package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// modulePath identifies this project's source tree (for building the stand-in agent).
const modulePath = "github.com/cocoon-provider/cocoon-provider"

// sourceDir finds this module's source tree above the working directory.
func sourceDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			line, _ := bufio.NewReader(f).ReadString('\n')
			f.Close()
			if strings.TrimSpace(strings.TrimPrefix(line, "module")) == modulePath {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// packagedAgent is the stand-in guest agent an installed package ships
// beside the program (<prefix>/lib/cocoon-provider/guestagent); "" if none.
func packagedAgent() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	p := filepath.Join(filepath.Dir(exe), "..", "lib", "cocoon-provider", "guestagent")
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
		return ""
	}
	return filepath.Clean(p)
}

// cmdDev runs the stand-in worker in the foreground until interrupted.
func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", stderr)
	var c common
	c.register(fs, "warn")
	metrics := metricsFlags()
	metrics.register(fs, metricsUsage, metricsPublicUsage)
	load := engine.DefaultDevLoad()
	fs.Float64Var(&load.Rate, "rate", load.Rate, "stand-in client: requests per second (0: send none)")
	fs.IntVar(&load.Concurrency, "concurrency", load.Concurrency, "stand-in client: most requests in flight")
	fs.StringVar(&load.Pattern, "pattern", load.Pattern, "stand-in client: steady, bursty or idle (20 s on, 20 s off)")
	fs.IntVar(&load.MaxTokens, "max-tokens", load.MaxTokens, "stand-in client: tokens generated per request")
	every := fs.Duration("report", 10*time.Second, "print activity and earnings this often (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if load.Rate > 0 {
		if err := load.Validate(); err != nil {
			return err
		}
	}
	if err := metrics.check(); err != nil {
		return err
	}
	c.devLoad = &load
	sess, err := c.startServing(stderr, metrics)
	if err != nil {
		return err
	}
	svc := sess.svc
	events := svc.Subscribe(sess.runCtx)
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for ev := range events {
			if ev.Kind == engine.EventInstance && ev.Message != "" {
				fmt.Fprintf(stdout, "%s  %s\n", ev.Time.Format("15:04:05"), ev.Message)
			}
		}
	}()
	if *every > 0 {
		go func() {
			tick := time.NewTicker(*every)
			defer tick.Stop()
			for {
				select {
				case <-sess.runCtx.Done():
					return
				case <-tick.C:
					if line := progressLine(svc.State()); line != "" {
						fmt.Fprintf(stdout, "%s  %s\n", time.Now().Format("15:04:05"), line)
					}
				}
			}
		}()
	}
	fmt.Fprintln(stdout, "Dev mode: a stand-in worker under QEMU, with a stand-in proxy and client on this machine. It earns nothing real. Ctrl-C stops it.")
	startErr := svc.StartDev(ctx)
	if startErr == nil {
		if inst := svc.State().Dev; inst != nil {
			fmt.Fprintf(stdout, "stats: http://%s/stats   (cocoon-provider status, cocoon-provider stop)\n", inst.StatsAddr)
		}
		select {
		case <-ctx.Done():
		case <-svc.DevDone():
			startErr = errors.New("the worker VM failed and was not restarted; see the messages above")
			if inst := svc.State().Dev; inst != nil && inst.LastExit != "" {
				startErr = fmt.Errorf("the worker VM failed and was not restarted: %s", inst.LastExit)
			}
		}
	} else if ctx.Err() != nil {
		startErr = nil // interrupted while preparing: not a failure
	}
	stopErr := sess.close()
	<-printed
	return errors.Join(startErr, stopErr)
}

// devStatus is what `status --json` prints.
type devStatus struct {
	Running  bool                 `json:"running"`
	Holder   *engine.Holder       `json:"app,omitempty"`
	Instance *engine.Instance     `json:"instance,omitempty"`
	Stats    json.RawMessage      `json:"jsonstats,omitempty"`
	Health   *worker.HealthStatus `json:"health,omitempty"`
	Errors   []string             `json:"errors,omitempty"`
}

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", stderr)
	var c common
	c.register(fs, "warn")
	asJSON := fs.Bool("json", false, "print JSON")
	statsURL := fs.String("stats-url", "", "read this worker's /jsonstats instead (e.g. http://127.0.0.1:12000)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *statsURL != "" {
		return statsURLStatus(ctx, *statsURL, *asJSON, stdout)
	}
	st := devStatus{}
	if h, err := engine.ReadLockHolder(c.dataDir); err == nil {
		st.Holder = &h
	}
	var inst engine.Instance
	files := engine.InstanceFiles(c.dataDir, 0)
	b, err := os.ReadFile(files.State)
	if err == nil && json.Unmarshal(b, &inst) == nil && st.Holder != nil && st.Holder.PID == inst.AppPID {
		st.Instance = &inst
		_, qerr := vm.CheckPIDFile(files.PIDFile)
		st.Running = qerr == nil
	}
	if st.Running {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		dial := (&net.Dialer{}).DialContext
		if s, err := worker.NewClient(dial, inst.StatsAddr).Stats(ctx); err != nil {
			st.Errors = append(st.Errors, "jsonstats: "+err.Error())
		} else {
			st.Stats = s.MarshalOfficial()
		}
		if h, err := worker.NewHealthClient(dial, "tcp", inst.HealthAddr).Status(ctx); err != nil {
			st.Errors = append(st.Errors, "health: "+err.Error())
		} else {
			st.Health = &h
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	writeStatus(stdout, st)
	return nil
}

func writeStatus(w io.Writer, st devStatus) {
	if !st.Running {
		if in := st.Instance; in != nil {
			fmt.Fprintf(w, "The worker is %s (no QEMU runs). %s\n", in.State, in.LastExit)
			return
		}
		fmt.Fprintln(w, "No worker is running. Start dev mode with `cocoon-provider dev` (or the desktop app).")
		if st.Holder != nil {
			fmt.Fprintf(w, "Cocoon Provider runs as PID %d without a worker.\n", st.Holder.PID)
		}
		return
	}
	in := st.Instance
	fmt.Fprintf(w, "Worker %d (dev mode, stand-in, earns nothing): QEMU PID %d, %s, app PID %d\n", in.Number, in.PID, in.Accel, in.AppPID)
	fmt.Fprintf(w, "  image     %s\n  stats     http://%s/stats\n  restarts  %d\n", in.Image, in.StatsAddr, in.Restarts)
	if in.LastExit != "" {
		fmt.Fprintf(w, "  last exit %s\n", in.LastExit)
	}
	if st.Health != nil {
		fmt.Fprintf(w, "  health    %s\n", st.Health.StatusLine)
	}
	if t := in.Trust; t != nil {
		fmt.Fprintf(w, "  trust     %s\n", t.Verdict())
		if t.ImageHash != "" {
			fmt.Fprintf(w, "            image hash %s (%s)\n", t.ImageHash, t.Source)
		}
	}
	if st.Stats != nil {
		if s, err := worker.ParseStats(st.Stats); err == nil {
			fmt.Fprintf(w, "  enabled   %v\n  requests  %.0f (success %.0f, failed %.0f)\n  tokens    %.0f adjusted\n  proxies   %d\n",
				s.Status.Enabled, s.Counters.Queries.Total(), s.Counters.Success.Total(), s.Counters.Failed.Total(),
				s.Counters.TotalAdjustedTokens.Total(), len(s.Proxies))
		} else {
			fmt.Fprintf(w, "  jsonstats unreadable: %v\n", err)
		}
	}
	for _, e := range st.Errors {
		fmt.Fprintf(w, "  error     %s\n", e)
	}
}

// cmdStop asks the running app to stop its worker and exit; a VM left
// behind by a killed app is adopted and stopped directly.
func cmdStop(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("stop", stderr)
	var c common
	c.register(flags, "warn")
	wait := flags.Duration("timeout", 2*time.Minute, "how long to wait for a graceful stop")
	if err := flags.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	if h, err := engine.ReadLockHolder(c.dataDir); err == nil {
		fmt.Fprintf(stdout, "Asking Cocoon Provider (PID %d) to stop…\n", h.PID)
		p, err := os.FindProcess(h.PID)
		if err == nil {
			err = p.Signal(syscall.SIGTERM)
		}
		if err != nil {
			return fmt.Errorf("signal PID %d: %w", h.PID, err)
		}
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := engine.ReadLockHolder(c.dataDir); err != nil {
				fmt.Fprintln(stdout, "Stopped.")
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("PID %d did not stop within %s", h.PID, *wait)
			case <-tick.C:
			}
		}
	}
	files := engine.InstanceFiles(c.dataDir, 0)
	pidFile, qmp := files.PIDFile, files.QMPSocket
	if _, err := vm.CheckPIDFile(pidFile); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintln(stdout, "Nothing is running.")
			return nil
		}
		var stale *vm.StalePIDFileError
		if errors.As(err, &stale) {
			fmt.Fprintf(stdout, "Nothing is running (removed a stale pid file: %s).\n", stale.Reason)
			return nil
		}
		return err
	}
	// Hold the lock while stopping, so no app starts and adopts this VM meanwhile.
	lock, err := engine.AcquireLock(c.dataDir)
	if err != nil {
		return fmt.Errorf("a Cocoon Provider started meanwhile; run stop again: %w", err)
	}
	defer lock.Release()
	a, err := vm.Adopt(ctx, pidFile, qmp, vm.AdoptOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Stopping the worker VM left running (QEMU PID %d)…\n", a.PID())
	if err := a.Stop(ctx, 20*time.Second); err != nil {
		return err
	}
	_ = os.Remove(files.State)
	fmt.Fprintln(stdout, "Stopped.")
	return nil
}

// cmdImportConf imports an official worker.conf into the app's settings.
func cmdImportConf(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("import-conf", stderr)
	var c common
	c.register(flags, "warn")
	release := flags.String("release-root", "", "the unpacked worker release the file belongs to (for its relative paths)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		return errors.New("give the worker.conf to import: cocoon-provider import-conf [--release-root DIR] FILE")
	}
	path := flags.Arg(0)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	svc, _, err := c.open(stderr)
	if err != nil {
		return err
	}
	defer svc.Close()
	wd, _ := filepath.Abs(filepath.Dir(path))
	// Only the file is imported: an HF_TOKEN in this shell's environment is not part of it.
	getenv := func(k string) string {
		if k == "HF_TOKEN" {
			return ""
		}
		return os.Getenv(k)
	}
	res, err := svc.ImportWorkerConf(ctx, data, worker.ConfEnv{ReleaseRoot: *release, WorkDir: wd, Getenv: getenv})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	cf := res.Conf
	fmt.Fprintf(stdout, "Imported %s:\n  owner address   %s\n  model           %s\n  instance        %d\n  coefficient     %d (1000 = 1.0×)\n",
		path, cf.OwnerAddress, cf.Model, cf.Instance, cf.WorkerCoefficient)
	if cf.GPU != "" {
		fmt.Fprintf(stdout, "  GPU             %s\n", cf.GPU)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stdout, "warning: line %d: %s: %s\n", w.Line, w.Key, w.Message)
	}
	if len(res.SecretsNotImported) > 0 {
		fmt.Fprintf(stdout, "Not imported: %s. Cocoon Provider keeps keys only in its encrypted keystore, which this version does not have yet; keep this file until the wallet setup asks for them.\n",
			strings.Join(res.SecretsNotImported, ", "))
	}
	return nil
}

// progressLine is dev mode's periodic report: requests and earnings moving.
func progressLine(st engine.State) string {
	in := st.Dev
	if in == nil || in.Stats == nil {
		return ""
	}
	var b strings.Builder
	c := in.Stats.Counters
	fmt.Fprintf(&b, "%.0f requests (%.0f failed)", c.Queries.Total(), c.Failed.Total())
	// The worker's own 10-second rates (§6.4) smooth one-second noise.
	fmt.Fprintf(&b, ", %.2f req/s, %.0f tokens/s, concurrency %.2f (last 10 s)", c.Queries.Rate(worker.Window10s),
		c.TotalAdjustedTokens.Rate(worker.Window10s), c.Time.Rate(worker.Window10s))
	if st.Pause != nil {
		b.WriteString(", PAUSED")
	}
	if e := st.Earnings; e != nil && e.All != nil {
		fmt.Fprintf(&b, " | earned %s, committed %s, claimable %s, paid %s, in wallet %s",
			wallet.TONString(e.All[store.StageEarned]), wallet.TONString(e.All[store.StageCommitted]),
			wallet.TONString(e.All[store.StageClaimable]), wallet.TONString(e.All[store.StagePaid]),
			wallet.TONString(e.All[store.StageWallet]))
	}
	return b.String()
}
