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
