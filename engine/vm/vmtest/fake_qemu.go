//go:build linux

package vmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// EnvFakeQEMU, when set in a re-executed test binary, makes RunFakeQEMU
// act as QEMU. Its value is the JSON of a FakeBehaviour.
const EnvFakeQEMU = "COCOON_VMTEST_FAKE_QEMU"

// What the fake does on a request.
const (
	ActExit   = "exit"   // exit (status 0), removing pid file and socket like QEMU
	ActIgnore = "ignore" // answer (QMP) but keep running
)

// FakeBehaviour scripts the fake QEMU.
type FakeBehaviour struct {
	// Stdout and Stderr are written at start (the console, error text).
	Stdout string `json:",omitempty"`
	Stderr string `json:",omitempty"`
	// StdoutBytes more bytes of console filler are written after Stdout.
	StdoutBytes int `json:",omitempty"`
	// ExitAtStart makes the fake exit with ExitCode right after writing
	// Stdout and Stderr, like QEMU rejecting its arguments.
	ExitAtStart bool `json:",omitempty"`
	ExitCode    int  `json:",omitempty"`
	// Powerdown: ActIgnore (default: no ACPI OS) or ActExit (the guest
	// powers off: SHUTDOWN guest-shutdown, exit 0).
	Powerdown string `json:",omitempty"`
	// Quit: ActExit (default) or ActIgnore (a wedged QEMU).
	Quit string `json:",omitempty"`
	// Term is what SIGTERM does: ActExit (default) or ActIgnore.
	Term string `json:",omitempty"`
	// Record names a file to which each QMP command received and each
	// SIGTERM is appended, one per line.
	Record string `json:",omitempty"`
	// QMPDelay delays opening the QMP socket (slow start-up).
	QMPDelay time.Duration `json:",omitempty"`
	// Lifetime ends the fake after this long (default 2 minutes) so that
	// a failed test leaves nothing behind.
	Lifetime time.Duration `json:",omitempty"`
}

// FakeQEMUCommand returns the command line that re-executes the running
// test binary as a fake QEMU: only the test named helperTest runs, and it
// must call RunFakeQEMU first. qemuArgs follow "--"; the fake understands
// "-pidfile <path>" and "-qmp unix:<path>,…" and ignores the rest. env is
// the environment to run it with.
func FakeQEMUCommand(helperTest string, b FakeBehaviour, qemuArgs ...string) (exe string, args, env []string, err error) {
	exe, err = os.Executable()
	if err != nil {
		return "", nil, nil, fmt.Errorf("test binary: %w", err)
	}
	js, err := json.Marshal(b)
	if err != nil {
		return "", nil, nil, err
	}
	args = append([]string{"-test.run=^" + helperTest + "$", "--"}, qemuArgs...)
	env = append(os.Environ(), EnvFakeQEMU+"="+string(js))
	// Under -race the runtime waits a second before exiting; QEMU does not.
	env = append(env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return exe, args, env, nil
}

// RunFakeQEMU returns at once unless EnvFakeQEMU is set; then it runs the
// fake QEMU and exits the process.
func RunFakeQEMU() {
	js, ok := os.LookupEnv(EnvFakeQEMU)
	if !ok {
		return
	}
	var b FakeBehaviour
	if err := json.Unmarshal([]byte(js), &b); err != nil {
		fmt.Fprintf(os.Stderr, "fake qemu: bad %s: %v\n", EnvFakeQEMU, err)
		os.Exit(2)
	}
	var args []string
	for i, a := range os.Args {
		if a == "--" {
			args = os.Args[i+1:]
			break
		}
	}
	os.Exit(runFake(b, args))
}

type fake struct {
	b       FakeBehaviour
	pidFile string
	qmpPath string
	exit    chan int
	recMu   sync.Mutex
}

func runFake(b FakeBehaviour, args []string) int {
	f := &fake{b: b, exit: make(chan int, 1)}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-pidfile" && i+1 < len(args):
			f.pidFile = args[i+1]
			i++
		case a == "-qmp" && i+1 < len(args):
			spec := args[i+1]
			i++
			path, _, _ := strings.Cut(strings.TrimPrefix(spec, "unix:"), ",")
			f.qmpPath = path
		}
	}
	os.Stdout.WriteString(b.Stdout)
	if b.StdoutBytes > 0 {
		line := []byte(strings.Repeat("x", 63) + "\n")
		for n := b.StdoutBytes; n > 0; n -= len(line) {
			os.Stdout.Write(line[:min(n, len(line))])
		}
	}
	os.Stderr.WriteString(b.Stderr)
	if b.ExitAtStart {
		return b.ExitCode
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	if f.pidFile != "" {
		pf, err := os.OpenFile(f.pidFile, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			fmt.Fprintf(os.Stderr, "qemu-fake: cannot create PID file: %v\n", err)
			return 1
		}
		// Like QEMU: hold a write lock for life.
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
		if err := unix.FcntlFlock(pf.Fd(), unix.F_SETLK, &lk); err != nil {
			fmt.Fprintf(os.Stderr, "qemu-fake: cannot lock PID file: %v\n", err)
			return 1
		}
		_ = pf.Truncate(0)
		fmt.Fprintf(pf, "%d\n", os.Getpid())
		defer pf.Close()
	}
	if f.qmpPath != "" {
		if b.QMPDelay > 0 {
			time.Sleep(b.QMPDelay) // the fake's own start-up delay, not test synchronisation
		}
		_ = os.Remove(f.qmpPath)
		ln, err := net.Listen("unix", f.qmpPath)
		if err != nil {
			fmt.Fprintf(os.Stderr, "qemu-fake: -qmp %s: %v\n", f.qmpPath, err)
			return 1
		}
		defer ln.Close()
		go f.serveQMP(ln)
	}
	lifetime := b.Lifetime
	if lifetime <= 0 {
		lifetime = 2 * time.Minute
	}
	deadline := time.NewTimer(lifetime)
	for {
		select {
		case code := <-f.exit:
			f.cleanup()
			return code
		case <-sigs:
			f.record("SIGTERM")
			if b.Term != ActIgnore {
				f.cleanup()
				return 0
			}
		case <-deadline.C:
			f.cleanup()
			return 3
		}
	}
}

func (f *fake) cleanup() {
	if f.pidFile != "" {
		_ = os.Remove(f.pidFile)
	}
	if f.qmpPath != "" {
		_ = os.Remove(f.qmpPath)
	}
}

func (f *fake) record(what string) {
	if f.b.Record == "" {
		return
	}
	f.recMu.Lock()
	defer f.recMu.Unlock()
	r, err := os.OpenFile(f.b.Record, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer r.Close()
	fmt.Fprintln(r, what)
}

// serveQMP serves one client at a time, as QEMU does.
func (f *fake) serveQMP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		f.serveConn(c)
	}
}

func (f *fake) serveConn(c net.Conn) {
	defer c.Close()
	var mu sync.Mutex
	send := func(v any) {
		mu.Lock()
		defer mu.Unlock()
		b, _ := json.Marshal(v)
		c.Write(append(b, '\r', '\n'))
	}
	event := func(name string, data map[string]any) {
		now := time.Now()
		send(map[string]any{
			"event":     name,
			"data":      data,
			"timestamp": map[string]int64{"seconds": now.Unix(), "microseconds": int64(now.Nanosecond() / 1000)},
		})
	}
	ok := map[string]any{"return": map[string]any{}}
	send(map[string]any{"QMP": map[string]any{
		"version":      map[string]any{"qemu": map[string]int{"major": 7, "minor": 2, "micro": 0}, "package": "fake"},
		"capabilities": []string{"oob"},
	}})
	// Commands are a JSON stream, not lines: go-qemu sends no newline.
	dec := json.NewDecoder(c)
	for {
		var cmd struct {
			Execute string `json:"execute"`
		}
		if err := dec.Decode(&cmd); err != nil {
			return
		}
		f.record(cmd.Execute)
		switch cmd.Execute {
		case "qmp_capabilities":
			send(ok)
		case "query-status":
			send(map[string]any{"return": map[string]any{"status": "running", "running": true, "singlestep": false}})
		case "system_powerdown":
			event("POWERDOWN", nil)
			send(ok)
			if f.b.Powerdown == ActExit {
				event("SHUTDOWN", map[string]any{"guest": true, "reason": "guest-shutdown"})
				f.exit <- 0
				return
			}
		case "quit":
			send(ok)
			if f.b.Quit != ActIgnore {
				event("SHUTDOWN", map[string]any{"guest": false, "reason": "host-qmp-quit"})
				f.exit <- 0
				return
			}
		default:
			send(map[string]any{"error": map[string]string{"class": "CommandNotFound", "desc": "The command " + cmd.Execute + " has not been found"}})
		}
	}
}
