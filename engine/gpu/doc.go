// Package gpu discovers the host's GPUs and reads their live telemetry.
//
// Two sources are combined. NVML (through go-nvml, injected as
// Options.NVML) gives names, UUIDs, memory, utilisation, temperature,
// power and process counts; the confidential-computing (CC) state comes
// from the same library through gpucc.GPUCCState, which owns its reading
// and its verdict; a Scanner reads it when NVML comes up, when the set of
// GPUs changes and otherwise once every CCInterval. A scan
// of sysfs (through an injected fs.FS rooted at "/") gives every display
// controller on the PCI bus, its bound kernel driver and its IOMMU group,
// including GPUs bound to vfio-pci that NVML cannot see. The two are merged
// by PCI bus id; each GPU says which source found it.
//
// A missing NVML library or driver is not an error: it is reported in
// Inventory.NVML and discovery continues from sysfs. go-nvml needs cgo on
// Linux; any other build has no NVML and always reports it so. A value
// that cannot be read is left unknown (a nil pointer or an empty string);
// unexpected failures are recorded as short notes. The package never execs
// anything and logs nothing.
//
// A Scanner is meant to live as long as the process (the CLI's --watch
// loop, the GUI): it initialises NVML once, retries a failed
// initialisation at most every 30 seconds, and is cheap enough to scan
// once a second. The Format* helpers and Describe turn values into text for
// the CLI table and the GUI, with "unknown" for missing values.
package gpu
