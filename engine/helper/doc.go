// Package helper is the privileged GPU-passthrough helper: a small,
// fixed set of operations on one NVIDIA GPU, each validated before anything
// is touched, and the unprivileged client that asks for them through
// pkexec.
//
// The operations are
//
//	bind-vfio <pci>            unbind the GPU (and the other functions of the
//	                           same device in its IOMMU group, such as its audio
//	                           function) from their drivers, set driver_override
//	                           to vfio-pci and bind them to vfio-pci
//	restore <pci>              clear driver_override, unbind from vfio-pci and
//	                           bind the GPU back to nvidia (its other functions
//	                           to whatever driver the kernel picks)
//	set-cc-mode <pci> MODE     run NVIDIA's nvidia_gpu_tools.py (gpu-admin-tools)
//	                           to switch the confidential-computing mode to on,
//	                           off or devtools, resetting the GPU
//	status <pci>               report the GPU's drivers, IOMMU group, whether
//	                           it may be passed through and, as root, its CC mode
//
// A request is a small JSON object {"op", "pci", "mode"} read with a size
// limit; unknown, repeated or non-string fields are refused. The PCI address
// must be canonical (lowercase "dddd:bb:dd.f"). The device must exist, be an
// NVIDIA display controller, not be the boot VGA device the host console
// uses, and share its IOMMU group only with other functions of the same
// device and PCI bridges; anything else in the group (a NIC, an NVMe drive,
// another vendor's USB controller) refuses the request with a sentence
// naming it.
//
// Facts are read through an fs.FS rooted where sys/ lives (engine/gpu's
// sysfs scan, plus boot_vga and driver_override). NewPlan turns a request
// into a Plan: the exact sysfs writes and tool runs it would make, which
// Plan.Describe prints for a dry run without privileges. Executor.Apply
// performs a plan through an os.Root at the same place, re-checking that
// every write goes to one of the fixed sysfs attributes (driver_override,
// driver/unbind, drivers/{vfio-pci,nvidia}/bind, drivers_probe) and every
// run is the fixed argv of the CC tool; it never follows a path built from
// unvalidated input. Helper is the root side of one request; Client runs
// `pkexec <helper>` with the request on stdin and parses the reply.
package helper
