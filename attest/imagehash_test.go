package attest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestImageHash(t *testing.T) {
	fill := func(b byte) (a [48]byte) {
		for i := range a {
			a[i] = b
		}
		return a
	}
	// The synthetic vector of spec §3 (from Cocoon's tee/test/cocoon.cpp).
	synthetic := Measurements{
		MRTD:          fill(0x12),
		MRConfigID:    fill(0x34),
		MROwner:       fill(0xAA),
		MROwnerConfig: fill(0xBB),
		RTMR:          [4][48]byte{fill('a'), fill('b'), fill('c'), fill('d')},
	}
	tests := []struct {
		name string
		m    Measurements
		want string
	}{
		{"fake TDX, all zero", Measurements{}, "5c55c8f4db4010ba9203d83536d0609856af8c847ac039e37e7dde8fbd574b61"},
		{"synthetic cocoon.cpp", synthetic, "36caf4e8958afa865b8ccc68f1c6f40bc7bddb11150bf437f6fed58b1ca26000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.m.ImageHash()
			if hex.EncodeToString(got[:]) != tt.want {
				t.Errorf("ImageHash = %x, want %s", got, tt.want)
			}
		})
	}
}

func TestFakeTDXImageHash(t *testing.T) {
	want := sha256.Sum256(make([]byte, 448))
	if FakeTDXImageHash != want {
		t.Errorf("FakeTDXImageHash = %x, want SHA-256(448 zero bytes) = %x", FakeTDXImageHash, want)
	}
	if got := hex.EncodeToString(FakeTDXImageHash[:]); got != "5c55c8f4db4010ba9203d83536d0609856af8c847ac039e37e7dde8fbd574b61" {
		t.Errorf("FakeTDXImageHash = %s", got)
	}
}

func TestImageHashCoversEachRegister(t *testing.T) {
	base := Measurements{}.ImageHash()
	fields := []struct {
		name string
		set  func(*Measurements)
	}{
		{"MRTD", func(m *Measurements) { m.MRTD[0] = 1 }},
		{"MRCONFIGID", func(m *Measurements) { m.MRConfigID[47] = 1 }},
		{"MROWNER", func(m *Measurements) { m.MROwner[1] = 1 }},
		{"MROWNERCONFIG", func(m *Measurements) { m.MROwnerConfig[2] = 1 }},
		{"RTMR0", func(m *Measurements) { m.RTMR[0][3] = 1 }},
		{"RTMR3", func(m *Measurements) { m.RTMR[3][47] = 1 }},
	}
	for _, f := range fields {
		t.Run(f.name, func(t *testing.T) {
			var m Measurements
			f.set(&m)
			if got := m.ImageHash(); bytes.Equal(got[:], base[:]) {
				t.Errorf("changing %s left the image hash unchanged", f.name)
			}
		})
	}
}
