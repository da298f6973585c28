package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/remote"
)

// remoteFlags point the desktop app (or status) at another host's control API.
type remoteFlags struct {
	target, tokenFile, fingerprint string
}

func (r *remoteFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.target, "remote", "", "watch a worker host's control API: https://HOST:PORT, http://127.0.0.1:PORT or unix:///PATH/api.sock")
	fs.StringVar(&r.tokenFile, "token-file", "", "file holding the worker host's api-token (or set $COCOON_PROVIDER_TOKEN)")
	fs.StringVar(&r.fingerprint, "fingerprint", "", "the worker host's certificate fingerprint (https), as run --headless --api-public prints it")
}

// dial connects to --remote with the token from --token-file or the environment.
func (r *remoteFlags) dial(ctx context.Context) (*remote.Client, error) {
	token := os.Getenv("COCOON_PROVIDER_TOKEN")
	if r.tokenFile != "" {
		b, err := os.ReadFile(r.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" && !strings.HasPrefix(r.target, "unix:") {
		return nil, errors.New("--remote needs the worker host's token: copy its api-token file here and give --token-file FILE (or set $COCOON_PROVIDER_TOKEN)")
	}
	return remote.Dial(ctx, r.target, token, r.fingerprint)
}

// cmdWatch is `watch --remote URL`: follow a worker host from a terminal
// (the monitor of builds without the desktop app, e.g. on macOS): its
// state once, then a progress line every interval and every message,
// pause and alert as it happens.
func cmdWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("watch", stderr)
	var rf remoteFlags
	rf.register(fs)
	every := fs.Duration("every", 10*time.Second, "print a progress line this often")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if rf.target == "" {
		return errors.New("watch needs the worker host: --remote https://HOST:PORT --token-file FILE (the host runs `cocoon-provider run --headless --api …`)")
	}
	if *every < time.Second {
		return fmt.Errorf("--every %s is too short: use 1s or more", *every)
	}
	client, err := rf.dial(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	fmt.Fprintf(stdout, "Watching %s (%s). Ctrl-C stops watching; the worker goes on.\n", rf.target, client.ServerVersion())
	events := client.Subscribe(ctx)
	tick := time.NewTicker(*every)
	defer tick.Stop()
	stamp := func() string { return time.Now().Format("15:04:05") }
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			switch {
			case ev.Kind == engine.EventAlert && ev.Alert != nil:
				fmt.Fprintf(stdout, "%s  %s: %s\n", stamp(), ev.Alert.Title, ev.Alert.Body)
			case ev.Message != "":
				fmt.Fprintf(stdout, "%s  %s\n", stamp(), ev.Message)
			}
		case <-tick.C:
			st := client.State()
			if st.StoreError != "" {
				fmt.Fprintf(stdout, "%s  %s\n", stamp(), st.StoreError)
				continue
			}
			line := progressLine(st)
			if line == "" {
				line = "no worker is serving on the host"
			}
			fmt.Fprintf(stdout, "%s  %s\n", stamp(), line)
		}
	}
}
