package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/liteclient"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/wallet/litetest"
)

// TestCLILiteserversFromSettings: the liteserver config of the settings
// is the default, ahead of the wallet's.
func TestCLILiteserversFromSettings(t *testing.T) {
	live := litetest.Start(t)
	walletPath := litetest.WriteConfig(t, []liteclient.LiteserverConfig{live.Config()}, false)
	settingsPath := litetest.WriteConfig(t, []liteclient.LiteserverConfig{live.Config(), litetest.Refusing(t)}, false)
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, store.DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.SaveWalletConfig(ctx, st, engine.WalletConfig{TONConfig: walletPath}); err != nil {
		t.Fatal(err)
	}
	set := engine.DefaultSettings()
	set.LiteserverConfig = settingsPath
	if err := engine.WriteSettings(ctx, st, set); err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, stdout, stderr := runCLI(t, "liteservers", "--data-dir", dir)
	if code != 0 || !strings.Contains(stdout, "Liteservers of "+settingsPath) {
		t.Errorf("settings' config: exit %d %s %s", code, stdout, stderr)
	}
	// --config still wins.
	code, stdout, stderr = runCLI(t, "liteservers", "--data-dir", dir, "--config", walletPath)
	if code != 0 || !strings.Contains(stdout, "Liteservers of "+walletPath) {
		t.Errorf("--config: exit %d %s %s", code, stdout, stderr)
	}
}
