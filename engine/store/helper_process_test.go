package store

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// The tests re-execute the test binary as a child process for work that
// needs its own process: being killed mid-write (TestCrashRecovery) and
// running as another user (TestOpenReadOnly as root). The environment
// variable helperEnv selects what the child does; without it the helper
// tests skip.
const (
	helperEnv   = "STORE_TEST_HELPER" // "writer" or "open"
	helperDBEnv = "STORE_TEST_DB"     // database path for the child
	helperIter  = "STORE_TEST_ITER"   // crash iteration, part of the sources
)

// helperCmd returns a command running the test binary's helper test name
// with mode and the extra environment.
func helperCmd(t *testing.T, bin, name, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, "-test.run=^"+name+"$", "-test.count=1")
	// GORACE: a race-enabled child would otherwise wait a second on exit.
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "GORACE=atexit_sleep_ms=0")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// errKind names the sentinel err wraps, for a child to report.
func errKind(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{ErrReadOnly, "readonly"}, {ErrCorrupt, "corrupt"}, {ErrBadPath, "badpath"},
		{ErrNewerSchema, "newer"}, {ErrInvalid, "invalid"},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	if err == nil {
		return "ok"
	}
	return "other"
}

// TestHelperOpenProcess is the child of TestOpenReadOnly: it opens the
// database named by helperDBEnv and prints what happened.
func TestHelperOpenProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "open" {
		t.Skip("helper process for TestOpenReadOnly; runs only when re-executed by it")
	}
	s, err := Open(t.Context(), os.Getenv(helperDBEnv))
	if err == nil {
		err = s.Close()
	}
	fmt.Printf("result %s\nerror %v\n", errKind(err), err)
}
