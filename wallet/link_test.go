package wallet

import (
	"bytes"
	"image/png"
	"net/url"
	"strings"
	"testing"
)

func TestTransferLink(t *testing.T) {
	owner, _ := ParseAddress(vecUQ, Mainnet)
	nk, _ := ParseNodeKey(vecNodeKey)
	cocoon, _ := CocoonWalletAddress(owner, nk.PublicKey())
	cocoonEQ := cocoon.UserFriendly(true, false)
	partial, err := PartialWithdrawTransfer(cocoon, owner, 1_000_000_000, 9)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tr   Transfer
		want string
	}{
		{"top-up", TopUpTransfer(cocoon, 2_100_000_000), "ton://transfer/" + vecCocoonUQ + "?amount=2100000000"},
		{"withdraw", WithdrawTransfer(cocoon), "ton://transfer/" + cocoonEQ + "?amount=50000000&text=w"},
		{"block", BlockTransfer(cocoon), "ton://transfer/" + cocoonEQ + "?amount=50000000&text=b"},
		{"unblock", UnblockTransfer(cocoon), "ton://transfer/" + cocoonEQ + "?amount=50000000&text=u"},
		{"comment escaped", NewTransfer(owner, 1, "a b&c=d+e/f?g#h%i ✓"), "ton://transfer/" + vecUQ + "?amount=1&text=a%20b%26c%3Dd%2Be%2Ff%3Fg%23h%25i%20%E2%9C%93"},
		{"bounceable form", NewTransfer(owner.WithFlags(true, false), 0, ""), "ton://transfer/" + vecEQ + "?amount=0"},
		{"testnet", NewTransfer(owner.WithFlags(false, true), 7, "x"), "ton://transfer/" + vecTestnetUQ + "?amount=7&text=x"},
	}
	for _, tt := range tests {
		link, err := TransferLink(tt.tr)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if link != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, link, tt.want)
		}
		if strings.Contains(link, "+") {
			t.Errorf("%s: '+' in link", tt.name)
		}
		net := Mainnet
		if tt.tr.To.TestnetOnly() {
			net = Testnet
		}
		back, err := ParseTransferLink(link, net)
		if err != nil {
			t.Fatalf("%s: parse back: %v", tt.name, err)
		}
		bodyWant, _ := tt.tr.BodyCell()
		bodyGot, _ := back.BodyCell()
		if !back.To.Equal(tt.tr.To) || back.Amount != tt.tr.Amount || back.Bounce != tt.tr.Bounce ||
			(bodyWant == nil) != (bodyGot == nil) || (bodyWant != nil && !bytes.Equal(bodyWant.Hash(), bodyGot.Hash())) {
			t.Errorf("%s: parsed back %+v", tt.name, back)
		}
		// The query decodes with the standard library too.
		u, err := url.Parse(link)
		if err != nil || u.Query().Get("text") != tt.tr.Comment {
			t.Errorf("%s: net/url reads text %q", tt.name, u.Query().Get("text"))
		}
	}

	// A binary body travels in bin=.
	link, err := TransferLink(partial)
	if err != nil || !strings.Contains(link, "&bin=") || strings.Contains(link, "text=") {
		t.Fatalf("partial: %s %v", link, err)
	}
	back, err := ParseTransferLink(link, Mainnet)
	if err != nil || back.Body == nil || !bytes.Equal(back.Body.Hash(), partial.Body.Hash()) {
		t.Fatalf("bin round trip: %v", err)
	}
	if _, err := TransferLink(Transfer{Amount: 1}); err == nil {
		t.Error("link without destination")
	}
}

func TestParseTransferLinkErrors(t *testing.T) {
	for _, in := range []string{
		"https://app.tonkeeper.com/transfer/" + vecUQ,
		"ton://stake/" + vecUQ,
		"ton://transfer/" + vecUQ[:40],
		"ton://transfer/" + vecTestnetUQ + "?amount=1", // testnet on mainnet
		"ton://transfer/" + vecUQ + "?amount=1.5",
		"ton://transfer/" + vecUQ + "?amount=-1",
		"ton://transfer/" + vecUQ + "?amount=1e9",
		"ton://transfer/" + vecUQ + "?jetton=EQCxE6mUtQJKFnGfaROTKOt1lZbDiiX1kCixRv7Nw2Id_sDs&amount=1",
		"ton://transfer/" + vecUQ + "?bin=!!!",
		"ton://transfer/" + vecUQ + "?bin=AAAA",
		"ton://transfer/" + vecUQ + "?amount=1&text=%zz",
	} {
		if tr, err := ParseTransferLink(in, Mainnet); err == nil {
			t.Errorf("%s accepted: %+v", in, tr)
		}
	}
	// Links from other apps: '+' as space, no amount.
	tr, err := ParseTransferLink("ton://transfer/"+vecEQ+"?text=hello+there", Mainnet)
	if err != nil || tr.Comment != "hello there" || tr.Amount != 0 || !tr.Bounce {
		t.Errorf("foreign link: %+v %v", tr, err)
	}
}

func TestTransferQR(t *testing.T) {
	owner, _ := ParseAddress(vecUQ, Mainnet)
	nk, _ := ParseNodeKey(vecNodeKey)
	cocoon, _ := CocoonWalletAddress(owner, nk.PublicKey())
	link, err := TransferLink(WithdrawTransfer(cocoon))
	if err != nil {
		t.Fatal(err)
	}
	b, err := TransferQR(link)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatal("not a PNG")
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if r := img.Bounds(); r.Dx() != QRSize || r.Dy() != QRSize {
		t.Errorf("QR is %dx%d, want %d", r.Dx(), r.Dy(), QRSize)
	}
	// Top-left finder pattern: dark module inside a light quiet zone.
	dark := func(x, y int) bool { r, _, _, _ := img.At(x, y).RGBA(); return r < 0x8000 }
	if dark(0, 0) {
		t.Error("no quiet zone")
	}
	found := false
	for d := 0; d < QRSize/2 && !found; d++ {
		found = dark(d, d)
	}
	if !found {
		t.Error("no dark module on the diagonal")
	}
	if _, err := TransferQR(strings.Repeat("x", 8000)); err == nil {
		t.Error("oversized QR content accepted")
	}
}
