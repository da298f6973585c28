package helper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Installed locations.
const (
	// DefaultHelperPath is where the package installs the helper.
	DefaultHelperPath = "/usr/lib/cocoon-provider/cocoon-provider-helper"
	// DefaultPkexec is polkit's pkexec.
	DefaultPkexec = "/usr/bin/pkexec"
	// PolkitAction is the helper's polkit action id.
	PolkitAction = "org.cocoon-provider.gpu-passthrough"
)

// ErrNotAuthorized is returned when polkit did not let the user run the
// helper (the password dialog was dismissed or the user is not allowed).
var ErrNotAuthorized = errors.New("not authorized to run the GPU helper: an administrator must approve it in the polkit dialog")

// ErrPkexec is returned when pkexec itself failed, for example because no
// polkit authentication agent runs in this session.
var ErrPkexec = errors.New("pkexec could not run the GPU helper (is a polkit authentication agent running in this session? from a shell, run the helper with sudo instead)")

// HelperError is a reply that reports a failure or a refusal.
type HelperError struct{ Reply Reply }

func (e *HelperError) Error() string {
	if e.Reply.Refused {
		return "gpu helper refused: " + e.Reply.Error
	}
	return "gpu helper: " + e.Reply.Error
}

// Client asks the helper for operations through pkexec: one process per
// request, the request on stdin, the reply on stdout.
type Client struct {
	// Pkexec and Helper are absolute paths; the command line is exactly
	// [Pkexec, Helper].
	Pkexec string
	Helper string
	// Command builds the process; nil means exec.CommandContext. Tests
	// substitute a fake helper.
	Command func(ctx context.Context, name string, args ...string) *exec.Cmd
}

// NewClient returns a Client for the installed helper.
func NewClient() *Client {
	return &Client{Pkexec: DefaultPkexec, Helper: DefaultHelperPath}
}

// Do sends req and returns the helper's reply. A request that fails
// Validate is refused here without starting anything. A reply that is not
// OK comes back with a *HelperError; ErrNotAuthorized and ErrPkexec (wrapped)
// report pkexec's own failures.
func (c *Client) Do(ctx context.Context, req Request) (Reply, error) {
	if err := req.Validate(); err != nil {
		return Reply{}, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Reply{}, fmt.Errorf("encode request: %w", err)
	}
	command := c.Command
	if command == nil {
		command = exec.CommandContext
	}
	cmd := command(ctx, c.Pkexec, c.Helper)
	cmd.Stdin = bytes.NewReader(body)
	stdout := &capped{max: MaxReplyBytes + 1}
	stderr := &capped{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return Reply{}, fmt.Errorf("gpu helper %s: %w", req, ctx.Err())
	}
	if out := bytes.TrimSpace(stdout.b); len(out) > 0 {
		rep, err := ParseReply(out)
		if err != nil {
			return Reply{}, fmt.Errorf("gpu helper %s: %w%s", req, err, tail(stderr.b))
		}
		if !rep.OK {
			return rep, &HelperError{Reply: rep}
		}
		return rep, nil
	}
	var exitErr *exec.ExitError
	if errors.As(runErr, &exitErr) {
		switch exitErr.ExitCode() {
		case 126:
			return Reply{}, ErrNotAuthorized
		case 127:
			return Reply{}, fmt.Errorf("%w%s", ErrPkexec, tail(stderr.b))
		}
	}
	if runErr != nil {
		return Reply{}, fmt.Errorf("gpu helper %s: %w%s", req, runErr, tail(stderr.b))
	}
	return Reply{}, fmt.Errorf("gpu helper %s: no reply%s", req, tail(stderr.b))
}

// CommandLine is the command the client runs, for a dry run.
func (c *Client) CommandLine() string {
	return strings.Join([]string{c.Pkexec, c.Helper}, " ")
}
