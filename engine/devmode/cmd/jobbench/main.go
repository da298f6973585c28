//go:build linux && cgo

// Command jobbench measures dev mode's request path: one fixed set of
// chat completions, run first by the synthetic generator in this process
// (the host baseline), then sent through the stand-in proxy to the
// stand-in worker in the QEMU VM, which runs the same generator on the same
// prompts. The ratio of the two is what the VM path costs: emulation (TCG
// where KVM is not available), the guest's vCPUs, RA-TLS and the proxy.
//
//	go run ./engine/devmode/cmd/jobbench -requests 40 -concurrency 2
//
// It prints numbers only, never pass or fail. While the VM serves the
// measured requests it samples, every 500 ms, the CPU and RSS of this
// process (the engine, the stand-in proxy and the benchmark's own HTTP
// client) and of QEMU. The VM uses a fresh data directory and free
// loopback ports, so a running app is not disturbed; it does not use a
// GPU (NVML is replaced by a library that is never found).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/shirou/gopsutil/v3/process"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/synth"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

const (
	// benchSeed is the seed of request 0; request i uses benchSeed+i.
	benchSeed = 0x6a6f6262656e6368
	// warmups run before each measured set, with prompts of their own.
	warmups = 4
	// readyTimeout bounds boot to the first /jsonstats answer (TCG is slow).
	readyTimeout = 5 * time.Minute
	// connectTimeout bounds the wait for the worker to connect to the proxy.
	connectTimeout = 2 * time.Minute
	// sampleEvery is the CPU and RSS sampling interval.
	sampleEvery = 500 * time.Millisecond
	// stopTimeout bounds the VM's graceful stop.
	stopTimeout = 2 * time.Minute
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	requests, concurrency  int
	promptWords, maxTokens int
	reasoning              int
	dataDir, src, qemu     string
	workerPort, clientPort int
}

func run(args []string, stdout, stderr io.Writer) int {
	var c config
	fs := flag.NewFlagSet("jobbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.requests, "requests", 40, "measured requests (each path)")
	fs.IntVar(&c.concurrency, "concurrency", 2, "requests in flight at once")
	fs.IntVar(&c.promptWords, "prompt-words", 120, "words per prompt")
	fs.IntVar(&c.maxTokens, "max-tokens", 64, "tokens generated per request, reasoning included")
	fs.IntVar(&c.reasoning, "reasoning-tokens", 8, "how many of -max-tokens are reasoning tokens")
	fs.StringVar(&c.dataDir, "data-dir", "", "the engine's data directory (default: a temporary one, removed at the end)")
	fs.StringVar(&c.src, "src", ".", "cocoon-provider source tree (module root), to build the stand-in image when it is not cached")
	fs.StringVar(&c.qemu, "qemu", "", "the QEMU binary (default: "+vm.DefaultBinary+")")
	fs.IntVar(&c.workerPort, "worker-port", 0, "the stand-in proxy's worker port (default: a free one)")
	fs.IntVar(&c.clientPort, "client-port", 0, "the stand-in proxy's client port (default: a free one)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "jobbench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := c.validate(); err != nil {
		fmt.Fprintf(stderr, "jobbench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, c, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "jobbench: %v\n", err)
		return 1
	}
	return 0
}

func (c *config) validate() error {
	var errs []error
	if c.requests < 1 || c.concurrency < 1 {
		errs = append(errs, errors.New("-requests and -concurrency must be at least 1"))
	}
	if c.promptWords < 1 {
		errs = append(errs, errors.New("-prompt-words must be at least 1"))
	}
	for _, p := range []int{c.workerPort, c.clientPort} {
		if p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("port %d: must be 1..65535 (0: a free one)", p))
		}
	}
	sr := requestSet(*c, 0, 1)[0].SynthRequest()
	if err := sr.Validate(); err != nil {
		errs = append(errs, err)
	}
	src, err := filepath.Abs(c.src)
	if err != nil {
		errs = append(errs, fmt.Errorf("-src %q: %w", c.src, err))
	}
	c.src = src
	return errors.Join(errs...)
}

// requestSet is requests from..from+n-1: a prompt of its own each (so
// the prefix cache does not help), streamed.
func requestSet(c config, from, n int) []standin.CompletionRequest {
	out := make([]standin.CompletionRequest, n)
	for i := range out {
		seed := benchSeed + uint64(from+i)
		out[i] = standin.CompletionRequest{Prompt: standin.Prompt(seed, c.promptWords), MaxTokens: c.maxTokens,
			ReasoningTokens: c.reasoning, Seed: seed, Stream: true}
	}
	return out
}

func bench(ctx context.Context, c config, stdout, stderr io.Writer) error {
	measured := requestSet(c, 0, c.requests)
	warm := requestSet(c, c.requests, warmups)

	// The host baseline first, while no VM competes for the CPUs.
	fmt.Fprintf(stderr, "jobbench: host baseline: %d requests in this process\n", c.requests)
	e := synth.NewEngine()
	host := func(ctx context.Context, r standin.CompletionRequest) (sample, error) {
		start := time.Now()
		var first time.Duration
		u, err := e.Generate(ctx, r.SynthRequest(), func(synth.Piece) error {
			if first == 0 {
				first = max(time.Since(start), time.Nanosecond)
			}
			return nil
		})
		return sample{latency: time.Since(start), firstToken: first, tokens: u.CompletionTokens}, err
	}
	if _, err := runSet(ctx, warm, c.concurrency, host); err != nil {
		return fmt.Errorf("host warm-up: %w", err)
	}
	hostRep, err := runSet(ctx, measured, c.concurrency, host)
	if err != nil {
		return fmt.Errorf("host baseline: %w", err)
	}

	vmRep, info, err := vmPath(ctx, c, measured, warm, stderr)
	if err != nil {
		return err
	}
	printTable(stdout, c, hostRep, vmRep, info)
	return nil
}

// vmInfo is what the table says about the VM run besides the requests.
type vmInfo struct {
	accel         vm.Accel
	vcpus         string
	boot, connect time.Duration
	app, qemu     usage
}

// vmPath boots the stand-in worker, runs the warm-up and the measured
// set through the stand-in proxy, and stops everything again.
func vmPath(ctx context.Context, c config, measured, warm []standin.CompletionRequest, stderr io.Writer) (rep report, info vmInfo, err error) {
	dataDir := c.dataDir
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "jobbench-"); err != nil {
			return rep, info, err
		}
		defer func() { err = errors.Join(err, os.RemoveAll(dataDir)) }()
	}
	wport, cport := c.workerPort, c.clientPort
	for _, p := range []*int{&wport, &cport} {
		if *p == 0 {
			if *p, err = freePort(); err != nil {
				return rep, info, err
			}
		}
	}
	lock, err := engine.AcquireLock(dataDir)
	if err != nil {
		return rep, info, err
	}
	defer func() { err = errors.Join(err, lock.Release()) }()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := engine.New(engine.Options{DataDir: dataDir, SourceDir: c.src, QEMU: c.qemu, NVML: noNVML(), Logger: log,
		DevLoad:       &standin.Load{}, // no built-in client: the benchmark sends every request
		DevWorkerPort: wport, DevClientPort: cport})
	defer func() { err = errors.Join(err, s.Close()) }()
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		if err := s.Run(runCtx); err != nil {
			log.Error("engine stopped", "error", err)
		}
	}()
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if s.State().Dev != nil {
			fmt.Fprintln(stderr, "jobbench: stopping the VM")
		}
		err = errors.Join(err, s.StopDev(stopCtx))
		cancelRun()
		<-runDone
	}()

	events := s.Subscribe(runCtx)
	fmt.Fprintln(stderr, "jobbench: starting dev mode (the first time builds the stand-in image)")
	if err := s.StartDev(ctx); err != nil {
		return rep, info, fmt.Errorf("start dev mode: %w", err)
	}
	inst, err := waitRunning(ctx, s, events)
	if err != nil {
		return rep, info, err
	}
	info.accel, info.boot = inst.Accel, inst.BootTime
	fmt.Fprintf(stderr, "jobbench: worker ready in %s (%s); waiting for it to connect to the proxy\n", inst.BootTime.Round(time.Millisecond), inst.Accel)

	base := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(cport))
	tr := &http.Transport{MaxIdleConnsPerHost: c.concurrency, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	through := func(ctx context.Context, r standin.CompletionRequest) (sample, error) {
		res, err := standin.Complete(ctx, hc, base, r)
		return sample{latency: res.Latency, firstToken: res.FirstToken, tokens: res.Usage.CompletionTokens}, err
	}
	start := time.Now()
	if err := waitConnected(ctx, warm[0], through); err != nil {
		return rep, info, err
	}
	info.connect = time.Since(start)
	if _, err := runSet(ctx, warm[1:], c.concurrency, through); err != nil {
		return rep, info, fmt.Errorf("VM warm-up: %w", err)
	}

	inst = s.State().Dev
	info.vcpus = "?"
	qp, err := process.NewProcessWithContext(ctx, int32(inst.PID))
	if err != nil {
		return rep, info, fmt.Errorf("QEMU process %d: %w", inst.PID, err)
	}
	if args, err := qp.CmdlineSliceWithContext(ctx); err == nil {
		if i := slices.Index(args, "-smp"); i >= 0 && i+1 < len(args) {
			info.vcpus = args[i+1]
		}
	}
	self, err := process.NewProcessWithContext(ctx, int32(os.Getpid()))
	if err != nil {
		return rep, info, err
	}
	fmt.Fprintf(stderr, "jobbench: VM path: %d requests through the stand-in proxy\n", len(measured))
	smp := startSampler(self, qp)
	rep, err = runSet(ctx, measured, c.concurrency, through)
	info.app, info.qemu = smp.stop()
	if err != nil {
		return rep, info, fmt.Errorf("VM path: %w", err)
	}
	return rep, info, nil
}

// waitRunning waits until the dev instance runs (its /jsonstats
// answered), on the engine's events, with a 1 s backstop for a missed
// one.
func waitRunning(ctx context.Context, s *engine.Service, events <-chan engine.Event) (*engine.Instance, error) {
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if in := s.State().Dev; in != nil {
			switch in.State {
			case vm.StateRunning:
				return in, nil
			case vm.StateFailed:
				return nil, fmt.Errorf("the stand-in VM failed: %s", in.LastExit)
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("the stand-in worker was not ready within %s", readyTimeout)
		case <-s.DevDone():
			return nil, errors.New("dev mode ended before the worker was ready")
		case <-events:
		case <-tick.C:
		}
	}
}

// waitConnected sends r until the proxy has a worker for it: the worker
// connects shortly after /jsonstats answers, and the proxy answers 503
// until then.
func waitConnected(ctx context.Context, r standin.CompletionRequest, do func(context.Context, standin.CompletionRequest) (sample, error)) error {
	deadline := time.Now().Add(connectTimeout)
	for {
		_, err := do(ctx, r)
		var he *standin.HTTPError
		if err == nil || !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the worker did not connect to the stand-in proxy within %s: %w", connectTimeout, err)
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// sample is one request's outcome.
type sample struct {
	latency, firstToken time.Duration
	tokens              int64 // completion tokens
}

// report is a finished set of requests.
type report struct {
	wall        time.Duration
	latencies   []time.Duration // sorted
	firstTokens []time.Duration // sorted; requests that produced a token
	tokens      int64
}

// runSet runs reqs, concurrency at a time, through do. It stops at the
// first failed request and returns its error: a set with failures is
// not a measurement.
func runSet(ctx context.Context, reqs []standin.CompletionRequest, concurrency int, do func(context.Context, standin.CompletionRequest) (sample, error)) (report, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int)
	var (
		mu  sync.Mutex
		rep report
		wg  sync.WaitGroup
	)
	start := time.Now()
	for range min(concurrency, len(reqs)) {
		wg.Go(func() {
			for i := range jobs {
				if ctx.Err() != nil {
					continue // a request failed: drain the rest
				}
				s, err := do(ctx, reqs[i])
				if err != nil {
					cancel(fmt.Errorf("request %d: %w", i, err))
					continue
				}
				mu.Lock()
				rep.latencies = append(rep.latencies, s.latency)
				if s.firstToken > 0 {
					rep.firstTokens = append(rep.firstTokens, s.firstToken)
				}
				rep.tokens += s.tokens
				mu.Unlock()
			}
		})
	}
feed:
	for i := range reqs {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	rep.wall = time.Since(start)
	slices.Sort(rep.latencies)
	slices.Sort(rep.firstTokens)
	return rep, context.Cause(ctx)
}

func (r report) tokensPerSec() float64   { return float64(r.tokens) / r.wall.Seconds() }
func (r report) requestsPerSec() float64 { return float64(len(r.latencies)) / r.wall.Seconds() }

// percentile returns the nearest-rank p-th percentile of sorted values.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted) + 99) / 100 // ceil(p/100·n), 1-based
	return sorted[max(i, 1)-1]
}

// usage is a process's CPU (100% = one core) and RSS over the samples.
type usage struct {
	n              int
	cpuSum, cpuMax float64
	rssSum, rssMax float64 // MiB
	err            error
}

func (u *usage) add(cpu, rss float64) {
	u.n++
	u.cpuSum += cpu
	u.cpuMax = max(u.cpuMax, cpu)
	u.rssSum += rss
	u.rssMax = max(u.rssMax, rss)
}

// sampler reads two processes' CPU time and RSS every sampleEvery.
type sampler struct {
	stopc chan struct{}
	done  chan struct{}
	app   usage
	qemu  usage
}

func startSampler(app, qemu *process.Process) *sampler {
	s := &sampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		type last struct {
			cpu float64 // seconds
			at  time.Time
		}
		read := func(p *process.Process) (float64, float64, error) {
			t, err := p.Times()
			if err != nil {
				return 0, 0, err
			}
			m, err := p.MemoryInfo()
			if err != nil {
				return 0, 0, err
			}
			return t.User + t.System, float64(m.RSS) / (1 << 20), nil
		}
		procs := []*process.Process{app, qemu}
		dst := []*usage{&s.app, &s.qemu}
		prev := make([]last, len(procs))
		for i, p := range procs {
			cpu, _, err := read(p)
			prev[i] = last{cpu, time.Now()}
			dst[i].err = err
		}
		tick := time.NewTicker(sampleEvery)
		defer tick.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-tick.C:
			}
			for i, p := range procs {
				cpu, rss, err := read(p)
				now := time.Now()
				if err != nil {
					dst[i].err = err
					continue
				}
				dst[i].add(100*(cpu-prev[i].cpu)/now.Sub(prev[i].at).Seconds(), rss)
				prev[i] = last{cpu, now}
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the app's and QEMU's usage.
func (s *sampler) stop() (usage, usage) {
	close(s.stopc)
	<-s.done
	return s.app, s.qemu
}

func printTable(w io.Writer, c config, host, vmr report, info vmInfo) {
	fmt.Fprintf(w, "jobbench: %d requests, concurrency %d, %d prompt words, %d tokens (%d reasoning) each; host GOMAXPROCS %d, VM %s vCPU under %s\n",
		c.requests, c.concurrency, c.promptWords, c.maxTokens, c.reasoning, runtime.GOMAXPROCS(0), info.vcpus, info.accel)
	fmt.Fprintf(w, "  %-22s %14s %14s %10s\n", "", "host", "VM ("+string(info.accel)+")", "VM/host")
	num := func(name string, h, v float64) {
		fmt.Fprintf(w, "  %-22s %14.1f %14.1f %9.3fx\n", name, h, v, v/h)
	}
	dur := func(name string, h, v time.Duration) {
		ratio := "-"
		if h > 0 {
			ratio = fmt.Sprintf("%.1fx", float64(v)/float64(h))
		}
		fmt.Fprintf(w, "  %-22s %14s %14s %10s\n", name, round(h), round(v), ratio)
	}
	num("completion tokens/s", host.tokensPerSec(), vmr.tokensPerSec())
	num("requests/s", host.requestsPerSec(), vmr.requestsPerSec())
	dur("latency p50", percentile(host.latencies, 50), percentile(vmr.latencies, 50))
	dur("latency p99", percentile(host.latencies, 99), percentile(vmr.latencies, 99))
	dur("first token p50", percentile(host.firstTokens, 50), percentile(vmr.firstTokens, 50))
	dur("wall", host.wall, vmr.wall)
	fmt.Fprintf(w, "  VM: boot to ready %s, then %s until the worker served through the proxy\n",
		round(info.boot), round(info.connect))
	fmt.Fprintf(w, "  while the VM served the measured requests (every %s; CPU 100%% = one core):\n", sampleEvery)
	for _, p := range []struct {
		name string
		u    usage
	}{{"app (engine, proxy, bench client)", info.app}, {"QEMU", info.qemu}} {
		if p.u.n == 0 {
			fmt.Fprintf(w, "    %-34s no samples (%v)\n", p.name, p.u.err)
			continue
		}
		n := float64(p.u.n)
		fmt.Fprintf(w, "    %-34s CPU avg %5.1f%% max %5.1f%%   RSS avg %6.1f MiB max %6.1f MiB   (%d samples)\n",
			p.name, p.u.cpuSum/n, p.u.cpuMax, p.u.rssSum/n, p.u.rssMax, p.u.n)
	}
}

// round shortens a duration for the table.
func round(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}

// freePort is a loopback port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// noNVML is a library whose Init fails as on a machine without the
// driver, so the benchmark never touches a GPU.
func noNVML() nvml.Interface {
	return &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }}
}
