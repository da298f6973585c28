package helper

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// mixedHost is the HGX host plus an RTX card sharing its IOMMU group with
// an Intel NIC and an NVIDIA card that drives the console.
func mixedHost(t *testing.T) *tree {
	tr := hgxHost(t)
	tr.add(rtx4090("0000:b1:00.0", "nvidia", "90"))
	tr.add(rtxAudio("0000:b1:00.1", "snd_hda_intel", "90"))
	tr.add(fn{addr: "0000:b2:00.0", vendor: "8086", device: "15f3", class: "020000", driver: "igc", group: "90"})
	vga := rtx4090("0000:e1:00.0", "nvidia", "91")
	vga.bootVGA = true
	tr.add(vga)
	return tr
}

// req builds a request body from op and pci, inserted as JSON strings.
func req(op, pci string) string {
	b, _ := json.Marshal(map[string]string{"op": op, "pci": pci})
	return string(b)
}

func TestReliabilityHostileRequests(t *testing.T) {
	tr := mixedHost(t)
	rec := &recorder{out: "CC mode is on\n"}
	cc := fakeCC(t, rec)
	h := &Helper{Root: tr.openRoot(), CC: cc}

	hostile := []struct{ name, body string }{
		// Address syntax.
		{"short form", req("bind-vfio", "0000:1b:00")},
		{"no domain", req("bind-vfio", "1b:00.0")},
		{"uppercase", req("bind-vfio", "0000:1B:00.0")},
		{"two-digit function", req("bind-vfio", "0000:1b:00.00")},
		{"device out of range", req("bind-vfio", "0000:1b:20.0")},
		{"function out of range", req("bind-vfio", "0000:1b:00.8")},
		{"five-digit domain", req("bind-vfio", "00000:1b:00.0")},
		{"empty address", req("bind-vfio", "")},
		{"leading space", req("bind-vfio", " 0000:1b:00.0")},
		{"trailing space", req("bind-vfio", "0000:1b:00.0 ")},
		{"overlong address", req("bind-vfio", strings.Repeat("0000:1b:00.0", 30))},
		// Paths.
		{"dot-dot", req("bind-vfio", "../../../etc/passwd")},
		{"dot-dot after address", req("bind-vfio", "0000:1b:00.0/../../../../etc")},
		{"absolute path", req("bind-vfio", "/sys/bus/pci/devices/0000:1b:00.0")},
		{"attribute suffix", req("restore", "0000:1b:00.0/remove")},
		// Shell metacharacters, control characters.
		{"semicolon", req("bind-vfio", "0000:1b:00.0;reboot")},
		{"pipe", req("bind-vfio", "0000:1b:00.0|sh")},
		{"ampersand", req("bind-vfio", "0000:1b:00.0&&id")},
		{"dollar paren", req("status", "$(id)")},
		{"backtick", req("status", "`id`")},
		{"newline", req("bind-vfio", "0000:1b:00.0\n0000:43:00.0")},
		{"trailing newline", req("bind-vfio", "0000:1b:00.0\n")},
		{"escaped NUL", req("bind-vfio", "0000:1b:00.0\x00")},
		{"raw NUL byte", "{\"op\":\"bind-vfio\",\"pci\":\"0000:1b:00.0\x00\"}"},
		// Unicode look-alikes.
		{"fullwidth digits", req("bind-vfio", "０000:1b:00.0")},
		{"cyrillic a", req("bind-vfio", "0000:1b:00.0\u0430")},
		{"cyrillic in bus", req("bind-vfio", "0000:1\u0431:00.0")},
		{"one-dot leader", req("bind-vfio", "0000:1b:00\u20240")},
		{"ratio colon", req("bind-vfio", "0000\u22361b:00.0")},
		{"invalid UTF-8", "{\"op\":\"bind-vfio\",\"pci\":\"0000:1b:00.0\xff\"}"},
		// Operations and modes.
		{"unknown op", req("unbind", "0000:1b:00.0")},
		{"uppercase op", req("BIND-VFIO", "0000:1b:00.0")},
		{"op with shell", req("bind-vfio;rm -rf /", "0000:1b:00.0")},
		{"empty op", req("", "0000:1b:00.0")},
		{"missing op", `{"pci":"0000:1b:00.0"}`},
		{"missing pci", `{"op":"status"}`},
		{"mode with shell", `{"op":"set-cc-mode","pci":"0000:1b:00.0","mode":"on;reboot"}`},
		{"uppercase mode", `{"op":"set-cc-mode","pci":"0000:1b:00.0","mode":"ON"}`},
		{"empty mode", `{"op":"set-cc-mode","pci":"0000:1b:00.0","mode":""}`},
		{"unknown mode", `{"op":"set-cc-mode","pci":"0000:1b:00.0","mode":"debug"}`},
		{"mode flag injection", `{"op":"set-cc-mode","pci":"0000:1b:00.0","mode":"on --recover-broken-gpu"}`},
		{"mode on bind", `{"op":"bind-vfio","pci":"0000:1b:00.0","mode":"on"}`},
		{"empty mode on bind", `{"op":"bind-vfio","pci":"0000:1b:00.0","mode":""}`},
		// JSON shape.
		{"unknown field", `{"op":"bind-vfio","pci":"0000:1b:00.0","cmd":"rm -rf /"}`},
		{"field name case", `{"op":"bind-vfio","PCI":"0000:1b:00.0"}`},
		{"repeated field", `{"op":"status","pci":"0000:1b:00.0","pci":"../../etc"}`},
		{"number pci", `{"op":"status","pci":1}`},
		{"null pci", `{"op":"status","pci":null}`},
		{"object pci", `{"op":"status","pci":{"x":"0000:1b:00.0"}}`},
		{"array", `["bind-vfio","0000:1b:00.0"]`},
		{"two objects", req("status", "0000:1b:00.0") + req("bind-vfio", "0000:43:00.0")},
		{"trailing garbage", req("status", "0000:1b:00.0") + " ;reboot"},
		{"not JSON", "bind-vfio 0000:1b:00.0"},
		{"empty", ""},
		{"comment", `{"op":"status", /* x */ "pci":"0000:1b:00.0"}`},
		{"oversize message", `{"op":"status","pci":"0000:1b:00.0","x":"` + strings.Repeat("A", 1<<20) + `"}`},
		{"oversize whitespace", req("status", "0000:1b:00.0") + strings.Repeat(" ", MaxRequestBytes)},
		// Wrong device kinds.
		{"missing device", req("bind-vfio", "0000:99:00.0")},
		{"NIC", req("bind-vfio", "0000:20:00.0")},
		{"NVMe", req("restore", "0000:04:00.0")},
		{"NVSwitch", `{"op":"set-cc-mode","pci":"0000:05:00.0","mode":"on"}`},
		{"BMC boot VGA", req("bind-vfio", "0000:03:00.0")},
		{"NVIDIA boot VGA", req("bind-vfio", "0000:e1:00.0")},
		{"NVIDIA boot VGA CC", `{"op":"set-cc-mode","pci":"0000:e1:00.0","mode":"off"}`},
		{"GPU sharing a group with a NIC", req("bind-vfio", "0000:b1:00.0")},
		{"audio function", req("bind-vfio", "0000:b1:00.1")},
		{"status of a NIC", req("status", "0000:b2:00.0")},
	}

	start := tr.checksum()
	rejected := 0
	for _, tt := range hostile {
		before := tr.checksum()
		var out bytes.Buffer
		rep, err := h.Serve(context.Background(), strings.NewReader(tt.body), &out)
		if err != nil {
			t.Errorf("%s: Serve: %v", tt.name, err)
			continue
		}
		var wire Reply
		if err := json.Unmarshal(out.Bytes(), &wire); err != nil {
			t.Errorf("%s: reply %q: %v", tt.name, out.String(), err)
		}
		if rep.OK || !rep.Refused || rep.Error == "" || wire.OK || !wire.Refused || len(rep.Done) > 0 {
			t.Errorf("%s: not rejected: %+v", tt.name, rep)
		} else {
			rejected++
		}
		if tr.checksum() != before {
			t.Errorf("%s: the fixture changed", tt.name)
		}
		if len(out.Bytes()) > 4096 {
			t.Errorf("%s: reply of %d bytes", tt.name, out.Len())
		}
	}
	unchanged := tr.checksum() == start && len(rec.runs) == 0
	if len(rec.runs) > 0 {
		t.Errorf("the CC tool ran: %q", rec.runs)
	}
	if len(hostile) < 40 {
		t.Errorf("only %d hostile requests", len(hostile))
	}
	yes := "no"
	if unchanged {
		yes = "yes"
	}
	t.Logf("RELIABILITY hostile-helper-requests: tried %d; rejected %d; fixture unchanged %s", len(hostile), rejected, yes)
}
