package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// procFS reads what the health "sys" and "status" commands show from a
// proc filesystem: /proc in the guest, a fixture in tests.
type procFS struct{ fsys fs.FS }

func (p procFS) read(name string) ([]byte, error) { return fs.ReadFile(p.fsys, name) }

// Uptime is the first field of uptime.
func (p procFS) Uptime() (time.Duration, error) {
	b, err := p.read("uptime")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 0, fmt.Errorf("uptime: empty")
	}
	s, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("uptime: %w", err)
	}
	return time.Duration(s * float64(time.Second)), nil
}

// Load is the 1, 5 and 15 minute load averages.
func (p procFS) Load() ([3]float64, error) {
	var out [3]float64
	b, err := p.read("loadavg")
	if err != nil {
		return out, err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return out, fmt.Errorf("loadavg: want 3 fields, got %q", b)
	}
	for i := range out {
		if out[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return out, fmt.Errorf("loadavg: %w", err)
		}
	}
	return out, nil
}

// Meminfo returns meminfo's fields in bytes.
func (p procFS) Meminfo() (map[string]uint64, error) {
	b, err := p.read("meminfo")
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			v *= 1024
		}
		m[k] = v
	}
	return m, nil
}

// MemUsedPercent is (MemTotal − MemAvailable) / MemTotal, as a percentage.
func memUsedPercent(m map[string]uint64) float64 {
	if m["MemTotal"] == 0 {
		return 0
	}
	return float64(m["MemTotal"]-min(m["MemAvailable"], m["MemTotal"])) / float64(m["MemTotal"]) * 100
}

// Cores counts the processors in cpuinfo.
func (p procFS) Cores() int {
	b, err := p.read("cpuinfo")
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "processor") {
			n++
		}
	}
	return n
}

type ifaceStat struct {
	Name               string
	RxBytes, RxPackets uint64
	TxBytes, TxPackets uint64
}

// NetDev reads net/dev.
func (p procFS) NetDev() ([]ifaceStat, error) {
	b, err := p.read("net/dev")
	if err != nil {
		return nil, err
	}
	var out []ifaceStat
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 10 {
			continue
		}
		num := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
		out = append(out, ifaceStat{Name: strings.TrimSpace(name), RxBytes: num(0), RxPackets: num(1), TxBytes: num(8), TxPackets: num(9)})
	}
	return out, nil
}

// SelfRSS is the agent's resident memory (self/status VmRSS) in bytes.
func (p procFS) SelfRSS() (uint64, error) {
	b, err := p.read("self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("self/status VmRSS: %w", err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("self/status has no VmRSS")
}

// humanBytes writes n like systemd's memory figures: 7.2M, 512.0K, 1.5G.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, suffix := float64(n)/unit, "K"
	for _, s := range []string{"M", "G", "T"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	return fmt.Sprintf("%.1f%s", v, suffix)
}

// formatUptime writes d as "1d 02:03:04".
func formatUptime(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("%dd %02d:%02d:%02d", s/86400, s/3600%24, s/60%60, s%60)
}
