package worker

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ServiceMark is the state marker of a line in the status command's
// Services list (§7).
type ServiceMark byte

// Service markers.
const (
	ServiceActive         ServiceMark = '+' // [+] active
	ServiceCriticalDown   ServiceMark = '-' // [-] critical and not active
	ServiceNonCriticalOff ServiceMark = '~' // [~] non-critical and not active
)

// ServiceStatus is one line of the Services list:
// "  [+] <unit>: <ActiveState> (N restarts, Mem: X)".
type ServiceStatus struct {
	Mark        ServiceMark
	Unit        string // as printed, e.g. cocoon-router.service
	ActiveState string // systemd ActiveState, e.g. active, failed, inactive
	Restarts    int    // -1 when the line did not say
	Mem         string // as printed; empty when the line did not say
}

// FailingService is a "  - <unit> is <state>" line under an ERROR status.
type FailingService struct {
	Unit  string
	State string
}

// HealthStatus is the parsed output of the monitor's status command (§7).
// Lines it does not recognise are skipped.
type HealthStatus struct {
	Build        string // the build line (commit, date, subject), verbatim
	StatusLine   string // the text after "Status: "
	OK           bool   // StatusLine starts with "OK"
	Failing      []FailingService
	ImageHashB64 string  // "TDX Image Hash:" value (base64), verbatim
	Load         float64 // "System: Load x.xx"; 0 when absent
	MemPercent   float64 // "| Mem y.y%"; 0 when absent
	Services     []ServiceStatus
}

// WorkerUnits are the units that decide whether a worker runs (§7): the
// monitor's own verdict also counts cocoon-vllm, which the shipped worker
// spec never starts, so "Status: ERROR" alone is not a failure.
func WorkerUnits() []string {
	return []string{"cocoon-worker-runner.service", "cocoon-sglang.service", "cocoon-router.service", "cocoon-ready.target"}
}

// ParseHealthStatus parses the status command's text. It fails only when
// there is no "Status:" line.
func ParseHealthStatus(text string) (HealthStatus, error) {
	var st HealthStatus
	sawStatus, inServices, inFailing := false, false, false
	for _, raw := range strings.Split(text, "\n") {
		line := strings.TrimRight(raw, "\r")
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			continue
		case strings.HasPrefix(trimmed, "Status:"):
			sawStatus, inServices = true, false
			st.StatusLine = strings.TrimSpace(strings.TrimPrefix(trimmed, "Status:"))
			st.OK = strings.HasPrefix(st.StatusLine, "OK")
			inFailing = !st.OK
			continue
		case strings.HasPrefix(trimmed, "TDX Image Hash:"):
			st.ImageHashB64 = strings.TrimSpace(strings.TrimPrefix(trimmed, "TDX Image Hash:"))
			inFailing = false
			continue
		case strings.HasPrefix(trimmed, "System:"):
			st.Load, st.MemPercent = parseSystemLine(strings.TrimPrefix(trimmed, "System:"))
			inFailing = false
			continue
		case trimmed == "Services:":
			inServices, inFailing = true, false
			continue
		}
		if inFailing && strings.HasPrefix(trimmed, "- ") {
			if unit, state, ok := strings.Cut(strings.TrimPrefix(trimmed, "- "), " is "); ok {
				st.Failing = append(st.Failing, FailingService{Unit: unit, State: state})
			}
			continue
		}
		if inServices {
			if s, ok := parseServiceLine(trimmed); ok {
				st.Services = append(st.Services, s)
			}
			continue
		}
		if !sawStatus && st.Build == "" {
			st.Build = trimmed
		}
	}
	if !sawStatus {
		return HealthStatus{}, errors.New(`no "Status:" line in the monitor's status output`)
	}
	return st, nil
}

// parseSystemLine reads " Load x.xx | Mem y.y%" leniently.
func parseSystemLine(s string) (load, mem float64) {
	for _, part := range strings.Split(s, "|") {
		f := strings.Fields(part)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "Load":
			load = v
		case "Mem":
			mem = v
		}
	}
	return load, mem
}

// parseServiceLine reads "[+] unit: state (N restarts, Mem: X)"; the
// parenthesised part is optional.
func parseServiceLine(s string) (ServiceStatus, bool) {
	if len(s) < 4 || s[0] != '[' || s[2] != ']' {
		return ServiceStatus{}, false
	}
	mark := ServiceMark(s[1])
	if mark != ServiceActive && mark != ServiceCriticalDown && mark != ServiceNonCriticalOff {
		return ServiceStatus{}, false
	}
	unit, rest, ok := strings.Cut(strings.TrimSpace(s[3:]), ":")
	if !ok || unit == "" {
		return ServiceStatus{}, false
	}
	st := ServiceStatus{Mark: mark, Unit: strings.TrimSpace(unit), Restarts: -1}
	rest = strings.TrimSpace(rest)
	state, detail, hasDetail := strings.Cut(rest, "(")
	st.ActiveState = strings.TrimSpace(state)
	if hasDetail {
		detail = strings.TrimSuffix(strings.TrimSpace(detail), ")")
		for _, part := range strings.Split(detail, ",") {
			part = strings.TrimSpace(part)
			switch {
			case strings.HasPrefix(part, "Mem:"):
				st.Mem = strings.TrimSpace(strings.TrimPrefix(part, "Mem:"))
			case strings.HasSuffix(part, "restarts") || strings.HasSuffix(part, "restart"):
				if f := strings.Fields(part); len(f) == 2 {
					if n, err := strconv.Atoi(f[0]); err == nil {
						st.Restarts = n
					}
				}
			}
		}
	}
	return st, true
}

// Service finds a unit; name may omit ".service" or ".target", as the
// monitor's commands allow.
func (h HealthStatus) Service(name string) (ServiceStatus, bool) {
	for _, s := range h.Services {
		if s.Unit == name || strings.TrimSuffix(s.Unit, ".service") == name || strings.TrimSuffix(s.Unit, ".target") == name {
			return s, true
		}
	}
	return ServiceStatus{}, false
}

// WorkerReady reports whether every unit of WorkerUnits is listed as
// active, and which are not.
func (h HealthStatus) WorkerReady() (bool, []string) {
	var down []string
	for _, u := range WorkerUnits() {
		if s, ok := h.Service(u); !ok || s.Mark != ServiceActive {
			down = append(down, u)
		}
	}
	return len(down) == 0, down
}

// ImageHash decodes the TDX image hash (base64 of 32 bytes, §1.3) for
// comparison with RootContractConfig.WorkerHashes.
func (h HealthStatus) ImageHash() (Hash, error) {
	var out Hash
	if h.ImageHashB64 == "" {
		return out, errors.New("the status output has no TDX Image Hash line")
	}
	b, err := base64.StdEncoding.DecodeString(h.ImageHashB64)
	if err != nil {
		return out, fmt.Errorf("TDX image hash: not base64: %w", err)
	}
	if len(b) != len(out) {
		return out, fmt.Errorf("TDX image hash: %d bytes, want %d", len(b), len(out))
	}
	copy(out[:], b)
	return out, nil
}
