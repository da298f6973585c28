// Package attest holds Cocoon's attestation logic as pure functions over
// bytes: no network, no exec; the only input that is not a byte slice is
// the fs.FS of a config share (SpecTree). Host readiness for TDX is checked by engine/hostcheck, not
// here.
//
// What is here today:
//
//   - The Cocoon image hash (spec §3): [Measurements.ImageHash] and
//     [FakeTDXImageHash].
//   - Fake TDX (spec §6): [FakeTDX], whose "quote" is exactly the 64
//     REPORTDATA bytes, and [IsFakeQuote].
//   - RA-TLS certificates (spec §5): [NewCertificate] makes a self-signed
//     Ed25519 certificate that carries a quote over SHA-512(public key);
//     [ParseCertificate] reads one, including the X.509 v1 form that Cocoon's
//     OpenSSL code emits (Go's crypto/x509 drops the extensions of a v1
//     certificate, so this package reads them from the raw TBS itself).
//   - TDX quotes (spec §1–2): [ParseQuote] reads v4 and v5 quotes (and the
//     fake form) into a [Quote]; [VerifyQuote] checks the PCK chain to the
//     Intel SGX Root CA, the QE report and the quote signature offline, runs
//     go-tdx-guest as the reference on v4 quotes, and checks TCB status
//     only when [Collateral] is given (no network, ever).
//   - Policy (spec §7): [Policy] is Cocoon's tdx_config allow-list (MRTD,
//     RTMR sets, image hashes, collateral root hashes, plus DEBUG), read by
//     [ParsePolicyJSON].
//   - RTMR3 and the config hash (spec §4): [SpecTree] is the git SHA-256
//     tree of a config share (runtime/ excluded, .gitignore honoured);
//     [ExpectedRTMR3] replays the events the guest extends, and
//     [ExpectConfig] predicts the image hash of a config before launch.
//     [ParseCCEL] replays a TDX CCEL event log.
//   - NVIDIA GPU confidential-computing state (spec §9) is in the
//     sub-package gpucc, which needs cgo (go-nvml); this package does not,
//     so the static stand-in guest agent can use it.
//   - Verification: [Verifier.Verify] checks a peer certificate in Cocoon's
//     order (its quote with VerifyQuote, the REPORTDATA binding, then the
//     Policy) and returns a [Peer]; [ServerConfig] and [ClientConfig] build
//     mutually authenticated TLS 1.3 configs around it, and [PeerFromConn]
//     recovers the Peer of a finished handshake.
//
// Not here: an attestation cache. Cocoon caches verified quotes by
// SHA-256; here every handshake verifies the quote again (under a
// millisecond for a v4 quote, see BenchmarkVerifyQuote).
//
// Never run crypto/x509's chain verification on these certificates: they are
// self-signed and carry critical extensions that crypto/x509 does not know.
package attest
