package main

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

func TestNetlinkEncoding(t *testing.T) {
	if a := rtAttr(1, []byte{10, 0, 2, 15}); !bytes.Equal(a, []byte{8, 0, 1, 0, 10, 0, 2, 15}) {
		t.Errorf("rtAttr = %v", a)
	}
	if a := rtAttr(2, []byte{1}); len(a) != 8 || a[0] != 5 {
		t.Errorf("rtAttr is not padded to 4 bytes: %v", a)
	}
	body := addrBody(2, netip.MustParsePrefix("10.0.2.15/24"))
	if len(body) != 8+8+8 || body[1] != 24 || body[4] != 2 {
		t.Errorf("addrBody = %v", body)
	}
	msg := nlMessage(20, 5, 7, body)
	if binary.NativeEndian.Uint32(msg) != uint32(len(msg)) || binary.NativeEndian.Uint32(msg[8:]) != 7 {
		t.Errorf("nlMessage header = %v", msg[:16])
	}
	if r := defaultRouteBody(2, netip.MustParseAddr("10.0.2.2")); len(r) != 12+8+8 {
		t.Errorf("defaultRouteBody length %d", len(r))
	}
}
