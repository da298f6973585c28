//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine/helper"
)

// fixture writes a small sysfs tree: one H100 alone in IOMMU group 20,
// on the nvidia driver, with vfio-pci loaded.
func fixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	file := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(rel, target string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	const a = "0000:1b:00.0"
	dev := "sys/devices/pci0000:00/" + a
	file(dev+"/vendor", "0x10de\n")
	file(dev+"/device", "0x2330\n")
	file(dev+"/class", "0x030200\n")
	file(dev+"/driver_override", "(null)\n")
	for _, d := range []string{"nvidia", "vfio-pci"} {
		file("sys/bus/pci/drivers/"+d+"/bind", "")
		file("sys/bus/pci/drivers/"+d+"/unbind", "")
	}
	link(dev+"/driver", "../../../bus/pci/drivers/nvidia")
	link(dev+"/iommu_group", "../../../kernel/iommu_groups/20")
	link("sys/bus/pci/devices/"+a, "../../../devices/pci0000:00/"+a)
	link("sys/kernel/iommu_groups/20/devices/"+a, "../../../../devices/pci0000:00/"+a)
	return root
}

func env(root string, euid int) environment {
	return environment{
		euid:    euid,
		getenv:  func(k string) string { return map[string]string{"PKEXEC_UID": "1000"}[k] },
		sysroot: root,
		cc:      helper.CCTool{Python: "/nonexistent/python3", Scripts: []string{"/nonexistent/nvidia_gpu_tools.py"}},
	}
}

func TestRunBind(t *testing.T) {
	root := fixture(t)
	var out, errb, sys bytes.Buffer
	e := env(root, 0)
	e.syslog = &sys
	code := run(context.Background(), nil, strings.NewReader(`{"op":"bind-vfio","pci":"0000:1b:00.0"}`), &out, &errb, e)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	var rep helper.Reply
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || !rep.OK || len(rep.Done) != 3 {
		t.Fatalf("reply %s: %v", out.String(), err)
	}
	b, _ := os.ReadFile(filepath.Join(root, "sys/bus/pci/drivers/vfio-pci/bind"))
	if string(b) != "0000:1b:00.0" {
		t.Errorf("vfio-pci/bind = %q", b)
	}
	for _, l := range []string{errb.String(), sys.String()} {
		for _, w := range []string{"op=bind-vfio", "pci=0000:1b:00.0", "result=ok", `caller="uid 1000 (pkexec)"`} {
			if !strings.Contains(l, w) {
				t.Errorf("log lacks %q: %s", w, l)
			}
		}
	}
	if strings.Contains(sys.String(), "time=") {
		t.Errorf("syslog line carries a time: %s", sys.String())
	}
}

func TestRunRefusals(t *testing.T) {
	root := fixture(t)
	tests := []struct {
		name string
		args []string
		euid int
		in   string
		code int
		want string
	}{
		{"not root", nil, 1000, `{"op":"status","pci":"0000:1b:00.0"}`, 1, "must run as root"},
		{"arguments", []string{"bind-vfio", "0000:1b:00.0"}, 0, "", 2, "takes no arguments"},
		{"bad request", nil, 0, `{"op":"bind-vfio","pci":"0000:1b:00.0;reboot"}`, 1, "is not in the form 0000:17:00.0"},
		{"missing device", nil, 0, `{"op":"bind-vfio","pci":"0000:99:00.0"}`, 1, "there is no PCI device 0000:99:00.0"},
		{"no CC tool", nil, 0, `{"op":"set-cc-mode","pci":"0000:1b:00.0","mode":"on"}`, 1, "nvidia_gpu_tools.py is not installed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, strings.NewReader(tt.in), &out, &errb, env(root, tt.euid))
			if code != tt.code || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tt.code, errb.String(), tt.want)
			}
		})
	}
	b, _ := os.ReadFile(filepath.Join(root, "sys/devices/pci0000:00/0000:1b:00.0/driver_override"))
	if string(b) != "(null)\n" {
		t.Errorf("driver_override changed to %q", b)
	}
}
