// Package attest holds Cocoon's attestation logic as pure functions over
// bytes: no network, no exec, no file IO. Host readiness for TDX is checked
// by engine/hostcheck, not here.
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
//   - Verification: [Verifier.Verify] checks a peer certificate in Cocoon's
//     order and returns a [Peer]; [ServerConfig] and [ClientConfig] build
//     mutually authenticated TLS 1.3 configs around it, and [PeerFromConn]
//     recovers the Peer of a finished handshake.
//
// Not here yet: verifying real TDX quotes (Intel DCAP, via go-tdx-guest),
// the MRTD/RTMR/collateral allow-lists of spec §7, and GPU
// confidential-computing state. Until real quote verification lands, a
// [Verifier] rejects real quotes with [ErrRealQuoteUnavailable] and only
// fake-TDX peers (dev mode, [Verifier.AllowFake]) can be accepted.
//
// Never run crypto/x509's chain verification on these certificates: they are
// self-signed and carry critical extensions that crypto/x509 does not know.
package attest
