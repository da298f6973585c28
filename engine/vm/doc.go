// Package vm owns everything about the worker's virtual machine process:
// finding QEMU and what it supports, probing which acceleration (KVM or
// TCG software emulation) can actually run a guest on this host,
// describing a worker VM as plain data (Spec) and turning it into QEMU's
// command line (Spec.Args, one builder for TDX, KVM and TCG), and the VM's
// lifecycle states and their legal transitions (Lifecycle).
//
// Running it: a Process is one QEMU run (own process group, guest console
// captured into a rotating ConsoleLog, QMP client, a fixed stop order:
// system_powerdown, quit, SIGKILL, always reaped). Adopt takes over a QEMU
// left running by an earlier run of the app, found through its pid file,
// so that an instance never has two VMs. A Supervisor keeps one VM
// running, restarting it with capped, jittered backoff and reporting each
// start, exit, restart and give-up as events.
//
// It runs QEMU but knows nothing of HTTP, SQL or the chain.
package vm
