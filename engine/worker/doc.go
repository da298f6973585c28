// Package worker talks to the official COCOON worker (and the dev-mode
// stand-in) through the host-facing interfaces the worker image defines,
// as described in the worker interface specification (§ numbers in this
// package's comments refer to it):
//
//   - the configuration share (§2.3, §2.4): RuntimeVars, ValidateValue and
//     RenderSpec prepare the directory QEMU exports to the guest over 9p;
//   - worker.conf (§2.1): ParseConf imports the official launcher's INI
//     file so users of the official tooling switch without retyping;
//   - the worker's HTTP interface (§6): Client, and ParseStats for the
//     /jsonstats document with its documented formatting quirks
//     (Stats.MarshalOfficial writes the same format for the stand-in);
//   - the health monitor over vsock (§7): HealthClient, ParseHealthStatus
//     and, for the stand-in guest agent, ServeHealth.
//
// Every network client takes a dial function (DialFunc) instead of a
// transport, so the caller picks vsock (DialVsock), TCP or an in-memory
// pipe. Nothing here logs; secrets (the node wallet key, the Hugging Face
// token) never appear in String output or errors.
//
// The package has no cgo and no host-only imports, so the guest-side
// helpers (ServeHealth, MarshalOfficial) build with CGO_ENABLED=0.
package worker
