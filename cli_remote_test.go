package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/remote"
	"github.com/cocoon-provider/cocoon-provider/internal/syncbuf"
)

// TestWatchFollowsARemoteHost: watch prints the host's messages and
// alerts and a progress line, over the control API's unix socket.
func TestWatchFollowsARemoteHost(t *testing.T) {
	fake := enginetest.New(engine.State{Mode: engine.ModeDev}, hostcheck.Report{}, gpu.Inventory{})
	sock := filepath.Join(t.TempDir(), "api.sock")
	srvCtx, stopSrv := context.WithCancel(context.Background())
	defer stopSrv()
	srv := remote.NewServer(fake, remote.ServerOptions{Version: "test"})
	go func() { _ = srv.ServeUnix(srvCtx, sock) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := remote.Dial(context.Background(), "unix://"+sock, "", "")
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- cmdWatch(ctx, []string{"--remote", "unix://" + sock, "--every", "1s"}, &out, &errb)
	}()
	waitOut := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in:\n%s%s", want, out.String(), errb.String())
			}
			fake.PublishAlert(engine.Alert{Kind: engine.AlertPayout, Title: "Payout arrived", Body: "2 TON", Instance: engine.NoInstance})
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitOut("Watching unix://")
	waitOut("Payout arrived: 2 TON")
	waitOut("no worker is serving on the host")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := cmdWatch(context.Background(), nil, &out, &errb); err == nil || !strings.Contains(err.Error(), "--remote") {
		t.Errorf("watch without --remote: %v", err)
	}
}
