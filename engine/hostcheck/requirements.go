package hostcheck

// What the official worker needs of its host, from the worker release's
// launcher and deployment notes. Each value names where it comes from.
const (
	// ProdKernelMajor/Minor: "Linux 6.16+ for full TDX support".
	ProdKernelMajor, ProdKernelMinor = 6, 16
	// ProdQEMUMajor/Minor: "QEMU with TDX support 10.1+".
	ProdQEMUMajor, ProdQEMUMinor = 10, 1
	// ProdVCPUs: the launcher passes -smp 32.
	ProdVCPUs = 32
	// ProdVMMemGiB: the launcher gives the VM memory-backend-ram size=100G.
	ProdVMMemGiB = 100
	// ProdHostHeadroomGiB is what the host itself should keep besides the VM.
	ProdHostHeadroomGiB = 8
	// ProdDiskGiB: the persistent disk grows to 100 GiB; model archives and
	// releases come on top. Below ProdDiskMinGiB the disk will fill up.
	ProdDiskGiB    = 250
	ProdDiskMinGiB = 110

	// Dev mode runs a small stand-in VM (512 MiB) under KVM or TCG.
	DevMemMiB  = 1024
	DevDiskMiB = 2048
)

const gib = 1 << 30
