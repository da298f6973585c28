// Package attest will hold the attestation logic: TDX quotes, the Cocoon
// image hash, RA-TLS certificates, allow-list policy and GPU
// confidential-computing state, as pure functions over bytes (no network,
// no exec).
//
// Nothing is implemented here yet; host readiness for TDX is checked by
// engine/hostcheck.
package attest
