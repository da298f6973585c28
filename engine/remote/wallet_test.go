package remote

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine"
)

// vectorWords is the sample mnemonic of the TON integration notes (§1.2);
// as a v4r2 wallet on mainnet it is ownerV4R2.
const (
	vectorWords = "diet diet attack autumn expose honey skate lounge holiday opinion village priority major enroll romance famous motor pact hello rubber express warfare rose whisper"
	ownerV4R2   = "UQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazoTN"
)

func TestWireWalletRoundTrip(t *testing.T) {
	for name, in := range map[string]engine.WalletSetupResult{"filled": filled[engine.WalletSetupResult](t), "zero": {}} {
		t.Run(name, func(t *testing.T) {
			checkSame(t, in, roundTrip(t, in, toWireWalletSetupResult, wireWalletSetupResult.engine))
		})
	}
	req := filled[engine.WalletSetupRequest](t)
	checkSame(t, req, roundTrip(t, req, toWireWalletSetup, wireWalletSetup.engine))
}

// TestWalletSetupThroughTheClient: on the unix socket the setup and the
// wallet read travel both ways; over TCP the client does not send the
// secrets and the server refuses them anyway; the server logs neither.
func TestWalletSetupThroughTheClient(t *testing.T) {
	var logs bytes.Buffer
	api := newAPI()
	srv := NewServer(api, ServerOptions{Token: testToken, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx := context.Background()
	const pass = "a long passphrase"

	c := clientOver(t, "unix", srv)
	info, err := c.Wallet(ctx)
	if err != nil || info.Configured() {
		t.Fatalf("Wallet() before setup = %+v, %v", info, err)
	}
	_, err = c.WalletSetup(ctx, engine.WalletSetupRequest{Mode: engine.WalletOwnerAddress, Address: "not an address", Passphrase: []byte(pass)})
	if !errors.Is(err, engine.ErrInvalidWalletSetup) {
		t.Fatalf("bad address: %v", err)
	}
	res, err := c.WalletSetup(ctx, engine.WalletSetupRequest{Mode: engine.WalletImport, Version: "v4r2", Phrase: []byte(vectorWords), Passphrase: []byte(pass)})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if res.Wallet.Owner != ownerV4R2 || res.Wallet.OwnerVersion != "v4r2" || !res.NodeKeyCreated || res.Wallet.CocoonWallet == "" || !res.Wallet.Keystore {
		t.Errorf("import result %+v", res)
	}
	if info, err := c.Wallet(ctx); err != nil || info != res.Wallet {
		t.Errorf("Wallet() after setup = %+v, %v; want %+v", info, err, res.Wallet)
	}
	_, err = c.WalletSetup(ctx, engine.WalletSetupRequest{Mode: engine.WalletCreate, Passphrase: []byte(pass)})
	if !errors.Is(err, engine.ErrInvalidWalletSetup) || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("second owner wallet: %v", err)
	}

	tcp := clientOver(t, "tcp", srv)
	if info, err := tcp.Wallet(ctx); err != nil || info.Owner != ownerV4R2 {
		t.Errorf("Wallet() over TCP = %+v, %v", info, err)
	}
	before := len(api.WalletRequests())
	_, err = tcp.WalletSetup(ctx, engine.WalletSetupRequest{Mode: engine.WalletOwnerAddress, Address: ownerV4R2, Passphrase: []byte(pass)})
	if !errors.Is(err, ErrLocalOnly) {
		t.Errorf("setup over TCP: %v", err)
	}
	// A client that sends it anyway is refused before the engine sees it.
	hs, _ := httpServer(t, srv)
	body := `{"mode":"import","phrase":"` + "ZGlldA==" + `","passphrase":"` + "c2VjcmV0c2VjcmV0" + `"}`
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/v1/wallet/setup", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("raw setup over TCP: status %d", resp.StatusCode)
	}
	if n := len(api.WalletRequests()); n != before {
		t.Errorf("the engine saw %d setups over TCP", n-before)
	}
	for _, secret := range []string{pass, "diet diet attack", "c2VjcmV0c2VjcmV0", "ZGlldA=="} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the server log holds %q:\n%s", secret, logs.String())
		}
	}
}
