package wallet

import (
	"context"
	"testing"
)

// BenchmarkSeedToPrivateKey is the owner key derivation from a TON phrase
// (PBKDF2-SHA512, 100 000 rounds, tonutils-go).
func BenchmarkSeedToPrivateKey(b *testing.B) {
	m, err := ParseMnemonic(vecPhrase)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		k, err := m.PrivateKey()
		if err != nil {
			b.Fatal(err)
		}
		k.Zero()
	}
}

// BenchmarkParseMnemonic is normalization, word and TON checksum checks.
func BenchmarkParseMnemonic(b *testing.B) {
	for b.Loop() {
		if _, err := ParseMnemonic(vecPhrase); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCocoonWalletAddress is the hand-made StateInit hash.
func BenchmarkCocoonWalletAddress(b *testing.B) {
	owner, _ := ParseAddress(vecUQ, Mainnet)
	nk, _ := ParseNodeKey(vecNodeKey)
	pub := nk.PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CocoonWalletAddress(owner, pub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAddress(b *testing.B) {
	for _, c := range []struct{ name, in string }{
		{"base64url", vecUQ},
		{"std-base64", toStd("EQBT4hy4vMEZ9uxSCuhw_gBKh9_AwmHXLe7Wo0O4Vh-4kRjJ")},
		{"raw", vecRaw},
		{"pasted", " " + vecUQ[:24] + "\n" + vecUQ[24:] + "\n"},
		{"bad-checksum", vecUQ[:47] + "M"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = ParseAddress(c.in, Mainnet)
			}
		})
	}
}

// BenchmarkSignTransfers is signing one transfer plus the tongo self-check.
func BenchmarkSignTransfers(b *testing.B) {
	o := mustOwner(b, vecKey(b), V5R1, Mainnet)
	d, _ := ParseAddress(vecEQ, Mainnet)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.SignTransfers(ctx, 5, true, NewTransfer(d, 1, "bench")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRootConfig(b *testing.B) {
	c, err := sampleRootConfig(b, 3).ToCell()
	if err != nil {
		b.Fatal(err)
	}
	boc := c.ToBOC()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRootConfigBOC(boc); err != nil {
			b.Fatal(err)
		}
	}
}
