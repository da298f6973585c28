package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest/gpucc"
	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/helper"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/launch"
	"github.com/cocoon-provider/cocoon-provider/engine/release"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// cmdLaunch works out the launch plan (production, or with --test or
// --fake-ton a debug launch). With --dry-run it prints it; otherwise a
// blocked plan is printed and nothing is started (exit 3), a ready one is
// printed and carried out only with --yes, staying in the foreground
// until SIGINT or SIGTERM stops everything.
func cmdLaunch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("launch", stderr)
	var c common
	c.register(fs, "warn")
	dryRun := fs.Bool("dry-run", false, "print every step the production launch would take, and do none of them")
	conf := fs.String("conf", "", "worker.conf (default <data dir>/worker.conf)")
	version := fs.String("release", "", "worker release version (default the current one)")
	gpus := fs.String("gpus", "", "GPUs to run workers on: all, or indices such as 0,1 (default the one worker.conf names, else all)")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	test := fs.Bool("test", false, "plan a test launch (the official --test): test images, debug keys, no seal server; a different image hash the network does not accept, for debugging only")
	fakeTON := fs.Bool("fake-ton", false, "plan a fake-TON launch (the official --fake-ton): the spec rewritten to run without TON; a different image hash the network does not accept, for debugging only")
	keysFile := fs.String("node-wallet-keys", "", "a file with a node wallet key (32 random bytes, base64) a line for each instance after the first, in order: each worker needs its own cocoon wallet")
	checkLite := fs.Bool("check-liteservers", false, "ask the TON config's liteservers whether they answer (the only network access of a dry run; a launch always asks them)")
	yes := fs.Bool("yes", false, "carry out a ready plan: bind the GPUs, write the files, start the seal server and the worker VMs")
	keepVFIO := fs.Bool("keep-vfio", false, "with --yes: when stopping, leave the GPUs on vfio-pci instead of giving them back to their driver")
	liteTimeout := fs.Duration("liteserver-timeout", wallet.DefaultLiteserverTimeout, "with --check-liteservers: per liteserver, connect and answer within this")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("launch takes no arguments (got %q)", fs.Args())
	}
	if *dryRun && (*yes || *keepVFIO) {
		return errors.New("--dry-run does nothing, so it takes neither --yes nor --keep-vfio")
	}
	if *liteTimeout <= 0 || *liteTimeout > time.Minute {
		return fmt.Errorf("--liteserver-timeout %s: give more than 0 and at most 1m", *liteTimeout)
	}
	// A launch asks the liteservers before the worker boots, as the plan
	// says; a dry run only when asked.
	cfg := launch.Config{Release: *version, QEMU: c.qemu, Getenv: os.Getenv,
		Test: *test, FakeTON: *fakeTON, CheckLiteservers: *checkLite || !*dryRun, LiteserverTimeout: *liteTimeout}
	var err error
	if cfg.AllGPUs, cfg.GPUs, err = parseGPUs(*gpus); err != nil {
		return err
	}
	if *keysFile != "" {
		if cfg.NodeWalletKeys, err = readNodeWalletKeys(*keysFile); err != nil {
			return err
		}
	}
	if cfg.DataDir, err = filepath.Abs(c.dataDir); err != nil || c.dataDir == "" {
		return errors.New("no data directory: set --data-dir or $HOME")
	}
	if *conf != "" {
		if cfg.ConfPath, err = filepath.Abs(*conf); err != nil {
			return fmt.Errorf("--conf: %w", err)
		}
	}
	if !cfg.AllGPUs && len(cfg.GPUs) == 0 {
		cfg.Allowed = settingsGPUs(ctx, cfg.DataDir)
	}
	svc, _, err := c.open(stderr)
	if err != nil {
		return err
	}
	defer svc.Close()
	p, err := launch.NewPlan(ctx, newLocalHost(svc, cfg.DataDir), cfg)
	if err != nil {
		return err
	}
	if err := printPlan(stdout, p, *asJSON); err != nil || *dryRun {
		return err
	}
	if !mayLaunch(p, *yes, stderr) {
		if !p.Ready {
			return exitError(3)
		}
		return exitError(2)
	}
	run, err := launch.NewHostRunner(launch.RunnerOptions{DataDir: cfg.DataDir})
	if err != nil {
		return err
	}
	return runLaunch(ctx, p, run, *keepVFIO, stderr)
}

func printPlan(w io.Writer, p launch.Plan, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	return launch.Text(w, p)
}

// mayLaunch says, after the plan was printed, whether to carry it out: a
// blocked plan never, a ready one only with --yes.
func mayLaunch(p launch.Plan, yes bool, stderr io.Writer) bool {
	if !p.Ready {
		n := 0
		for _, s := range p.Steps {
			if !s.WouldDo() {
				n++
			}
		}
		fmt.Fprintf(stderr, "cocoon-provider: %d of %d launch steps are blocked (see \"blocked because\" above): nothing was started.\n", n, len(p.Steps))
		return false
	}
	if !yes {
		fmt.Fprintln(stderr, "cocoon-provider: nothing was started. The plan above is ready; rerun this command with --yes to carry it out (it binds the GPUs to vfio-pci through the GPU helper, which asks for an administrator's approval).")
		return false
	}
	return true
}

// launchStopTimeout bounds stopping the VMs (ACPI power-down, then quit
// and kill), the seal server and giving the GPUs back.
const launchStopTimeout = 3 * time.Minute

// runLaunch carries out a ready plan, prints the instances' state changes
// until ctx ends (SIGINT, SIGTERM) or every instance has given up, then
// stops everything.
func runLaunch(ctx context.Context, p launch.Plan, run launch.Runner, keepVFIO bool, stderr io.Writer) error {
	r, err := launch.Execute(ctx, p, run)
	if err != nil {
		return err
	}
	if keepVFIO {
		r.KeepGPUs()
	}
	for _, in := range p.Instances {
		fmt.Fprintf(stderr, "instance %d: GPU %s, stats port %d, vsock CID %d: started\n", in.Number, in.GPU, in.StatsPort, in.CID)
	}
	fmt.Fprintln(stderr, "Running in the foreground; press Ctrl-C to stop the workers.")
	var gaveUp bool
	events := r.Events()
loop:
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				break loop
			}
			fmt.Fprintf(stderr, "instance %d (%s): %s\n", ev.Instance, ev.GPU, describeEvent(ev.Event))
		case <-r.Done():
			gaveUp = true
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	fmt.Fprintln(stderr, "Stopping the workers, then the seal server, then giving the GPUs back…")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), launchStopTimeout)
	defer cancel()
	if err := r.Stop(sctx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	fmt.Fprintln(stderr, "Stopped.")
	if gaveUp {
		return errors.New("every worker VM gave up restarting; see the console logs in the instance directories")
	}
	return nil
}

// describeEvent words a supervisor event on one line.
func describeEvent(ev vm.SupervisorEvent) string {
	s := string(ev.Kind)
	if ev.PID != 0 {
		s += fmt.Sprintf(" (QEMU PID %d)", ev.PID)
	}
	if ev.Exit != nil {
		s += ": " + ev.Exit.String()
	}
	if ev.Delay > 0 {
		s += fmt.Sprintf(" in %s", ev.Delay.Round(time.Second))
	}
	if ev.Error != "" {
		s += ": " + ev.Error
	}
	return s
}

// parseGPUs reads --gpus: "" (worker.conf decides), "all", or indices.
func parseGPUs(s string) (all bool, idx []int, err error) {
	switch s = strings.TrimSpace(s); s {
	case "":
		return false, nil, nil
	case "all":
		return true, nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return false, nil, fmt.Errorf("--gpus %q: use all, or GPU indices such as 0,1 (see cocoon-provider gpus)", s)
		}
		if !slices.Contains(idx, n) {
			idx = append(idx, n)
		}
	}
	return false, idx, nil
}

// localHost is this machine as the launch planner reads it. Its effects
// are launch.NoEffects: a plan carries out nothing; launch.Execute does,
// through launch.NewHostRunner.
type localHost struct {
	launch.NoEffects
	svc     *engine.Service
	dataDir string
	inv     *gpu.Inventory
}

func newLocalHost(svc *engine.Service, dataDir string) *localHost {
	return &localHost{svc: svc, dataDir: dataDir}
}

func (h *localHost) FS() fs.FS { return os.DirFS("/") }

func (h *localHost) Check(ctx context.Context) (hostcheck.Report, error) { return h.svc.Check(ctx) }

// CCMode is NVML's system-wide mode for a GPU NVML sees; "" otherwise
// (a GPU on vfio-pci: only the helper, as root, can read it).
func (h *localHost) CCMode(ctx context.Context, pci string) string {
	if h.inv == nil {
		inv, err := h.svc.GPUs(ctx)
		if err != nil {
			return ""
		}
		h.inv = &inv
	}
	cc := h.inv.NVML.CC
	if cc == nil || !cc.NVML || cc.Mode == gpucc.CCUnsupported {
		return ""
	}
	for _, g := range h.inv.GPUs {
		if g.BusID == pci && g.Source == gpu.SourceNVML {
			return cc.Mode
		}
	}
	return ""
}

func (h *localHost) CCTool() helper.CCTool { return helper.DefaultCCTool() }

// Releases opens <data dir>/releases only when it exists, so that a dry
// run creates nothing.
func (h *localHost) Releases() launch.Releases {
	dir := filepath.Join(h.dataDir, "releases")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil
	}
	m, err := release.New(release.Options{Dir: dir})
	if err != nil {
		return nil
	}
	return m
}

// CheckLiteservers asks the liteservers over the network; the plan calls
// it only with --check-liteservers.
func (h *localHost) CheckLiteservers(ctx context.Context, configJSON []byte, timeout time.Duration) ([]wallet.LiteserverHealth, error) {
	return launch.CheckLiteservers(ctx, configJSON, timeout)
}

var _ launch.Host = (*localHost)(nil)

// cmdDoctorProduction is `doctor --production`: for each requirement of
// earning, what this host lacks and how to fix it.
func cmdDoctorProduction(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("doctor", stderr)
	var c common
	c.register(fs, "warn")
	fs.Bool("production", true, "list what this host lacks for production")
	asJSON := fs.Bool("json", false, "print the production requirements as JSON")
	if err := fs.Parse(args); err != nil {
		return err
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
	if err := writeProduction(stdout, r, *asJSON); err != nil {
		return err
	}
	if !r.Production.Ready {
		return exitError(3)
	}
	return nil
}

// productionReport is `doctor --production --json`.
type productionReport struct {
	Verdict      hostcheck.Verdict `json:"verdict"`
	Requirements []hostcheck.Check `json:"requirements"`
}

func writeProduction(w io.Writer, r hostcheck.Report, asJSON bool) error {
	var reqs []hostcheck.Check
	for _, c := range r.Checks {
		if c.Status != hostcheck.StatusNone {
			reqs = append(reqs, c)
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(productionReport{Verdict: r.Production, Requirements: reqs})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", r.Production.Summary)
	lacking := 0
	for _, c := range reqs {
		switch c.Status {
		case hostcheck.StatusOK:
			fmt.Fprintf(&b, "  has      %s: %s\n", c.Title, c.Observed)
			continue
		case hostcheck.StatusFail:
			lacking++
			fmt.Fprintf(&b, "  LACKS    %s: %s\n", c.Title, c.Observed)
		case hostcheck.StatusWarn:
			fmt.Fprintf(&b, "  weak     %s: %s\n", c.Title, c.Observed)
		default:
			fmt.Fprintf(&b, "  unknown  %s: %s\n", c.Title, c.Observed)
		}
		fmt.Fprintf(&b, "           why: %s\n", c.Why)
		if c.Fix != "" {
			fmt.Fprintf(&b, "           fix: %s\n", c.Fix)
		}
	}
	fmt.Fprintf(&b, "\nThis host lacks %d of the %d requirements for production. `cocoon-provider launch --dry-run` shows every step a launch would take.\n", lacking, len(reqs))
	_, err := io.WriteString(w, b.String())
	return err
}

// wantsProduction reports whether a doctor command line asks for --production.
func wantsProduction(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--production" || a == "-production" || a == "--production=true" || a == "-production=true" {
			return true
		}
	}
	return false
}

// settingsGPUs returns the GPUs the Settings tab limits the workers to,
// read without writing (nil when there is no database or no choice).
func settingsGPUs(ctx context.Context, dataDir string) []string {
	st, err := store.OpenReadOnly(ctx, filepath.Join(dataDir, store.DefaultFileName), time.Second)
	if err != nil {
		return nil
	}
	defer st.Close()
	set, err := engine.ReadSettings(ctx, st)
	if err != nil {
		return nil
	}
	return set.GPUs
}

// readNodeWalletKeys reads --node-wallet-keys: one base64 key a line
// (blank lines and lines starting with # skipped), checked, never echoed.
func readNodeWalletKeys(path string) ([]worker.Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--node-wallet-keys: %w", err)
	}
	defer clear(b)
	var keys []worker.Secret
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := wallet.ParseNodeKey(line)
		if err != nil {
			return nil, fmt.Errorf("--node-wallet-keys %s, line %d: %v", path, i+1, err)
		}
		k.Zero()
		keys = append(keys, worker.Secret(line))
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("--node-wallet-keys %s holds no key: one base64 key a line, for instances 1, 2, …", path)
	}
	return keys, nil
}
