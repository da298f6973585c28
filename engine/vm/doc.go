// Package vm owns everything about the worker's virtual machine process:
// finding QEMU and what it supports, probing which acceleration (KVM or
// TCG software emulation) can actually run a guest on this host,
// describing a worker VM as plain data (Spec) and turning it into QEMU's
// command line (Spec.Args, one builder for TDX, KVM and TCG), and the VM's
// lifecycle states and their legal transitions (Lifecycle).
//
// It runs QEMU but knows nothing of HTTP, SQL or the chain.
package vm
