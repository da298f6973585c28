// Package hostcheck decides whether this machine can earn on COCOON
// (production) and whether it can try the app (dev mode), and says for each
// item what was observed, why it matters and exactly how to fix it.
//
// It reads /proc, /sys and /dev below an injectable root, asks gopsutil for
// CPU, memory and disk figures under the same root, and takes the facts that
// need other packages (QEMU, acceleration probes, GPUs) as plain inputs from
// the engine. It runs no commands.
package hostcheck
