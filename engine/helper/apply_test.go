package helper

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// do runs one request through a Helper on tr and returns the reply.
func do(t *testing.T, tr *tree, cc CCTool, req Request) Reply {
	t.Helper()
	h := &Helper{Root: tr.openRoot(), CC: cc}
	return h.Handle(context.Background(), req)
}

func TestBindVFIOConsumer(t *testing.T) {
	tr := consumerHost(t)
	before := tr.snapshot()
	rep := do(t, tr, noCC(), Request{Op: OpBindVFIO, PCI: "0000:01:00.0"})
	if !rep.OK {
		t.Fatalf("bind-vfio: %+v", rep)
	}
	if len(rep.Done) != 6 {
		t.Errorf("done %q", rep.Done)
	}
	want := map[string]string{
		"sys/devices/pci0000:00/0000:01:00.0/driver_override": "vfio-pci",
		"sys/devices/pci0000:00/0000:01:00.1/driver_override": "vfio-pci",
		"sys/bus/pci/drivers/nvidia/unbind":                   "0000:01:00.0",
		"sys/bus/pci/drivers/snd_hda_intel/unbind":            "0000:01:00.1",
		// Written twice, the audio function last.
		"sys/bus/pci/drivers/vfio-pci/bind": "0000:01:00.1",
	}
	checkChanged(t, tr, before, want)
}

func TestBindVFIOHGXTouchesOneGPU(t *testing.T) {
	tr := hgxHost(t)
	before := tr.snapshot()
	rep := do(t, tr, noCC(), Request{Op: OpBindVFIO, PCI: "0000:9d:00.0"})
	if !rep.OK {
		t.Fatalf("bind-vfio: %+v", rep)
	}
	checkChanged(t, tr, before, map[string]string{
		"sys/devices/pci0000:00/0000:9d:00.0/driver_override": "vfio-pci",
		"sys/bus/pci/drivers/nvidia/unbind":                   "0000:9d:00.0",
		"sys/bus/pci/drivers/vfio-pci/bind":                   "0000:9d:00.0",
	})
}

func TestBindVFIOAlreadyBound(t *testing.T) {
	g := h100("0000:1b:00.0", "vfio-pci", "20")
	g.override = "vfio-pci"
	tr := newTree(t, g)
	sum := tr.checksum()
	rep := do(t, tr, noCC(), Request{Op: OpBindVFIO, PCI: "0000:1b:00.0"})
	if !rep.OK || len(rep.Done) != 0 {
		t.Fatalf("bind-vfio of a bound GPU: %+v", rep)
	}
	if tr.checksum() != sum {
		t.Error("fixture changed")
	}
}

func TestRestoreConsumer(t *testing.T) {
	g := rtx4090("0000:01:00.0", "vfio-pci", "14")
	g.override = "vfio-pci"
	a := rtxAudio("0000:01:00.1", "vfio-pci", "14")
	a.override = "vfio-pci"
	tr := newTree(t, rootPort("0000:00:01.0", "14"), g, a)
	before := tr.snapshot()
	rep := do(t, tr, noCC(), Request{Op: OpRestore, PCI: "0000:01:00.0"})
	if !rep.OK {
		t.Fatalf("restore: %+v", rep)
	}
	wantDone := []string{
		`write "\n" to /sys/bus/pci/devices/0000:01:00.0/driver_override`,
		`write "0000:01:00.0" to /sys/bus/pci/devices/0000:01:00.0/driver/unbind`,
		`write "0000:01:00.0" to /sys/bus/pci/drivers/nvidia/bind`,
		`write "\n" to /sys/bus/pci/devices/0000:01:00.1/driver_override`,
		`write "0000:01:00.1" to /sys/bus/pci/devices/0000:01:00.1/driver/unbind`,
		`write "0000:01:00.1" to /sys/bus/pci/drivers_probe`,
	}
	if !slices.Equal(rep.Done, wantDone) {
		t.Errorf("done:\n%s\nwant:\n%s", strings.Join(rep.Done, "\n"), strings.Join(wantDone, "\n"))
	}
	checkChanged(t, tr, before, map[string]string{
		"sys/devices/pci0000:00/0000:01:00.0/driver_override": "\n",
		"sys/devices/pci0000:00/0000:01:00.1/driver_override": "\n",
		"sys/bus/pci/drivers/vfio-pci/unbind":                 "0000:01:00.1",
		"sys/bus/pci/drivers/nvidia/bind":                     "0000:01:00.0",
		"sys/bus/pci/drivers_probe":                           "0000:01:00.1",
	})
}

func TestRestoreNeedsNVIDIADriver(t *testing.T) {
	g := h100("0000:1b:00.0", "vfio-pci", "20")
	g.override = "vfio-pci"
	tr := newTree(t, g)
	tr.dropDriver(driverNVIDIA)
	sum := tr.checksum()
	rep := do(t, tr, noCC(), Request{Op: OpRestore, PCI: "0000:1b:00.0"})
	if rep.OK || !rep.Refused || !strings.Contains(rep.Error, "the nvidia driver is not loaded") {
		t.Fatalf("restore without nvidia: %+v", rep)
	}
	if tr.checksum() != sum {
		t.Error("fixture changed by a refused restore")
	}
}

func TestSetCCModeRunsTool(t *testing.T) {
	tr := hgxHost(t)
	rec := &recorder{out: "CC mode set to on\n"}
	cc := fakeCC(t, rec)
	sum := tr.checksum()
	rep := do(t, tr, cc, Request{Op: OpSetCCMode, PCI: "0000:61:00.0", Mode: ModeOn})
	if !rep.OK {
		t.Fatalf("set-cc-mode: %+v", rep)
	}
	if len(rec.runs) != 2 || rec.runs[0][5] != "--set-ppcie-mode=off" || rec.runs[1][5] != "--set-cc-mode=on" || rec.runs[1][4] != "--gpu-bdf=0000:61:00.0" {
		t.Errorf("runs %q", rec.runs)
	}
	if tr.checksum() != sum {
		t.Error("set-cc-mode wrote to sysfs")
	}
}

func TestStatusReply(t *testing.T) {
	tr := consumerHost(t)
	rep := do(t, tr, noCC(), Request{Op: OpStatus, PCI: "0000:01:00.0"})
	if !rep.OK || rep.Status == nil || !rep.Status.Eligible || rep.Status.Device.Driver != "nvidia" {
		t.Fatalf("status: %+v", rep)
	}
	if !strings.Contains(rep.Status.CCNote, "not installed") {
		t.Errorf("cc note %q", rep.Status.CCNote)
	}

	tr = bootVGAHost(t)
	rep = do(t, tr, fakeCC(t, &recorder{out: "CC mode is on"}), Request{Op: OpStatus, PCI: "0000:01:00.0"})
	if !rep.OK || rep.Status.Eligible || !strings.Contains(rep.Status.Problem, "boot VGA") || rep.Status.CCMode != "" {
		t.Fatalf("status of the boot VGA GPU: %+v", rep.Status)
	}

	tr = hgxHost(t)
	rep = do(t, tr, fakeCC(t, &recorder{out: "CC mode is on"}), Request{Op: OpStatus, PCI: "0000:1b:00.0"})
	if !rep.OK || rep.Status.CCMode != ModeOn {
		t.Fatalf("status with the tool: %+v", rep.Status)
	}
}

func TestApplyRechecksSteps(t *testing.T) {
	tr := consumerHost(t)
	p, err := NewPlan(context.Background(), tr.openRoot().FS(), noCC(), Request{Op: OpBindVFIO, PCI: "0000:01:00.0"})
	if err != nil {
		t.Fatal(err)
	}
	sum := tr.checksum()
	bad := []Step{
		{Kind: StepWrite, Path: "sys/bus/pci/devices/0000:00:14.0/driver_override", Value: "vfio-pci"}, // not in the plan
		{Kind: StepWrite, Path: "sys/bus/pci/devices/0000:01:00.0/remove", Value: "1"},
		{Kind: StepWrite, Path: "sys/bus/pci/devices/0000:01:00.0/driver_override", Value: "nouveau"},
		{Kind: StepWrite, Path: "sys/bus/pci/drivers/vfio-pci/bind", Value: "0000:00:14.0"},
		{Kind: StepWrite, Path: "sys/bus/pci/drivers/i915/bind", Value: "0000:01:00.0"},
		{Kind: StepWrite, Path: "../etc/passwd", Value: "0000:01:00.0"},
		{Kind: StepExec, Argv: []string{"/bin/sh", "-c", "reboot"}},
		{Kind: StepWait, Wait: -1},
		{Kind: "chmod"},
	}
	for _, s := range bad {
		q := p
		q.Steps = append(slices.Clone(p.Steps), s)
		if _, err := (Executor{Root: tr.openRoot(), CC: noCC()}).Apply(context.Background(), q); err == nil || !IsRefusal(err) {
			t.Errorf("step %+v: got %v, want a refusal", s, err)
		}
	}
	if tr.checksum() != sum {
		t.Error("fixture changed by refused plans")
	}
}

func TestServeLogs(t *testing.T) {
	tr := sharedGroupHost(t)
	var logs bytes.Buffer
	h := &Helper{Root: tr.openRoot(), CC: noCC(), Log: slog.New(slog.NewTextHandler(&logs, nil)), Caller: "uid 1000"}
	var out bytes.Buffer
	rep, err := h.Serve(context.Background(), strings.NewReader(`{"op":"bind-vfio","pci":"0000:01:00.0"}`), &out)
	if err != nil {
		t.Fatal(err)
	}
	var got Reply
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.OK || !got.Refused || got.PCI != "0000:01:00.0" {
		t.Fatalf("reply %s (%v), %+v", out.Bytes(), err, rep)
	}
	l := logs.String()
	for _, w := range []string{`caller="uid 1000"`, "op=bind-vfio", "pci=0000:01:00.0", "result=refused", "also holds 0000:02:00.0"} {
		if !strings.Contains(l, w) {
			t.Errorf("log lacks %q: %s", w, l)
		}
	}
}

// checkChanged checks that exactly the files in want changed, to the
// given contents.
func checkChanged(t *testing.T, tr *tree, before map[string]string, want map[string]string) {
	t.Helper()
	after := tr.snapshot()
	got := changed(before, after)
	var wantKeys []string
	for k := range want {
		wantKeys = append(wantKeys, k)
	}
	slices.Sort(wantKeys)
	if !slices.Equal(got, wantKeys) {
		t.Errorf("changed files:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(wantKeys, "\n  "))
	}
	for k, v := range want {
		if c := tr.read(k); c != v {
			t.Errorf("%s = %q, want %q", k, c, v)
		}
	}
}
