// Package release manages official COCOON worker releases on this host:
// it downloads a release archive, verifies it, unpacks it safely, records
// what can be known of its measurements, checks its image hash against the
// network's allow-list, and switches between releases atomically.
//
// # Layout
//
// A Manager owns one directory (normally <data dir>/releases):
//
//	<dir>/<version>/        the release root, as scripts/prepare-release lays it out
//	                        (scripts/cocoon-launch, images/prod/…, spec/spec-worker/…)
//	<dir>/<version>.json    what is known of it (Release): version, SHA-256,
//	                        source URL, fetch time, measured values, allow-list check
//	<dir>/.state.json       which release is current and which is previous
//	<dir>/.downloads/       downloads (<sha256>.part while partial, kept for
//	                        resuming; <sha256> once checked, until unpacked)
//	<dir>/.staging-*/       archives being unpacked; removed when done or failed
//
// A release reaches <dir>/<version>/ by one rename of a fully unpacked and
// checked folder, and the state file is replaced by one rename, so a
// failed or refused fetch never touches the current or previous release,
// and a crash leaves either the old state or the new one. Activate keeps
// the current and the previous release, and those fetched after the
// current one (candidates for the next activation); older ones are
// removed (Prune).
//
// # Fetching
//
// Fetch takes a Source: an http or https URL and the archive's SHA-256,
// which is required (integrity comes from the sum, not from the
// transport). The shared downloader (internal/download) fetches it: the
// download goes to a .part file and resumes with an HTTP
// Range request after a dropped connection, in the same call (a few
// attempts) or the next one; a server that ignores Range starts over
// cleanly. Sizes are checked against limits and the free disk space
// before anything is written. The archive is a tar compressed with xz
// (as the official archive is published) or gzip.
//
// Unpacking refuses absolute paths, "..", symlinks and hard links that
// lead out of the release, device files, pipes and sockets, duplicate
// entries, and archives whose total size or file count is over the limit
// or over the free disk space.
//
// # Signatures
//
// The official COCOON project publishes no signature for its worker
// release archives, and how one would be made is not known (worker
// interface §9 item 1). A detached signature is therefore optional: when a
// Source carries one, it is checked by the SignatureVerifier the Manager
// was given, and a signed Source without a verifier is refused.
// update.Verify (Ed25519, one base64 signature a line) is one scheme a
// caller can plug in through VerifierFunc.
//
// # Image hash
//
// The network admits a worker by its image hash (worker interface §1.3):
// SHA-256 over MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG and RTMR0–3. From
// the archive alone this package can compute RTMR3 (from the spec tree of
// spec/spec-worker plus global.config.json, as cocoon-launch shares it)
// and record the sums of the firmware, kernel, initrd and command line
// that MRTD and RTMR1–2 measure. MRTD and RTMR0–2 themselves also depend
// on the virtual hardware QEMU presents (§9 item 2), so they cannot be
// computed here: they come with the Source (for example from a quote of a
// worker running the release) or from a measurements.json file in the
// release root (a convention of this project, not part of the official
// archive). Without them the image hash is unknown and CheckAllowed
// refuses the release. Activate refuses a release that CheckAllowed has
// not accepted; ActivateUnchecked is the explicit override for
// development and tests.
//
// A Manager serialises its own calls; two processes must not share a
// directory (the engine's data-directory lock sees to that).
package release
