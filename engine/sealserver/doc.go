// Package sealserver runs the COCOON seal server on this host: the SGX
// key-derivation service that production worker VMs ask, over vsock port
// 12345, for their persistent, hardware-bound keys (worker interface §5).
//
// Detect says whether the host can run it: the SGX devices
// (/dev/sgx_enclave, /dev/sgx_provision) and this user's access to them,
// read through a file-system root so that tests use fixture trees, the
// AESM socket (advisory: upstream does not say whether seal-server needs
// it, §9 item 6), and the release's bin/seal-server and
// bin/enclave.signed.so (§1.1). Every check that is not OK carries one
// sentence saying what to do.
//
// Describe turns a release and a data directory into a Plan: the fixed
// argv (no shell), the working directory and the log file, for dry runs.
//
// A Server runs the Plan and keeps it running. Each run is a child
// process in its own process group whose stdout and stderr go to a
// rotating log (<data dir>/logs/seal-server.log, vm.ConsoleLog). A run
// counts as started once the server answers on its vsock port (the probe
// is injectable; when this host cannot dial its own vsock ports, a run
// that stays up for a settle time counts, unconfirmed). Crashes are
// restarted with capped, jittered backoff by vm.Supervisor; after too many
// quick failures the Server gives up with a GaveUpError that says what the
// log suggests and what the missing seal server means for the worker VM.
// Stop sends SIGTERM, then SIGKILL after a timeout, and always reaps.
// Progress is reported as Events through a callback.
//
// The child runner is this package's own rather than vm.Process: that one
// is written around QEMU (its QMP and pid-file claims, and errors that
// name QEMU), and the generic part (exec, reap, SIGTERM, SIGKILL) is a few
// dozen lines. The restart policy (vm.Supervisor, vm.Backoff) and the log
// rotation (vm.ConsoleLog) are reused as they are.
package sealserver
