package main

import (
	"fmt"
	"io"

	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
)

// mark is how a status looks in the terminal.
type mark struct{ sym, color string }

var marks = map[hostcheck.Status]mark{
	hostcheck.StatusOK:      {"✓", "\x1b[32m"},
	hostcheck.StatusWarn:    {"!", "\x1b[33m"},
	hostcheck.StatusFail:    {"✗", "\x1b[31m"},
	hostcheck.StatusUnknown: {"?", "\x1b[36m"},
	hostcheck.StatusNone:    {"-", "\x1b[2m"},
}

func paint(s hostcheck.Status, text string, color bool) string {
	if !color {
		return text
	}
	return marks[s].color + text + "\x1b[0m"
}

// writeReport prints the doctor's checklist and verdicts.
func writeReport(w io.Writer, r hostcheck.Report, verbose, color bool) {
	fmt.Fprintf(w, "Cocoon Provider machine check: %s, %s, kernel %s\n\n", orUnknown(r.Host.Hostname), orUnknown(r.Host.OS), orUnknown(r.Host.Kernel))
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Title))
	}
	for _, c := range r.Checks {
		line := fmt.Sprintf("  %s %-*s  %s", paint(c.Status, marks[c.Status].sym, color), width, c.Title, c.Observed)
		if c.DevStatus != hostcheck.StatusNone && c.DevStatus != c.Status {
			line += paint(c.DevStatus, fmt.Sprintf("  [dev mode: %s]", c.DevStatus), color)
		}
		fmt.Fprintln(w, line)
		needsAttention := c.Status != hostcheck.StatusOK || (c.DevStatus != hostcheck.StatusOK && c.DevStatus != hostcheck.StatusNone)
		indent := "      "
		if verbose || needsAttention {
			fmt.Fprintf(w, "%swhy: %s\n", indent, c.Why)
		}
		if c.Fix != "" && needsAttention {
			fmt.Fprintf(w, "%sfix: %s\n", indent, c.Fix)
		}
	}
	fmt.Fprintln(w)
	writeVerdict(w, "Earning on COCOON (production)", r.Production, color)
	writeVerdict(w, "Dev mode (try it, earns nothing)", r.Dev, color)
}

func writeVerdict(w io.Writer, title string, v hostcheck.Verdict, color bool) {
	st, word := hostcheck.StatusOK, "READY"
	switch {
	case !v.Ready:
		st, word = hostcheck.StatusFail, "NOT READY"
	case len(v.Unconfirmed) > 0:
		st, word = hostcheck.StatusUnknown, "PROBABLY READY"
	}
	fmt.Fprintf(w, "%s: %s\n  %s\n", title, paint(st, word, color), v.Summary)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// writeGPUs prints the GPU inventory as label/value blocks.
func writeGPUs(w io.Writer, inv gpu.Inventory) {
	if inv.NVML.Loaded {
		fmt.Fprintf(w, "NVIDIA driver %s, CUDA %s\n", gpu.FormatText(inv.NVML.DriverVersion), gpu.FormatText(inv.NVML.CUDAVersion))
	} else {
		fmt.Fprintf(w, "NVIDIA driver library not available: %s\n(GPUs are read from the PCI bus, without telemetry)\n", inv.NVML.Reason)
	}
	for _, n := range inv.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if len(inv.GPUs) == 0 {
		fmt.Fprintln(w, "\nNo GPU found. Dev mode needs none; earning needs an NVIDIA H100 or newer.")
		return
	}
	for i, g := range inv.GPUs {
		fmt.Fprintf(w, "\nGPU %d: %s\n", i, g.DisplayName())
		rows := g.Describe()
		width := 0
		for _, r := range rows {
			width = max(width, len(r.Label))
		}
		for _, r := range rows {
			fmt.Fprintf(w, "  %-*s  %s\n", width, r.Label, r.Value)
		}
	}
}
