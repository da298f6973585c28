package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// unknownCommand is the official health-monitor's error text.
const unknownCommand = "Unknown command. Available: status, logs, sys, svc, tdx, eventlog, gpu, all"

// allowedUnits are the units the official health-monitor accepts by name
// (§7); the stand-in runs only some of them.
var allowedUnits = []string{
	"cocoon-router", "cocoon-proxy-runner", "cocoon-worker-runner", "cocoon-cert-refresh",
	"cocoon-cert-refresh.timer", "cocoon-vllm", "cocoon-sglang", "cocoon-health",
	"cocoon-ready.target", "ssh", "docker", "nvidia-tdx", "spec",
}

// healthError is an error payload: {"error":"<message>"}.
func healthError(msg string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		Error string `json:"error"`
	}{msg})
	return strings.TrimSuffix(b.String(), "\n")
}

// healthCommands answers the health protocol's commands (§7) for the
// stand-in.
type healthCommands struct {
	services *serviceTable
	proc     procFS
	logs     *logSink
}

// Dispatch runs one request: the command words joined by single spaces.
func (h *healthCommands) Dispatch(req string) string {
	words := strings.Fields(req)
	if len(words) == 0 {
		return healthError(unknownCommand)
	}
	args := words[1:]
	switch words[0] {
	case "status":
		if len(args) > 0 {
			return h.unitStatus(args[0])
		}
		return h.status()
	case "svc":
		if len(args) == 0 {
			return healthError("Usage: svc <service>")
		}
		return h.svc(args[0])
	case "logs":
		return h.logsCmd(args)
	case "sys":
		return h.sys()
	case "gpu":
		return gpuText()
	case "tdx":
		return tdxText()
	case "eventlog":
		return "TDX event log: none. This " + standinLabel + " image runs without TDX, so there is no CCEL table and nothing to replay.\n"
	case "all":
		// As the official "all": sys, gpu unless it errs (it always does
		// here), tdx, status.
		return h.sys() + "\n" + tdxText() + "\n" + h.status()
	}
	return healthError(unknownCommand)
}

// unitName strips the .service suffix and checks the name is one the
// official monitor accepts.
func unitName(arg string) (string, bool) {
	name := strings.TrimSuffix(arg, ".service")
	for _, u := range allowedUnits {
		if name == u || name+".target" == u {
			return u, true
		}
	}
	return name, false
}

func notAllowed(name string) string {
	return healthError(fmt.Sprintf("Service not allowed: %s. Allowed: %s", name, strings.Join(allowedUnits, ", ")))
}

func (h *healthCommands) status() string {
	var b strings.Builder
	b.WriteString(buildLine() + "\n")
	list := h.services.Snapshot()
	var failing []service
	for _, s := range list {
		if s.Critical && s.State != stateActive {
			failing = append(failing, s)
		}
	}
	if len(failing) == 0 {
		b.WriteString("Status: OK - All critical services active\n")
	} else {
		fmt.Fprintf(&b, "Status: ERROR - %d service(s) failing\n", len(failing))
		for _, s := range failing {
			fmt.Fprintf(&b, "  - %s is %s\n", s.Unit, s.State)
		}
	}
	b.WriteString("TDX Image Hash: " + fakeTDXImageHash + "\n")
	load, _ := h.proc.Load()
	mem, _ := h.proc.Meminfo()
	fmt.Fprintf(&b, "System: Load %.2f | Mem %.1f%%\n", load[0], memUsedPercent(mem))
	mark := func(s service) string {
		switch {
		case s.State == stateActive:
			return "[+]"
		case s.Critical:
			return "[-]"
		}
		return "[~]"
	}
	rss, _ := h.proc.SelfRSS()
	b.WriteString("Services:\n")
	for _, s := range list {
		fmt.Fprintf(&b, "  %s %s: %s (%d restarts, Mem: %s)\n", mark(s), s.Name, s.State, s.Restarts, humanBytes(rss))
	}
	return b.String()
}

func (h *healthCommands) unitStatus(arg string) string {
	name, ok := unitName(arg)
	if !ok {
		return notAllowed(name)
	}
	s, runs := h.services.Lookup(name)
	if !runs {
		return fmt.Sprintf("○ %s - not part of the %s image\n     Active: inactive (dead)\n", name, standinLabel)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "● %s - %s, provided by guestagent\n", s.Unit, standinLabel)
	fmt.Fprintf(&b, "     Active: %s\n", s.State)
	if s.Reason != "" {
		fmt.Fprintf(&b, "     Reason: %s\n", s.Reason)
	}
	b.WriteString("   Main PID: 1 (guestagent)\n")
	return b.String()
}

func (h *healthCommands) svc(arg string) string {
	name, ok := unitName(arg)
	if !ok {
		return notAllowed(name)
	}
	s, runs := h.services.Lookup(name)
	if !runs {
		return fmt.Sprintf("Service: %s\nState: inactive (not part of the %s image)\n", name, standinLabel)
	}
	rss, _ := h.proc.SelfRSS()
	var b strings.Builder
	fmt.Fprintf(&b, "Service: %s (%s, provided by guestagent)\n", s.Unit, standinLabel)
	fmt.Fprintf(&b, "State: %s\nPID: 1\nRestarts: %d\n", s.State, s.Restarts)
	if s.Reason != "" {
		fmt.Fprintf(&b, "Reason: %s\n", s.Reason)
	}
	fmt.Fprintf(&b, "Memory: %s (whole agent)\n", humanBytes(rss))
	b.WriteString("Recent log:\n")
	for _, line := range h.logs.Tail(10) {
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}

// logsCmd is "logs [<svc>] [lines]". Every unit the stand-in runs is the
// agent itself, so they share the agent's log; the default is 100 lines.
func (h *healthCommands) logsCmd(args []string) string {
	n := 100
	if len(args) > 0 {
		name, ok := unitName(args[0])
		if !ok {
			return notAllowed(name)
		}
		if _, runs := h.services.Lookup(name); !runs {
			return "-- No entries --\n"
		}
	}
	if len(args) > 1 {
		v, err := strconv.Atoi(args[1])
		if err != nil || v < 1 || v > 1_000_000 {
			return healthError("lines must be a number from 1 to 1000000")
		}
		n = v
	}
	lines := h.logs.Tail(n)
	if len(lines) == 0 {
		return "-- No entries --\n"
	}
	return strings.Join(lines, "\n") + "\n"
}

func (h *healthCommands) sys() string {
	var b strings.Builder
	b.WriteString("=== System — " + standinLabel + " ===\n")
	if up, err := h.proc.Uptime(); err == nil {
		b.WriteString("Uptime: " + formatUptime(up) + "\n")
	}
	if load, err := h.proc.Load(); err == nil {
		fmt.Fprintf(&b, "Load: %.2f %.2f %.2f\n", load[0], load[1], load[2])
	}
	fmt.Fprintf(&b, "Cores: %d\n", h.proc.Cores())
	if m, err := h.proc.Meminfo(); err == nil {
		used := m["MemTotal"] - min(m["MemAvailable"], m["MemTotal"])
		fmt.Fprintf(&b, "Memory: %s used of %s (%.1f%%)\n", humanBytes(used), humanBytes(m["MemTotal"]), memUsedPercent(m))
		if m["SwapTotal"] == 0 {
			b.WriteString("Swap: none\n")
		} else {
			fmt.Fprintf(&b, "Swap: %s used of %s\n", humanBytes(m["SwapTotal"]-m["SwapFree"]), humanBytes(m["SwapTotal"]))
		}
	}
	b.WriteString("Disks: none (the stand-in runs from its initramfs)\n")
	if ifs, err := h.proc.NetDev(); err == nil {
		b.WriteString("Network:\n")
		for _, i := range ifs {
			fmt.Fprintf(&b, "  %s: rx %s (%d packets), tx %s (%d packets)\n", i.Name, humanBytes(i.RxBytes), i.RxPackets, humanBytes(i.TxBytes), i.TxPackets)
		}
	}
	return b.String()
}

func gpuText() string {
	return "Error: no GPU: the " + standinLabel + " image has no GPU passed through and no nvidia-smi\n"
}

func tdxText() string {
	return buildLine() + "\n" +
		"TDX: not available. This is Cocoon Provider's " + standinLabel + " image, not the official worker: it runs without TDX, " +
		"so there is no TD report, no MRTD or RTMR values, no quote and no attestation.\n" +
		"Stored image hash: " + fakeTDXImageHash + " (fake TDX: every measurement zero, SHA-256 of 448 zero bytes)\n" +
		"TDX Image Hash: " + fakeTDXImageHash + "\n" +
		"Hash check: not applicable (no TDX report to recompute it from)\n"
}
