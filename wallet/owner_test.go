package wallet

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	tongowallet "github.com/tonkeeper/tongo/wallet"
	"github.com/xssnick/tonutils-go/ton/wallet"
)

func mustOwner(t testing.TB, k OwnerKey, v WalletVersion, net Network) Owner {
	t.Helper()
	o, err := OwnerFromKey(k, v, net)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// §1.2 addresses of the vector key.
func TestWalletAddressVectors(t *testing.T) {
	k := vecKey(t)
	tests := []struct {
		v              WalletVersion
		net            Network
		raw, uq, eq    string
		tongoV         tongowallet.Version
		tongoNetworkID int32
	}{
		{V4R2, Mainnet, vecRaw, vecUQ, vecEQ, tongowallet.V4R2, -239},
		{V4R2, Testnet, vecRaw, vecTestnetUQ, vecTestnetEQ, tongowallet.V4R2, -3},
		{V5R1, Mainnet, "0:2f473b95cb923c52348591f420c4192f6fc7a654baf47546f982b2a30b717825", "UQAvRzuVy5I8UjSFkfQgxBkvb8emVLr0dUb5grKjC3F4JRi0", "", tongowallet.V5R1, -239},
		{V5R1, Testnet, "", "0QC7XVoYjUc9I8Cb-xTo1XUgHNxr29p7NEqBRXxOETGkfS3D", "", tongowallet.V5R1, -3},
	}
	for _, tt := range tests {
		a, err := WalletAddress(k.Public(), tt.v, tt.net)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.v, tt.net, err)
		}
		if a.Display() != tt.uq || (tt.raw != "" && a.Raw() != tt.raw) || (tt.eq != "" && a.UserFriendly(true, tt.net == Testnet) != tt.eq) {
			t.Errorf("%s %s: %s %s", tt.v, tt.net, a.Display(), a.Raw())
		}
		if tt.v == V5R1 && tt.net == Testnet && (!strings.HasPrefix(a.Raw(), "0:bb5d5a18") || !strings.HasSuffix(a.Raw(), "31a47d")) {
			t.Errorf("V5R1 testnet raw %s, want 0:bb5d5a18…31a47d", a.Raw())
		}
		if a.Bounceable() || a.TestnetOnly() != (tt.net == Testnet) {
			t.Errorf("%s %s: flags", tt.v, tt.net)
		}
		// Oracle: tongo's independent derivation.
		netID := tt.tongoNetworkID
		id, err := tongowallet.GenerateWalletAddress(k.Public(), tt.tongoV, &netID, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if id.ToRaw() != a.Raw() {
			t.Errorf("%s %s: tongo %s, ours %s", tt.v, tt.net, id.ToRaw(), a.Raw())
		}
		o := mustOwner(t, k, tt.v, tt.net)
		if !o.CanSign() || !o.Address.Equal(a) || hex.EncodeToString(o.PublicKey()) != vecPubHex {
			t.Errorf("owner %+v", o.Address)
		}
	}
	// The V5R1 wallet_id of the vector: 2147483409 on mainnet, 2147483645 on testnet.
	for net, want := range map[Network]uint32{Mainnet: 2147483409, Testnet: 2147483645} {
		id := wallet.V5R1ID{NetworkGlobalID: net.GlobalID(), WorkChain: 0}
		if got := id.Serialized(); got != want {
			t.Errorf("%s wallet_id %d, want %d", net, got, want)
		}
	}
}

// tonutils-go's ton/wallet/address_test.go V3 vector (V3 is not an owner
// version here; the vector checks our reading of the library's address).
func TestLibraryV3Vector(t *testing.T) {
	pub, _ := hex.DecodeString("dcc39550bb494f4b493e7efe1aa18ea31470f33a2553c568cb74a17ed56790c1")
	a, err := wallet.AddressFromPubKey(pub, wallet.V3, wallet.DefaultSubwallet)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := AddressFromTonutils(a)
	if err != nil || ours.UserFriendly(true, false) != "EQCvoBT5Keb46oUhI_DpX0WXFDdX9ZyxXBfX3FC9cZa90nQP" {
		t.Fatalf("V3 vector: %s %v", ours.UserFriendly(true, false), err)
	}
	if _, err := WalletAddress(pub[:31], V4R2, Mainnet); err == nil {
		t.Error("short public key accepted")
	}
	if _, err := WalletAddress(pub, VersionUnknown, Mainnet); err == nil {
		t.Error("unknown version accepted")
	}
}

func TestOwnerKinds(t *testing.T) {
	a, _ := ParseAddress(vecUQ, Mainnet)
	w := WatchOwner(a, Mainnet)
	if w.CanSign() || w.PublicKey() != nil || !w.Key().IsZero() {
		t.Error("watch-only owner can sign")
	}
	cands, err := OwnerCandidates(vecKey(t), Mainnet)
	if err != nil || len(cands) != 2 || cands[0].Version != V5R1 || cands[1].Version != V4R2 {
		t.Fatalf("candidates %v %v", cands, err)
	}
	if cands[1].Address.Display() != vecUQ {
		t.Error("V4R2 candidate address")
	}
	if _, err := OwnerFromKey(OwnerKey{}, V4R2, Mainnet); err == nil {
		t.Error("owner without key")
	}
	for in, want := range map[string]WalletVersion{"v4r2": V4R2, "V4": V4R2, "v5r1": V5R1, "W5": V5R1} {
		if v, err := ParseWalletVersion(in); err != nil || v != want || v.String() != want.String() {
			t.Errorf("ParseWalletVersion(%q) = %v %v", in, v, err)
		}
	}
	// Owner JSON: address, version and network as text, never the key.
	js, err := json.Marshal(cands[0])
	if err != nil || string(js) != `{"Address":"UQAvRzuVy5I8UjSFkfQgxBkvb8emVLr0dUb5grKjC3F4JRi0","Version":"v5r1","Network":"mainnet"}` {
		t.Errorf("owner JSON %s %v", js, err)
	}
	var back Owner
	if err := json.Unmarshal(js, &back); err != nil || back.Version != V5R1 || back.Network != Mainnet || !back.Address.Equal(cands[0].Address) || back.CanSign() {
		t.Errorf("owner JSON back %v %v", back, err)
	}
	if _, err := ParseWalletVersion("v3r2"); err == nil {
		t.Error("v3r2 accepted")
	}
	if _, err := NewOwnerKey(make([]byte, 32)); err == nil {
		t.Error("32-byte owner key accepted")
	}
}
