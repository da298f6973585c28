package main

import (
	"crypto/ed25519"
	"encoding/hex"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
)

// devWalletAddress is the stand-in's cocoon wallet address, derived
// deterministically from the owner address and the node key's public key,
// the two inputs from which the official generate-cocoon-wallet-address
// computes it (interface spec §8.6). The stand-in has no wallet contract
// code to hash a StateInit with, so it names the account with
// standin.DevAddress (SHA-256 of a label): a valid user-friendly address
// (non-bounceable, workchain 0) that no key belongs to. Only the public key
// enters the label; the seed is wiped after use.
func devWalletAddress(owner string, nodeKey secret) string {
	seed := nodeKey.Bytes()
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return ""
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := hex.EncodeToString(priv.Public().(ed25519.PublicKey))
	clear(priv)
	return standin.DevAddress("cocoon wallet of owner " + owner + " with node key " + pub)
}
