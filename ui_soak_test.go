//go:build integration && !nogui

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/remote"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

// Soak settings (BenchmarkGUISoak): SOAK_DURATION per mode (default 10m),
// SOAK_MODES the modes in order (default "window tray"), SOAK_CSV a
// folder for the 1 Hz samples (one CSV per mode).
const (
	soakDurationEnv = "SOAK_DURATION"
	soakModesEnv    = "SOAK_MODES"
	soakCSVEnv      = "SOAK_CSV"
)

// BenchmarkGUISoak runs the desktop app under Xvfb with the dev-mode worker
// serving stand-in traffic, once with the window open and once with only
// the tray icon, sampling the app's and QEMU's RSS and CPU once a second.
// It prints a table per mode: RSS at the start of the second minute (after
// the first frame, the VM's boot and the first requests), at the end, the
// highest, the growth per hour fitted over the second half, and the mean
// CPU. Numbers only: nothing here fails on a value. make soak runs it.
func BenchmarkGUISoak(b *testing.B) {
	d := 10 * time.Minute
	if v := os.Getenv(soakDurationEnv); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			b.Fatalf("%s=%q: %v", soakDurationEnv, v, err)
		}
	}
	modes := strings.Fields(os.Getenv(soakModesEnv))
	if len(modes) == 0 {
		modes = []string{"window", "tray"}
	}
	display := startXvfb(b)
	var rows []string
	for range b.N {
		for _, mode := range modes {
			rows = append(rows, soakOnce(b, display, mode, d))
		}
	}
	fmt.Printf("\nsoak: %s per mode, dev-mode traffic, 1 Hz samples (%d CPUs, %s)\n", d, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))
	fmt.Println("mode    process    RSS@1min     RSS end     RSS max  growth (2nd half)  CPU mean")
	for _, r := range rows {
		fmt.Print(r)
	}
}

// soakOwner is the TON integration notes' sample address (§1.2).
const soakOwner = "UQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazoTN"

func soakOnce(b *testing.B, display, mode string, d time.Duration) string {
	b.Helper()
	// An owner address is set, so the app opens on its dashboard rather
	// than the first-run wizard.
	data := filepath.Join(b.TempDir(), "data")
	var cliOut strings.Builder
	if code := run([]string{"wallet", "address", "--data-dir", data, soakOwner}, &cliOut, &cliOut); code != 0 {
		b.Fatalf("set the owner address: %s", cliOut.String())
	}
	var p *appProcess
	switch mode {
	case "window":
		p = startAppIn(b, display, "", data)
	case "tray":
		host := startTrayHost(b)
		p = startAppIn(b, display, host.addr, data, "--hidden")
		<-host.registered
	default:
		b.Fatalf("%s: unknown mode %q (window or tray)", soakModesEnv, mode)
	}
	p.waitLog(b, "window ready", 2*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), d+5*time.Minute)
	defer cancel()
	client, err := remote.Dial(ctx, "unix://"+remote.SocketPath(p.dataDir), "", "")
	if err != nil {
		b.Fatalf("the app's control socket: %v", err)
	}
	defer client.Close()
	if err := client.StartDev(ctx); err != nil {
		b.Fatalf("start dev mode: %v", err)
	}
	qemu := 0
	for deadline := time.Now().Add(3 * time.Minute); qemu == 0; time.Sleep(time.Second) {
		if in := client.State().Dev; in != nil && in.State == vm.StateRunning && in.PID > 0 {
			qemu = in.PID
		}
		if time.Now().After(deadline) {
			b.Fatalf("the dev worker did not run within 3 minutes")
		}
	}

	var csv *os.File
	if dir := os.Getenv(soakCSVEnv); dir != "" {
		if csv, err = os.Create(filepath.Join(dir, "soak-"+mode+".csv")); err != nil {
			b.Fatal(err)
		}
		defer csv.Close()
		fmt.Fprintln(csv, "seconds,app_rss_mib,app_cpu_pct,qemu_rss_mib,qemu_cpu_pct")
	}
	procs := []*procSampler{{name: "app", pid: p.cmd.Process.Pid}, {name: "QEMU", pid: qemu}}
	start := time.Now()
	for _, s := range procs {
		s.sample(start)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for now := range tick.C {
		el := now.Sub(start)
		for _, s := range procs {
			s.sample(now)
		}
		if csv != nil {
			a, q := procs[0].last(), procs[1].last()
			fmt.Fprintf(csv, "%.0f,%.2f,%.1f,%.2f,%.1f\n", el.Seconds(), a.rss, a.cpu, q.rss, q.cpu)
		}
		if el >= d {
			break
		}
	}
	_ = client.StopDev(ctx)
	_ = p.cmd.Process.Signal(os.Interrupt)
	_ = p.wait(b, 30*time.Second)
	var out strings.Builder
	for _, s := range procs {
		fmt.Fprintf(&out, "%-7s %-8s %s\n", mode, s.name, s.summary())
	}
	return out.String()
}

// procSampler keeps one process's 1 Hz RSS and CPU samples.
type procSampler struct {
	name    string
	pid     int
	ticks   int64 // utime+stime at the previous sample
	prev    time.Time
	samples []procSample
	gone    bool
}

type procSample struct {
	at  time.Duration // since the first sample
	rss float64       // MiB
	cpu float64       // percent of one CPU since the previous sample
}

func (s *procSampler) sample(now time.Time) {
	if s.gone {
		return
	}
	rss, ticks, err := procStats(s.pid)
	if err != nil {
		s.gone = true
		return
	}
	if s.prev.IsZero() {
		s.prev, s.ticks = now, ticks
		s.samples = append(s.samples, procSample{rss: rss})
		return
	}
	first := s.prev.Add(-s.samples[len(s.samples)-1].at)
	cpu := float64(ticks-s.ticks) / clockTicks / now.Sub(s.prev).Seconds() * 100
	s.prev, s.ticks = now, ticks
	s.samples = append(s.samples, procSample{at: now.Sub(first), rss: rss, cpu: cpu})
}

func (s *procSampler) last() procSample { return s.samples[len(s.samples)-1] }

// summary: RSS at one minute, at the end, the highest, the least-squares
// growth per hour over the second half, and the mean CPU.
func (s *procSampler) summary() string {
	if len(s.samples) < 4 {
		return "too few samples (the process ended)"
	}
	at1 := s.samples[0].rss
	var maxRSS, cpu float64
	for _, x := range s.samples {
		if x.at <= time.Minute {
			at1 = x.rss
		}
		maxRSS = max(maxRSS, x.rss)
		cpu += x.cpu
	}
	half := s.samples[len(s.samples)/2:]
	var sx, sy, sxx, sxy float64
	for _, x := range half {
		h := x.at.Hours()
		sx, sy, sxx, sxy = sx+h, sy+x.rss, sxx+h*h, sxy+h*x.rss
	}
	n := float64(len(half))
	slope := (n*sxy - sx*sy) / (n*sxx - sx*sx)
	end := s.last()
	gone := ""
	if s.gone {
		gone = " (ended early)"
	}
	return fmt.Sprintf("%6.1f MiB  %6.1f MiB  %6.1f MiB  %+9.2f MiB/h  %6.1f %%%s",
		at1, end.rss, maxRSS, slope, cpu/float64(len(s.samples)-1), gone)
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// procStats reads a process's resident set (MiB) and its user+system CPU
// ticks.
func procStats(pid int) (rssMiB float64, ticks int64, err error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			rssMiB = kb / 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	rest := stat[bytes.LastIndexByte(stat, ')')+2:]
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return rssMiB, ut + st, nil
}
