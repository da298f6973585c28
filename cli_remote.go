package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

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
