package gpu

// Process is a process running compute or graphics work on a GPU, as
// NVML lists it.
type Process struct {
	PID uint32 `json:"pid"`
	// Name is the process's name (its executable path, as NVML has it);
	// empty when NVML could not say.
	Name string `json:"name,omitempty"`
}

// GPUProcesses are the processes on one GPU.
type GPUProcesses struct {
	// Index is NVML's device index.
	Index int `json:"index"`
	// Key is the GPU's Key, as in an Inventory.
	Key       string    `json:"key"`
	Processes []Process `json:"processes"`
}
