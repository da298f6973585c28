package wallet

import (
	"errors"
	"testing"

	"github.com/tonkeeper/tongo/ton"
	"github.com/xssnick/tonutils-go/address"
)

var addressErrKinds = []error{ErrAddressEmpty, ErrAddressNotAddress, ErrAddressLength, ErrAddressNotBase64, ErrAddressPadding,
	ErrAddressChecksum, ErrAddressFlags, ErrAddressRawFormat, ErrAddressWorkchain, ErrAddressTestnetOnly}

func FuzzParseAddress(f *testing.F) {
	h := mustHash(f, vecRaw)
	for _, s := range []string{vecRaw, vecUQ, vecEQ, vecTestnetUQ, vecTestnetEQ, toStd("EQBT4hy4vMEZ9uxSCuhw_gBKh9_AwmHXLe7Wo0O4Vh-4kRjJ"),
		"-1:" + vecRaw[2:], "0:abc", vecUQ + "==", " " + vecUQ + "\n", friendly(0, 0, h), friendly(0x11, 5, h),
		"Ef8zMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM0vF", "ton://transfer/" + vecUQ, "", ":", "0:"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, testnet bool) {
		net := Mainnet
		if testnet {
			net = Testnet
		}
		a, err := ParseAddress(in, net)
		if err != nil {
			var ae *AddressError
			if !errors.As(err, &ae) || ae.Msg == "" {
				t.Fatalf("%q: error %T %v", in, err, err)
			}
			known := false
			for _, k := range addressErrKinds {
				known = known || errors.Is(err, k)
			}
			if !known || !a.IsZero() {
				t.Fatalf("%q: unknown kind %v", in, ae.Kind)
			}
			return
		}
		if a.IsZero() || a.Workchain() != 0 || (net == Mainnet && a.TestnetOnly()) {
			t.Fatalf("%q: accepted %s on %s", in, a.Raw(), net)
		}
		// Every form we print parses back to the same account.
		for _, s := range []string{a.Raw(), a.Display(), a.AsTyped(), a.UserFriendly(true, false), a.UserFriendly(false, net == Testnet), toStd(a.UserFriendly(true, net == Testnet))} {
			b, err := ParseAddress(s, net)
			if err != nil || !b.Equal(a) {
				t.Fatalf("%q: %s does not parse back: %v", in, s, err)
			}
		}
		if b, err := ParseAddress(a.AsTyped(), net); err != nil || b.Bounceable() != a.Bounceable() || b.TestnetOnly() != a.TestnetOnly() {
			t.Fatalf("%q: flags lost", in)
		}
		// The libraries agree on what we print.
		tu, err := address.ParseAddr(a.UserFriendly(a.Bounceable(), a.TestnetOnly()))
		if err != nil || tu.StringRaw() != a.Raw() || tu.IsBounceable() != a.Bounceable() || tu.IsTestnetOnly() != a.TestnetOnly() {
			t.Fatalf("%q: tonutils disagrees: %v", in, err)
		}
		id, err := ton.ParseAccountID(cleanAddressInput(in))
		if err != nil || id.ToRaw() != a.Raw() {
			t.Fatalf("%q: tongo disagrees: %v %s", in, err, id.ToRaw())
		}
	})
}

// FuzzParseAnyAddress: errors are *AddressError of a known kind with a
// zero Address; an accepted address is on the basechain or the
// masterchain, and every canonical form of it (raw, both user-friendly
// flag pairs, as typed, its text encoding) parses back to the same
// account, the text encoding with the same flags.
func FuzzParseAnyAddress(f *testing.F) {
	h := mustHash(f, vecRaw)
	for _, s := range []string{vecRaw, vecUQ, vecEQ, vecTestnetUQ, vecTestnetEQ, toStd(vecEQ),
		"-1:" + vecRaw[2:], "1:" + vecRaw[2:], "-129:" + vecRaw[2:], "0:abc", vecUQ + "==", " " + vecUQ + "\n",
		friendly(0, 0, h), friendly(0x11, 0xff, h), friendly(0x51, 5, h), friendly(0x91, 0xff, h),
		"Ef8zMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM0vF", "", ":", "0:", "\u200b" + vecEQ} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		a, err := ParseAnyAddress(in)
		if err != nil {
			var ae *AddressError
			if !errors.As(err, &ae) || ae.Msg == "" || !a.IsZero() {
				t.Fatalf("%q: error %T %v", in, err, err)
			}
			known := false
			for _, k := range addressErrKinds {
				known = known || errors.Is(err, k)
			}
			if !known {
				t.Fatalf("%q: unknown kind %v", in, ae.Kind)
			}
			return
		}
		if a.IsZero() || (a.Workchain() != BasechainID && a.Workchain() != MasterchainID) {
			t.Fatalf("%q: accepted %s", in, a.Raw())
		}
		for _, s := range []string{a.Raw(), a.AsTyped(), a.Display(),
			a.UserFriendly(true, false), a.UserFriendly(false, false), a.UserFriendly(true, true), a.UserFriendly(false, true)} {
			b, err := ParseAnyAddress(s)
			if err != nil || !b.Equal(a) {
				t.Fatalf("%q: %s does not parse back: %v", in, s, err)
			}
		}
		txt, err := a.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var b Address
		if err := b.UnmarshalText(txt); err != nil || !b.Equal(a) || b.Bounceable() != a.Bounceable() || b.TestnetOnly() != a.TestnetOnly() {
			t.Fatalf("%q: text %s does not round-trip: %v", in, txt, err)
		}
		// ParseAddress accepts a subset: what it accepts is the same account.
		for _, net := range []Network{Mainnet, Testnet} {
			if p, err := ParseAddress(in, net); err == nil && !p.Equal(a) {
				t.Fatalf("%q: ParseAddress and ParseAnyAddress disagree on %s", in, net)
			}
		}
	})
}
