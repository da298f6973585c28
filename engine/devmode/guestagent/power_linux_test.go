package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

func inputEvent(typ, code uint16, value int32) []byte {
	ev := make([]byte, inputEventSize)
	binary.NativeEndian.PutUint16(ev[16:], typ)
	binary.NativeEndian.PutUint16(ev[18:], code)
	binary.NativeEndian.PutUint32(ev[20:], uint32(value))
	return ev
}

func TestIsPowerPress(t *testing.T) {
	tests := []struct {
		ev   []byte
		want bool
	}{
		{inputEvent(evKey, keyPower, 1), true},
		{inputEvent(evKey, keyPower, 0), false}, // release
		{inputEvent(evKey, 28, 1), false},       // Enter
		{inputEvent(0, 0, 0), false},            // EV_SYN
		{inputEvent(evKey, keyPower, 1)[:20], false},
	}
	for i, tt := range tests {
		if got := isPowerPress(tt.ev); got != tt.want {
			t.Errorf("%d: got %v, want %v", i, got, tt.want)
		}
	}
}

func TestPowerButtons(t *testing.T) {
	sys := t.TempDir()
	for dev, name := range map[string]string{"event0": "AT Translated Set 2 keyboard\n", "event1": "Power Button\n", "event2": "Power Button\n"} {
		dir := filepath.Join(sys, dev, "device")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "name"), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := powerButtons(sys, "/dev/input")
	if len(got) != 2 || got[0] != "/dev/input/event1" || got[1] != "/dev/input/event2" {
		t.Errorf("powerButtons = %v", got)
	}
}
