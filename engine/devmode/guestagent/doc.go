// Command guestagent is PID 1 of Cocoon Provider's stand-in worker image: a
// small initramfs that boots under QEMU (TCG is enough) on machines without
// TDX or a GPU and speaks the same host-facing interfaces as the official
// COCOON worker image.
//
// At boot it mounts proc, sys and devtmpfs, loads the kernel modules packed
// into the initramfs in dependency order (read from each module's .modinfo),
// configures eth0 statically for QEMU user networking (10.0.2.15/24 via
// 10.0.2.2), mounts the 9p share tagged "spec" read-only at /mnt/spec and
// reads runtime/runtime.vars from it. It then serves:
//
//   - the worker's HTTP endpoints on port 12000 (/stats, /jsonstats,
//     /perf, /request/enable, /request/disable, /request/payout,
//     /request/change_coefficient), answering like the official
//     worker-runner (HTTP/1.0, same headers, same /jsonstats layout);
//   - the health protocol (4-byte little-endian length + text) on vsock
//     port 9999 when /dev/vsock exists, and on TCP port 9999 because dev
//     machines have no vhost-vsock and QEMU forwards a TCP port instead.
//
// It has no proxy connections, no wallet and no model yet, so every counter
// is an honest zero; the state is laid out so the stand-in proxy and token
// accounting can fill it in later. Wherever it reports a version it calls
// itself "stand-in (synthetic, earns nothing)", and it never writes secrets
// (NODE_WALLET_KEY, HF_TOKEN) anywhere.
//
// The agent powers the VM off (sync, then reboot(POWER_OFF)) when the ACPI
// power button is pressed (QMP system_powerdown), read from the button
// driver's input device, or on SIGTERM/SIGINT.
//
// For tests on a host it also runs as an ordinary process with -dev: no
// mounts, modules, network or power-off, only the two servers, with the spec
// directory given by -spec.
package main
