// Package vm owns everything about the worker's virtual machine process:
// finding QEMU and what it supports, and probing which acceleration
// (KVM or TCG software emulation) can actually run a guest on this host.
//
// It runs QEMU but knows nothing of HTTP, SQL or the chain.
package vm
