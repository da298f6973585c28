package main

const (
	// agentVersion is the stand-in guest agent's own version.
	agentVersion = "0.1.0"

	// standinLabel marks every place the stand-in reports a version or a
	// build, so nobody mistakes it for the official worker.
	standinLabel = "stand-in (synthetic, earns nothing)"

	// standinGitCommit fills /jsonstats status.git_commit (40 hex in the
	// official image). The stand-in is not built from the Cocoon sources,
	// so it reports zeros rather than a commit it does not have.
	standinGitCommit = "0000000000000000000000000000000000000000"

	// fakeTDXImageHash is the image hash of fake TDX, where every
	// measurement is zero: SHA-256 of 448 zero bytes (attestation spec §3,
	// §6), base64 as gen-cert writes it.
	fakeTDXImageHash = "XFXI9NtAELqSA9g1NtBgmFavjIR6wDnjfn3ej71XS2E="

	// fakeTDXImageHashHex is the same hash as the root contract and
	// /jsonstats write it: uppercase hex.
	fakeTDXImageHashHex = "5C55C8F4DB4010BA9203D83536D0609856AF8C847AC039E37E7DDE8FBD574B61"
)

// buildLine is the first line of the health "status" output.
func buildLine() string {
	return "Build: cocoon-provider guestagent " + agentVersion + " — " + standinLabel
}
