package attest

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"strings"
	"testing"
)

// ccelBuilder writes a TDX CCEL table and crypto-agile event log.
type ccelBuilder struct {
	log  bytes.Buffer
	want [4][48]byte
}

func newCCELBuilder(algs ...CCELAlgorithm) *ccelBuilder {
	b := &ccelBuilder{}
	var spec bytes.Buffer
	spec.WriteString("Spec ID Event03\x00")
	binary.Write(&spec, binary.LittleEndian, uint32(0)) // platform class
	spec.Write([]byte{0, 2, 0, 2})                      // version 2.0, errata 0, uintnSize 2 (u64)
	binary.Write(&spec, binary.LittleEndian, uint32(len(algs)))
	for _, a := range algs {
		binary.Write(&spec, binary.LittleEndian, a)
	}
	spec.WriteByte(0) // vendor info size
	le := binary.LittleEndian
	b.log.Write(le.AppendUint32(nil, 0))
	b.log.Write(le.AppendUint32(nil, CCELEventNoAction))
	b.log.Write(make([]byte, 20))
	b.log.Write(le.AppendUint32(nil, uint32(spec.Len())))
	b.log.Write(spec.Bytes())
	return b
}

// event appends an event with one digest per algorithm (SHA-384 of data for
// 0x000C, SHA-256 of data for 0x000B) and records the expected replay.
func (b *ccelBuilder) event(mr, typ uint32, algs []uint16, data string) {
	le := binary.LittleEndian
	b.log.Write(le.AppendUint32(nil, mr))
	b.log.Write(le.AppendUint32(nil, typ))
	b.log.Write(le.AppendUint32(nil, uint32(len(algs))))
	var d384 [48]byte
	for _, a := range algs {
		b.log.Write(le.AppendUint16(nil, a))
		switch a {
		case 0x000C:
			d384 = sha512.Sum384([]byte(data))
			b.log.Write(d384[:])
		case 0x000B:
			d := sha256.Sum256([]byte(data))
			b.log.Write(d[:])
		}
	}
	b.log.Write(le.AppendUint32(nil, uint32(len(data))))
	b.log.WriteString(data)
	if typ != CCELEventNoAction {
		b.want[mr-1] = sha512.Sum384(append(b.want[mr-1][:], d384[:]...))
	}
}

// table returns the CCEL ACPI table for a log area of n bytes.
func ccelTable(n uint64) []byte {
	t := make([]byte, 56)
	copy(t, "CCEL")
	binary.LittleEndian.PutUint32(t[4:], 56)
	t[8] = 1
	copy(t[10:], "TEST  ")
	t[36] = CCELTypeTDX
	binary.LittleEndian.PutUint64(t[40:], n)
	binary.LittleEndian.PutUint64(t[48:], 0x7f000000)
	var sum byte
	for _, c := range t {
		sum += c
	}
	t[9] = -sum
	return t
}

// sampleCCEL is a TDVF-like log: RTMR0 config, RTMR1 kernel, RTMR2 command
// line and initrd, an EV_NO_ACTION in between, then 0xFF padding.
func sampleCCEL() (table, data []byte, want [4][48]byte) {
	sha384 := []uint16{0x000C}
	b := newCCELBuilder(CCELAlgorithm{ID: 0x000C, Size: 48})
	b.event(1, 0x80000001, sha384, "SecureBoot=0")
	b.event(1, 0x0000000A, sha384, "ACPI DATA")
	b.event(0, CCELEventNoAction, sha384, "StartupLocality\x00\x03")
	b.event(2, 0x80000003, sha384, "vmlinuz")
	b.event(3, 0x0000000D, sha384, "console=hvc0 cocoon_gpu")
	b.event(3, 0x0000000D, sha384, "initrd")
	log := append(b.log.Bytes(), bytes.Repeat([]byte{0xff}, 64)...)
	return ccelTable(uint64(len(log))), log, b.want
}

func TestParseCCEL(t *testing.T) {
	table, data, want := sampleCCEL()
	l, err := ParseCCEL(table, data)
	if err != nil {
		t.Fatal(err)
	}
	if l.CCType != CCELTypeTDX || l.LogAreaLength != uint64(len(data)) || l.LogAreaStart != 0x7f000000 {
		t.Errorf("table fields = %d %d %#x", l.CCType, l.LogAreaLength, l.LogAreaStart)
	}
	if len(l.Algorithms) != 1 || l.Algorithms[0] != (CCELAlgorithm{ID: 0x000C, Size: 48}) {
		t.Errorf("Algorithms = %v", l.Algorithms)
	}
	if len(l.Events) != 6 || string(l.Events[3].Data) != "vmlinuz" || l.Events[2].Type != CCELEventNoAction {
		t.Errorf("Events = %+v", l.Events)
	}
	if l.RTMR != want {
		t.Errorf("RTMR = %x\nwant %x", l.RTMR, want)
	}
	if l.RTMR[3] != ([48]byte{}) {
		t.Error("RTMR3 is not zero: the firmware logs nothing to it")
	}
	// cocoon-init's attestation log lines then give RTMR3.
	tree := hexTree(t, emptyTreeHex)
	if got := ExtendRTMREvents(l.RTMR[3], RTMR3Events(tree, false)...); got != ExpectedRTMR3(tree, false) {
		t.Errorf("replayed RTMR3 = %x", got)
	}
	data[len(data)-70] ^= 1 // inside the last event's data, which is not hashed by the parser
	if l2, err := ParseCCEL(table, data); err != nil || l2.RTMR != want {
		t.Errorf("after editing event data: %v, RTMR changed %v", err, l2.RTMR != want)
	}
}

func TestParseCCELMultipleDigests(t *testing.T) {
	both := []uint16{0x000B, 0x000C}
	b := newCCELBuilder(CCELAlgorithm{ID: 0x000B, Size: 32}, CCELAlgorithm{ID: 0x000C, Size: 48})
	b.event(1, 1, both, "one")
	b.event(4, 1, both, "two")
	log := b.log.Bytes() // ends at the end of data, without 0xFFFFFFFF
	l, err := ParseCCEL(ccelTable(uint64(len(log))), log)
	if err != nil {
		t.Fatal(err)
	}
	if l.RTMR != b.want {
		t.Errorf("RTMR = %x, want %x", l.RTMR, b.want)
	}
}

func TestParseCCELErrors(t *testing.T) {
	table, data, _ := sampleCCEL()
	sha384 := []uint16{0x000C}
	mutTable := func(f func([]byte)) []byte {
		c := bytes.Clone(table)
		f(c)
		return c
	}
	fixSum := func(c []byte) {
		c[9] = 0
		var sum byte
		for _, x := range c {
			sum += x
		}
		c[9] = -sum
	}
	logWith := func(f func(*ccelBuilder)) []byte {
		b := newCCELBuilder(CCELAlgorithm{ID: 0x000C, Size: 48})
		f(b)
		return b.log.Bytes()
	}
	tests := []struct {
		name        string
		table, data []byte
		want        string
	}{
		{"short table", table[:40], data, "CCEL table is 40 bytes"},
		{"signature", mutTable(func(c []byte) { copy(c, "TDEL"); fixSum(c) }), data, "signature"},
		{"checksum", mutTable(func(c []byte) { c[20]++ }), data, "checksum"},
		{"length field", mutTable(func(c []byte) { c[4] = 200; fixSum(c) }), data, "length field"},
		{"CC type", mutTable(func(c []byte) { c[36] = 1; fixSum(c) }), data, "CC type is 1"},
		{"empty log", table, nil, "too short"},
		{"not crypto-agile", table, append([]byte{0, 0, 0, 0, 1}, data[5:]...), "not a crypto-agile log"},
		{"bad signature", table, bytes.Replace(bytes.Clone(data), []byte("Spec ID"), []byte("Spec XX"), 1), "signature"},
		{"no SHA-384", table, func() []byte {
			b := newCCELBuilder(CCELAlgorithm{ID: 0x000B, Size: 32})
			return b.log.Bytes()
		}(), "does not list SHA-384"},
		{"truncated event", table, data[:len(data)-64-5], "runs past the end"},
		{"MR index 0", table, logWith(func(b *ccelBuilder) { b.log.Write([]byte{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) }), "MR index 0 is not an RTMR"},
		{"MR index 5", table, logWith(func(b *ccelBuilder) {
			b.log.Write([]byte{5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0x0C, 0})
			b.log.Write(make([]byte, 48+4))
		}), "MR index 5"},
		{"unknown algorithm", table, logWith(func(b *ccelBuilder) { b.event(1, 1, []uint16{0x000B}, "x") }), "0x000b is not in the Spec ID header"},
		{"too many digests", table, logWith(func(b *ccelBuilder) { b.event(1, 1, append(sha384, sha384...), "x") }), "2 digests"},
		{"no SHA-384 digest", table, logWith(func(b *ccelBuilder) { b.log.Write([]byte{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) }), "no SHA-384 digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := tt.table
			if len(tab) >= 56 && binary.LittleEndian.Uint64(tab[40:]) == uint64(len(data)) && len(tt.data) > len(data) {
				tab = ccelTable(uint64(len(tt.data)))
			}
			_, err := ParseCCEL(tab, tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseCCEL error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func FuzzParseCCEL(f *testing.F) {
	table, data, _ := sampleCCEL()
	f.Add(data)
	f.Add(data[:100])
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseCCEL(table, data)
		if err != nil {
			return
		}
		for _, e := range l.Events {
			if e.Type != CCELEventNoAction && (e.MRIndex < 1 || e.MRIndex > 4) {
				t.Fatalf("accepted MR index %d", e.MRIndex)
			}
		}
	})
}
