package helper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestHelperProcess is the fake `pkexec helper` the client tests start:
// it serves one request on the fixture named by GPUHELPER_TEST_ROOT, or
// exits with GPUHELPER_TEST_EXIT and no reply.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("GPUHELPER_TEST_PROCESS") != "1" {
		t.Skip("run by the client tests only")
	}
	if code := os.Getenv("GPUHELPER_TEST_EXIT"); code != "" {
		fmt.Fprintln(os.Stderr, "Error executing command as another user: Not authorized")
		var n int
		fmt.Sscan(code, &n)
		os.Exit(n)
	}
	root, err := os.OpenRoot(os.Getenv("GPUHELPER_TEST_ROOT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	h := &Helper{Root: root, CC: noCC()}
	rep, err := h.Serve(context.Background(), os.Stdin, os.Stdout)
	if err != nil || !rep.OK {
		os.Exit(1)
	}
	os.Exit(0)
}

// fakeClient returns a client whose pkexec is this test binary running
// TestHelperProcess, recording the command line it was given.
func fakeClient(t *testing.T, root string, env ...string) (*Client, *[]string) {
	var argv []string
	c := &Client{
		Pkexec: DefaultPkexec,
		Helper: DefaultHelperPath,
		Command: func(ctx context.Context, name string, args ...string) *exec.Cmd {
			argv = append([]string{name}, args...)
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$")
			cmd.Env = append(os.Environ(), append([]string{"GPUHELPER_TEST_PROCESS=1", "GPUHELPER_TEST_ROOT=" + root}, env...)...)
			return cmd
		},
	}
	return c, &argv
}

func TestClientBind(t *testing.T) {
	tr := consumerHost(t)
	c, argv := fakeClient(t, tr.root)
	rep, err := c.Do(context.Background(), Request{Op: OpBindVFIO, PCI: "0000:01:00.0"})
	if err != nil || !rep.OK || len(rep.Done) != 6 {
		t.Fatalf("Do: %+v, %v", rep, err)
	}
	if !slices.Equal(*argv, []string{DefaultPkexec, DefaultHelperPath}) {
		t.Errorf("command line %q", *argv)
	}
	if got := tr.read("sys/devices/pci0000:00/0000:01:00.0/driver_override"); got != "vfio-pci" {
		t.Errorf("driver_override %q", got)
	}
}

func TestClientRefusal(t *testing.T) {
	tr := sharedGroupHost(t)
	c, _ := fakeClient(t, tr.root)
	rep, err := c.Do(context.Background(), Request{Op: OpBindVFIO, PCI: "0000:01:00.0"})
	var he *HelperError
	if !errors.As(err, &he) || !rep.Refused || !strings.Contains(err.Error(), "gpu helper refused: IOMMU group 14") {
		t.Fatalf("Do: %+v, %v", rep, err)
	}
}

func TestClientStatus(t *testing.T) {
	tr := hgxHost(t)
	c, _ := fakeClient(t, tr.root)
	rep, err := c.Do(context.Background(), Request{Op: OpStatus, PCI: "0000:c3:00.0"})
	if err != nil || rep.Status == nil || rep.Status.Device.Name != "H100 SXM5 80GB" || !rep.Status.Eligible {
		t.Fatalf("Do: %+v, %v", rep, err)
	}
}

func TestClientPkexecFailures(t *testing.T) {
	tr := hgxHost(t)
	c, _ := fakeClient(t, tr.root, "GPUHELPER_TEST_EXIT=126")
	if _, err := c.Do(context.Background(), Request{Op: OpStatus, PCI: "0000:c3:00.0"}); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("exit 126: %v", err)
	}
	c, _ = fakeClient(t, tr.root, "GPUHELPER_TEST_EXIT=127")
	if _, err := c.Do(context.Background(), Request{Op: OpStatus, PCI: "0000:c3:00.0"}); !errors.Is(err, ErrPkexec) || !strings.Contains(err.Error(), "Not authorized") {
		t.Errorf("exit 127: %v", err)
	}
}

func TestClientValidatesFirst(t *testing.T) {
	started := false
	c := &Client{Pkexec: DefaultPkexec, Helper: DefaultHelperPath, Command: func(ctx context.Context, name string, args ...string) *exec.Cmd {
		started = true
		return exec.CommandContext(ctx, "false")
	}}
	if _, err := c.Do(context.Background(), Request{Op: OpBindVFIO, PCI: "0000:01:00.0;reboot"}); !IsRefusal(err) {
		t.Errorf("got %v, want a refusal", err)
	}
	if started {
		t.Error("pkexec started for an invalid request")
	}
}
