package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/remote"
)

// TestCLIAlertsTelegram sets the chat, turns alerts on, stores the token
// from a file and sends a test message through the running engine's
// socket; the token never appears in what is printed.
func TestCLIAlertsTelegram(t *testing.T) {
	dir := t.TempDir()
	fake := enginetest.New(engine.State{Mode: engine.ModeDev}, hostcheck.Report{}, gpu.Inventory{})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	srv := remote.NewServer(fake, remote.ServerOptions{Version: "test"})
	go func() { _ = srv.ServeUnix(ctx, remote.SocketPath(dir)) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := remote.Dial(ctx, "unix://"+remote.SocketPath(dir), "", ""); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the test server did not come up")
		}
	}
	const token = "123456789:AAE-canary_token-0123456789abcdefghijk"
	tokenFile := filepath.Join(t.TempDir(), "bot-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errb := runCLI(t, "alerts", "telegram", "--data-dir", dir, "--chat", "-100123", "--on", "--token-file", tokenFile, "--test")
	if code != 0 || !strings.Contains(out, "stored, encrypted") || !strings.Contains(out, "test message was sent") ||
		!strings.Contains(out, "Telegram alerts: on · chat -100123 · a token is stored") {
		t.Fatalf("exit %d:\n%s%s", code, out, errb)
	}
	if strings.Contains(out+errb, token) {
		t.Error("the token was printed")
	}
	set, _ := fake.Settings(ctx)
	if fake.TelegramToken() != token || !set.TelegramEnabled || set.TelegramChatID != "-100123" || fake.TelegramTests != 1 {
		t.Errorf("engine: token set %v, settings %+v, tests %d", fake.TelegramToken() == token, set, fake.TelegramTests)
	}

	// From standard input, then removed; --off keeps the chat.
	withStdin(t, token+"\n")
	if code, out, errb := runCLI(t, "alerts", "telegram", "--data-dir", dir, "--token-stdin"); code != 0 || !strings.Contains(out, "stored") {
		t.Fatalf("--token-stdin: exit %d %s%s", code, out, errb)
	}
	code, out, _ = runCLI(t, "alerts", "telegram", "--data-dir", dir, "--remove-token", "--off")
	if code != 0 || !strings.Contains(out, "Telegram alerts: off · chat -100123 · no token stored") || fake.TelegramToken() != "" {
		t.Errorf("--remove-token --off: exit %d %s", code, out)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"alerts"}, 2, "usage"},
		{[]string{"alerts", "telegram", "--data-dir", dir, "--on", "--off"}, 1, "not both"},
		{[]string{"alerts", "telegram", "--data-dir", dir, "--token-stdin", "--remove-token"}, 1, "one of"},
		{[]string{"alerts", "telegram", "--data-dir", dir, token}, 1, "--token-file"},
		{[]string{"alerts", "telegram", "--data-dir", t.TempDir(), "--test"}, 1, "run --headless"},
	} {
		code, out, errb := runCLI(t, c.args...)
		if strings.Contains(out+errb, token) {
			t.Errorf("%v: the token was printed", c.args)
		}
		if code != c.code || !strings.Contains(out+errb, c.msg) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, code, out+errb, c.code, c.msg)
		}
	}
}
