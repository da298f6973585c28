package wallet

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sigurn/crc16"
	"github.com/tonkeeper/tongo/ton"
	"github.com/xssnick/tonutils-go/address"
)

// The §1.2 V4R2 vector in all its forms.
const (
	vecRaw       = "0:cb4c9ca05f0dfb9fbba9bf1da73f72cf9a29acd9cc23a91dd747d57be7349ace"
	vecUQ        = "UQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazoTN"
	vecEQ        = "EQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSaztkI"
	vecTestnetUQ = "0QDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazj9H"
	vecTestnetEQ = "kQDLTJygXw37n7upvx2nP3LPmims2cwjqR3XR9V75zSazmKC"
)

// Real mainnet addresses (checked against tongo's parser).
var mainnetAddresses = []struct{ text, raw string }{
	{"EQCxE6mUtQJKFnGfaROTKOt1lZbDiiX1kCixRv7Nw2Id_sDs", "0:b113a994b5024a16719f69139328eb759596c38a25f59028b146fecdc3621dfe"}, // USDT jetton master
	{"EQAvlWFDxGF2lXm67y4yzC17wYKD9A0guwPkMs1gOsM__NOT", "0:2f956143c461769579baef2e32cc2d7bc18283f40d20bb03e432cd603ac33ffc"}, // Notcoin jetton master
	{"EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2N", "0:83dfd552e63729b472fcbcc8c45ebcc6691702558b68ec7527e1ba403a0f31a8"},
	{"UQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqEBI", "0:83dfd552e63729b472fcbcc8c45ebcc6691702558b68ec7527e1ba403a0f31a8"},
	{"EQDKbjIcfM6ezt8KjKJJLshZJJSqX7XOA4ff-W72r5gqPrHF", "0:ca6e321c7cce9ecedf0a8ca2492ec8592494aa5fb5ce0387dff96ef6af982a3e"}, // docs.ton.org example
	{"UQDKbjIcfM6ezt8KjKJJLshZJJSqX7XOA4ff-W72r5gqPuwA", "0:ca6e321c7cce9ecedf0a8ca2492ec8592494aa5fb5ce0387dff96ef6af982a3e"},
	{"EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k", "0:a7b3b6d84a9d22805bd2d70a5be70b198c2282575f4c0f9015cc8e04cb1b2753"}, // Cocoon root (worker.conf.example)
	{"EQBcXvP9DUA4k5tqUapcilt4kZnBzF0Ts7OW0Yp5FI0aN7g0", "0:5c5ef3fd0d4038939b6a51aa5c8a5b789199c1cc5d13b3b396d18a79148d1a37"},
	{"EQBT4hy4vMEZ9uxSCuhw_gBKh9_AwmHXLe7Wo0O4Vh-4kRjJ", "0:53e21cb8bcc119f6ec520ae870fe004a87dfc0c261d72deed6a343b8561fb891"},
	{"EQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAM9c", "0:0000000000000000000000000000000000000000000000000000000000000000"},
	{vecUQ, vecRaw},
	{vecEQ, vecRaw},
}

// toStd rewrites a base64url address in the standard alphabet.
func toStd(s string) string { return strings.NewReplacer("-", "+", "_", "/").Replace(s) }

// friendly builds a user-friendly address with any tag and workchain
// byte and a valid CRC.
func friendly(tag, wc byte, hash [32]byte) string {
	var b [36]byte
	b[0], b[1] = tag, wc
	copy(b[2:], hash[:])
	binary.BigEndian.PutUint16(b[34:], crc16.Checksum(b[:34], xmodem))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func mustHash(t testing.TB, raw string) [32]byte {
	t.Helper()
	_, h, _ := strings.Cut(raw, ":")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad hash %q", raw)
	}
	return [32]byte(b)
}

func TestParseAddressVectorForms(t *testing.T) {
	tests := []struct {
		in               string
		net              Network
		form             AddressForm
		bounce, testnet  bool
		display, asTyped string
	}{
		{vecUQ, Mainnet, FormBase64URL, false, false, vecUQ, vecUQ},
		{vecEQ, Mainnet, FormBase64URL, true, false, vecUQ, vecEQ},
		{vecRaw, Mainnet, FormRaw, true, false, vecUQ, vecRaw},
		{strings.ToUpper(vecRaw), Mainnet, FormRaw, true, false, vecUQ, vecRaw},
		{vecTestnetUQ, Testnet, FormBase64URL, false, true, vecTestnetUQ, vecTestnetUQ},
		{vecTestnetEQ, Testnet, FormBase64URL, true, true, vecTestnetUQ, vecTestnetEQ},
		{vecRaw, Testnet, FormRaw, true, true, vecTestnetUQ, vecRaw},
		{vecUQ, Testnet, FormBase64URL, false, false, vecUQ, vecUQ}, // mainnet form on testnet: accepted, warned
		{"  " + vecUQ + "\n", Mainnet, FormBase64URL, false, false, vecUQ, vecUQ},
		{vecUQ[:20] + "\r\n" + vecUQ[20:], Mainnet, FormBase64URL, false, false, vecUQ, vecUQ},
		{"\t" + vecUQ[:10] + " " + vecUQ[10:30] + "\u00a0" + vecUQ[30:] + "\u200b", Mainnet, FormBase64URL, false, false, vecUQ, vecUQ},
		{"\ufeff" + vecRaw[:30] + "\n" + vecRaw[30:], Mainnet, FormRaw, true, false, vecUQ, vecRaw},
	}
	for _, tt := range tests {
		a, err := ParseAddress(tt.in, tt.net)
		if err != nil {
			t.Errorf("ParseAddress(%q, %s): %v", tt.in, tt.net, err)
			continue
		}
		if a.Raw() != vecRaw || a.Workchain() != 0 || a.Hash() != mustHash(t, vecRaw) {
			t.Errorf("%q: raw %s", tt.in, a.Raw())
		}
		if a.Form() != tt.form || a.Bounceable() != tt.bounce || a.TestnetOnly() != tt.testnet {
			t.Errorf("%q: form %s bounce %v testnet %v, want %s %v %v", tt.in, a.Form(), a.Bounceable(), a.TestnetOnly(), tt.form, tt.bounce, tt.testnet)
		}
		if a.Display() != tt.display || a.String() != tt.display || a.AsTyped() != tt.asTyped {
			t.Errorf("%q: display %s asTyped %s, want %s %s", tt.in, a.Display(), a.AsTyped(), tt.display, tt.asTyped)
		}
		for _, f := range []struct {
			b, tn bool
			want  string
		}{{false, false, vecUQ}, {true, false, vecEQ}, {false, true, vecTestnetUQ}, {true, true, vecTestnetEQ}} {
			if got := a.UserFriendly(f.b, f.tn); got != f.want {
				t.Errorf("UserFriendly(%v,%v) = %s, want %s", f.b, f.tn, got, f.want)
			}
		}
	}
}

func TestParseAddressStandardBase64(t *testing.T) {
	// Addresses with '-' and '_' in their base64url form, written with '+' and '/'.
	for _, s := range []string{
		"EQBT4hy4vMEZ9uxSCuhw_gBKh9_AwmHXLe7Wo0O4Vh-4kRjJ",
		"0QC7XVoYjUc9I8Cb-xTo1XUgHNxr29p7NEqBRXxOETGkfS3D",
		"UQCdMgVv3MHurW103oa4tdsuP1a-wZmNE0ZweBlK_Iy7tK1o",
		"EQAvlWFDxGF2lXm67y4yzC17wYKD9A0guwPkMs1gOsM__NOT",
	} {
		want, err := ParseAnyAddress(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		std := toStd(s)
		if std == s {
			t.Fatalf("%s has no URL-only characters", s)
		}
		got, err := ParseAnyAddress(std)
		if err != nil {
			t.Fatalf("standard base64 %s: %v", std, err)
		}
		if !got.Equal(want) || got.Form() != FormBase64Std || got.AsTyped() != s ||
			got.Bounceable() != want.Bounceable() || got.TestnetOnly() != want.TestnetOnly() {
			t.Errorf("%s: got %s form %s", std, got.AsTyped(), got.Form())
		}
		// Independent oracle: tongo accepts the standard alphabet too.
		id, err := ton.ParseAccountID(std)
		if err != nil || id.ToRaw() != got.Raw() {
			t.Errorf("tongo %s: %v %v", std, id.ToRaw(), err)
		}
	}
}

func TestParseAddressRealMainnet(t *testing.T) {
	for _, v := range mainnetAddresses {
		a, err := ParseAddress(v.text, Mainnet)
		if err != nil {
			t.Errorf("%s: %v", v.text, err)
			continue
		}
		if a.Raw() != v.raw || a.AsTyped() != v.text {
			t.Errorf("%s: raw %s asTyped %s", v.text, a.Raw(), a.AsTyped())
		}
		// Same account in every form, parsed back.
		for _, form := range []string{a.Raw(), strings.ToUpper(a.Raw()), a.UserFriendly(true, false), a.UserFriendly(false, false), toStd(a.UserFriendly(true, false)), toStd(a.Display())} {
			b, err := ParseAddress(form, Mainnet)
			if err != nil || !b.Equal(a) {
				t.Errorf("%s as %s: %v", v.text, form, err)
			}
		}
		// Oracles: tonutils-go and tongo agree on the account and flags.
		tu, err := address.ParseAddr(v.text)
		if err != nil || tu.StringRaw() != v.raw || tu.IsBounceable() != a.Bounceable() || tu.IsTestnetOnly() {
			t.Errorf("tonutils %s: %v", v.text, err)
		}
		if a.Tonutils().String() != v.text {
			t.Errorf("Tonutils().String() = %s, want %s", a.Tonutils().String(), v.text)
		}
		id, err := ton.ParseAccountID(v.text)
		if err != nil || id.ToRaw() != v.raw || id.ToHuman(a.Bounceable(), false) != v.text {
			t.Errorf("tongo %s: %v", v.text, err)
		}
	}
}

func TestParseAnyAddressMasterchain(t *testing.T) {
	for _, s := range []string{
		"Ef8zMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM0vF", // elector
		"Ef80UXx731GHxVr0-LYf3DIViMerdo3uJLAG3ykQZFjXz2kW", // config
		"-1:3333333333333333333333333333333333333333333333333333333333333333",
	} {
		a, err := ParseAnyAddress(s)
		if err != nil || a.Workchain() != -1 {
			t.Errorf("ParseAnyAddress(%s) = %v, %v", s, a.Raw(), err)
		}
		if _, err := ParseAddress(s, Mainnet); !errors.Is(err, ErrAddressWorkchain) || !strings.Contains(err.Error(), "masterchain") {
			t.Errorf("ParseAddress(%s) = %v, want masterchain error", s, err)
		}
	}
}

func TestParseAddressErrors(t *testing.T) {
	h := mustHash(t, vecRaw)
	// One character changed: the checksum catches it.
	flipped := []byte(vecUQ)
	flipped[10] = 'A'
	tests := []struct {
		name, in string
		net      Network
		kind     error
		says     string
	}{
		{"empty", "", Mainnet, ErrAddressEmpty, "enter a TON wallet address"},
		{"only spaces", " \n\t ", Mainnet, ErrAddressEmpty, "enter"},
		{"bad checksum", string(flipped), Mainnet, ErrAddressChecksum, "a character was mistyped or lost; copy the address again from your wallet app"},
		{"last char changed", vecUQ[:47] + "M", Mainnet, ErrAddressChecksum, "mistyped"},
		{"testnet non-bounceable on mainnet", vecTestnetUQ, Mainnet, ErrAddressTestnetOnly, "starts with 0Q"},
		{"testnet bounceable on mainnet", vecTestnetEQ, Mainnet, ErrAddressTestnetOnly, "testnet address"},
		{"masterchain user-friendly", friendly(0x51, 0xff, h), Mainnet, ErrAddressWorkchain, "masterchain (workchain -1)"},
		{"masterchain raw", "-1:" + vecRaw[2:], Mainnet, ErrAddressWorkchain, "masterchain"},
		{"workchain 5 valid crc", friendly(0x11, 5, h), Mainnet, ErrAddressWorkchain, "workchain 5 does not exist"},
		{"raw workchain 7", "7:" + vecRaw[2:], Mainnet, ErrAddressWorkchain, "workchain 7"},
		{"raw workchain 300", "300:" + vecRaw[2:], Mainnet, ErrAddressWorkchain, "workchain 300"},
		{"tag 0x00 valid crc", friendly(0x00, 0, h), Mainnet, ErrAddressFlags, "flags byte 0x00"},
		{"tag 0x3f valid crc", friendly(0x3f, 0, h), Mainnet, ErrAddressFlags, "0x3f"},
		{"too short", vecUQ[:47], Mainnet, ErrAddressLength, "this one has 47"},
		{"too long", vecUQ + "A", Mainnet, ErrAddressLength, "this one has 49"},
		{"doubled", vecUQ + vecUQ, Mainnet, ErrAddressLength, "this one has 96"},
		{"not base64", vecUQ[:20] + "!" + vecUQ[21:], Mainnet, ErrAddressNotBase64, "position 21"},
		{"dot", vecUQ[:47] + ".", Mainnet, ErrAddressNotBase64, "'.'"},
		{"quoted", `"` + vecUQ + `"`, Mainnet, ErrAddressNotBase64, "position 1"},
		{"cyrillic", "UQ" + "Д" + vecUQ[3:], Mainnet, ErrAddressNotBase64, "'Д'"},
		{"padding", vecUQ + "==", Mainnet, ErrAddressPadding, "remove the '='"},
		{"padding one", vecUQ + "=", Mainnet, ErrAddressPadding, "remove"},
		{"mixed alphabets", "EQBT4hy4vMEZ9uxSCuhw_gBKh9_AwmHXLe7Wo0O4Vh+4kRjJ", Mainnet, ErrAddressNotBase64, "mixes"},
		{"short raw hex", "0:abc", Mainnet, ErrAddressRawFormat, "exactly 64 hex digits after ':', this one has 3"},
		{"raw hex 63", vecRaw[:65], Mainnet, ErrAddressRawFormat, "this one has 63"},
		{"raw hex 65", vecRaw + "0", Mainnet, ErrAddressRawFormat, "this one has 65"},
		{"raw not hex", vecRaw[:10] + "g" + vecRaw[11:], Mainnet, ErrAddressRawFormat, "position 9"},
		{"raw two colons", "0:" + vecRaw, Mainnet, ErrAddressRawFormat, "not a hex digit"},
		{"raw bad workchain", "x:" + vecRaw[2:], Mainnet, ErrAddressRawFormat, "not a workchain number"},
		{"raw empty workchain", ":" + vecRaw[2:], Mainnet, ErrAddressRawFormat, "workchain"},
		{"raw plus workchain", "+0:" + vecRaw[2:], Mainnet, ErrAddressRawFormat, "workchain"},
		{"ton link", "ton://transfer/" + vecUQ, Mainnet, ErrAddressNotAddress, "link"},
		{"https link", "https://tonviewer.com/" + vecUQ, Mainnet, ErrAddressNotAddress, "link"},
		{"dns", "foundation.ton", Mainnet, ErrAddressNotAddress, "domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAddress(tt.in, tt.net)
			if err == nil {
				t.Fatalf("ParseAddress(%q) = %s, want error", tt.in, a.AsTyped())
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %v, want kind %v", err, tt.kind)
			}
			var ae *AddressError
			if !errors.As(err, &ae) || ae.Kind != tt.kind {
				t.Errorf("not an *AddressError of kind %v: %T", tt.kind, err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
			if !a.IsZero() {
				t.Errorf("got an address with the error")
			}
		})
	}
}

// The spec §2 matrix, with what each library does, as one table.
func TestParseAddressMatrix(t *testing.T) {
	h := mustHash(t, vecRaw)
	tests := []struct {
		in                  string
		tonutils, tongo, us bool // accepted?
	}{
		{vecUQ, true, true, true},
		{vecTestnetEQ, true, true, false}, // testnet on mainnet: ours refuses
		{toStd("EQBT4hy4vMEZ9uxSCuhw_gBKh9_AwmHXLe7Wo0O4Vh-4kRjJ"), false, true, true},
		{vecRaw, true, true, true},                // tonutils: ParseRawAddr
		{"0:abc", false, true, false},             // tongo left-pads
		{friendly(0x00, 0, h), true, true, false}, // tag 0x00
		{friendly(0x11, 5, h), true, true, false}, // workchain 5
		{" " + vecUQ, false, false, true},         // whitespace: ours trims
		{vecUQ + "==", false, false, false},       // padding
		{vecUQ[:47] + "M", false, false, false},   // bad CRC
	}
	for _, tt := range tests {
		_, err1 := address.ParseAddr(tt.in)
		if _, err := address.ParseRawAddr(tt.in); err == nil {
			err1 = nil
		}
		_, err2 := ton.ParseAccountID(tt.in)
		_, err3 := ParseAddress(tt.in, Mainnet)
		if (err1 == nil) != tt.tonutils || (err2 == nil) != tt.tongo || (err3 == nil) != tt.us {
			t.Errorf("%q: tonutils %v tongo %v ours %v", tt.in, err1, err2, err3)
		}
	}
}

func TestAddressWarnings(t *testing.T) {
	a, _ := ParseAddress(vecUQ, Testnet)
	if w := a.Warnings(Testnet); len(w) != 1 || !strings.Contains(w[0], "mainnet") {
		t.Errorf("warnings %v", w)
	}
	b, _ := ParseAddress(vecTestnetUQ, Testnet)
	if w := b.Warnings(Testnet); len(w) != 0 {
		t.Errorf("testnet address on testnet warned: %v", w)
	}
	c, _ := ParseAddress(vecUQ, Mainnet)
	if w := c.Warnings(Mainnet); len(w) != 0 {
		t.Errorf("mainnet address on mainnet warned: %v", w)
	}
}

func TestAddressConversions(t *testing.T) {
	a, err := ParseAddress(vecEQ, Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	tu := a.Tonutils()
	if tu.String() != vecEQ || !tu.IsBounceable() || tu.IsTestnetOnly() || tu.Workchain() != 0 {
		t.Errorf("tonutils %s", tu)
	}
	back, err := AddressFromTonutils(tu)
	if err != nil || !back.Equal(a) || back.Bounceable() != a.Bounceable() {
		t.Errorf("round trip: %v %v", back, err)
	}
	if _, err := AddressFromTonutils(address.NewAddressNone()); err == nil {
		t.Error("addr_none converted")
	}
	if _, err := AddressFromTonutils(nil); err == nil {
		t.Error("nil converted")
	}
	b, _ := ParseAddress(vecUQ, Mainnet)
	if !a.Equal(b) || a.Equal(Address{}) || !(Address{}).Equal(Address{}) {
		t.Error("Equal ignores flags, not the account")
	}
	var zero Address
	if zero.Raw() != "" || zero.Display() != "" || zero.Tonutils() != nil || !zero.IsZero() {
		t.Error("zero address prints")
	}
	// JSON keeps flags.
	for _, in := range []string{vecEQ, vecUQ, vecTestnetEQ} {
		x, err := ParseAnyAddress(in)
		if err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(struct{ A Address }{x})
		if err != nil {
			t.Fatal(err)
		}
		var y struct{ A Address }
		if err := json.Unmarshal(js, &y); err != nil || !y.A.Equal(x) || y.A.AsTyped() != in {
			t.Errorf("JSON %s → %s: %v", in, js, err)
		}
	}
	var z Address
	if err := z.UnmarshalText(nil); err != nil || !z.IsZero() {
		t.Error("empty text")
	}
	if err := z.UnmarshalText([]byte("nope")); err == nil {
		t.Error("bad text accepted")
	}
}

func TestCRC16MatchesTonutils(t *testing.T) {
	var h [32]byte
	for i := range 200 {
		for j := range h {
			h[j] = byte(i*31 + j*7 + i*j)
		}
		for _, f := range []struct{ b, tn bool }{{true, false}, {false, false}, {true, true}, {false, true}} {
			wc := int8(0)
			if i%2 == 1 {
				wc = -1
			}
			ours := NewAddress(wc, h, f.b, f.tn)
			if got, want := ours.UserFriendly(f.b, f.tn), ours.Tonutils().String(); got != want {
				t.Fatalf("%s != tonutils %s", got, want)
			}
		}
	}
}

func TestNetwork(t *testing.T) {
	if Mainnet.GlobalID() != -239 || Testnet.GlobalID() != -3 || Mainnet.String() != "mainnet" || Testnet.String() != "testnet" {
		t.Error("network constants")
	}
	for in, want := range map[string]Network{"mainnet": Mainnet, " Testnet ": Testnet} {
		if n, err := ParseNetwork(in); err != nil || n != want {
			t.Errorf("ParseNetwork(%q) = %v, %v", in, n, err)
		}
	}
	if _, err := ParseNetwork("devnet"); err == nil {
		t.Error("devnet accepted")
	}
}
