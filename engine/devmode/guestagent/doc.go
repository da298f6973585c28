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
// When the share also holds runtime/standin-root.json (package standin's
// RootFile), the agent is a worker of the stand-in job flow: for each proxy
// address listed there it dials TCP, speaks RA-TLS with a fake-TDX
// certificate (renewed hourly; the proxy's image hash must be among the
// root's proxy_hashes when that list is set), sends Hello, waits for
// Welcome and then serves requests with the synthetic model of package
// synth, streaming chunks and ending each with a Done that carries the
// usage and its §8.1 adjusted tokens. It reconnects with capped backoff
// (0.5 s to 10 s), keeps the official counters, proxies entries, wallet and
// payout replies, pays out on /request/payout and automatically, and sends
// params to every proxy on enable, disable and coefficient changes
// (job_flow.go, proxy_session.go). Counters follow §6.3: queries and
// bytes_received (prompt bytes) when a request arrives; success or failed
// (a refused, invalid, cancelled or undelivered request counts once in
// failed, where the official worker may count it twice), bytes_sent (answer
// bytes), time and the adjusted tokens reported in Done when it ends.
// Without the root file the worker serves its HTTP API with no proxies and
// every counter stays zero.
//
// Wherever it reports a version it calls itself "stand-in (synthetic,
// earns nothing)". It never writes secrets (NODE_WALLET_KEY, HF_TOKEN)
// anywhere, and never logs or keeps job content (prompts, answers): the
// console is captured by the host.
//
// The agent powers the VM off (sync, then reboot(POWER_OFF)) when the ACPI
// power button is pressed (QMP system_powerdown), read from the button
// driver's input device, or on SIGTERM/SIGINT.
//
// For tests on a host it also runs as an ordinary process with -dev: no
// mounts, modules, network or power-off, only the two servers, with the spec
// directory given by -spec.
package main
