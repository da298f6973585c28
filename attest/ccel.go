package attest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// This file reads the TDX event log from the CCEL ACPI table and replays
// RTMR0–3 from it (ParseCCEL, spec §4).

// TCG event-log constants used by the CCEL (TCG PC Client Platform Firmware
// Profile, crypto-agile format).
const (
	ccelSignature       = "CCEL"
	ccelTableSize       = 56 // ACPI header (36) + CC type, subtype, reserved (4) + LAML (8) + LASA (8)
	ccelAlgSHA384       = 0x000C
	ccelEndOfLog        = 0xFFFFFFFF
	ccelSpecIDSignature = "Spec ID Event03\x00"
	ccelLegacyEventSize = 4 + 4 + 20 + 4 // PCR index, type, SHA-1 digest, event size
	ccelMaxAlgorithms   = 16             // more is certainly a corrupt header
)

// CCELTypeTDX is the CC type of Intel TDX in the CCEL table.
const CCELTypeTDX = 2

// CCELEventNoAction is the TCG event type EV_NO_ACTION: informational
// events that are not extended into any register.
const CCELEventNoAction = 0x00000003

// CCEventLog is a TDX event log read from the CCEL ACPI table and its log
// area, with the RTMRs replayed from it.
type CCEventLog struct {
	// CCType is the confidential-computing type of the table (CCELTypeTDX).
	CCType, CCSubtype uint8
	// LogAreaLength and LogAreaStart are the table's LAML and LASA.
	LogAreaLength, LogAreaStart uint64
	// Algorithms are the digest algorithm IDs of the Spec ID header with
	// their digest sizes.
	Algorithms []CCELAlgorithm
	// Events are the crypto-agile events after the Spec ID header, in log
	// order, EV_NO_ACTION ones included.
	Events []CCELEvent
	// RTMR are RTMR0–3 replayed from zero with the SHA-384 digest of every
	// event except EV_NO_ACTION. RTMR3 then still lacks the lines of the
	// attestation log: add them with ExtendRTMREvents.
	RTMR [4][48]byte
}

// CCELAlgorithm is one digest algorithm of the Spec ID header.
type CCELAlgorithm struct {
	ID   uint16
	Size uint16
}

// CCELEvent is one event of the log.
type CCELEvent struct {
	// MRIndex is the CC measurement-register index: 1–4 are RTMR0–3.
	MRIndex uint32
	// Type is the TCG event type (CCELEventNoAction = 3).
	Type uint32
	// Digest is the event's SHA-384 digest (zero for EV_NO_ACTION events
	// that carry none).
	Digest [48]byte
	// Data is a copy of the event data.
	Data []byte
}

// ParseCCEL parses the CCEL ACPI table (/sys/firmware/acpi/tables/CCEL) and
// the event log it describes (/sys/firmware/acpi/tables/data/CCEL) and
// replays RTMR0–3 (spec §4). The log must be TCG2 crypto-agile: a Spec ID
// header event in the SHA-1 format listing SHA-384 (0x000C), then events of
// u32 MR index, u32 type, u32 digest count, {u16 algorithm, digest}…, u32
// size, data. An MR index of 0xFFFFFFFF or the end of data ends the log.
// Replay uses each event's SHA-384 digest (Cocoon's tdx-eventlog takes the
// first digest; TDVF logs write SHA-384 only, so the two agree).
func ParseCCEL(table, data []byte) (CCEventLog, error) {
	var l CCEventLog
	if len(table) < ccelTableSize {
		return l, fmt.Errorf("attest: CCEL table is %d bytes, want at least %d", len(table), ccelTableSize)
	}
	if string(table[:4]) != ccelSignature {
		return l, fmt.Errorf("attest: CCEL table signature is %q, want %q", table[:4], ccelSignature)
	}
	tlen := binary.LittleEndian.Uint32(table[4:8])
	if tlen < ccelTableSize || uint64(tlen) > uint64(len(table)) {
		return l, fmt.Errorf("attest: CCEL table length field %d does not fit the %d bytes read", tlen, len(table))
	}
	var sum byte
	for _, b := range table[:tlen] {
		sum += b
	}
	if sum != 0 {
		return l, fmt.Errorf("attest: CCEL table checksum is wrong (bytes sum to %#02x, want 0)", sum)
	}
	l.CCType, l.CCSubtype = table[36], table[37]
	l.LogAreaLength = binary.LittleEndian.Uint64(table[40:48])
	l.LogAreaStart = binary.LittleEndian.Uint64(table[48:56])
	if l.CCType != CCELTypeTDX {
		return l, fmt.Errorf("attest: CCEL CC type is %d, want %d (TDX)", l.CCType, CCELTypeTDX)
	}
	if l.LogAreaLength < uint64(len(data)) {
		data = data[:l.LogAreaLength]
	}

	r := ccelReader{b: data}
	if err := l.parseSpecID(&r); err != nil {
		return l, err
	}
	for r.off < len(r.b) {
		start := r.off
		mr, ok := r.u32()
		if !ok || mr == ccelEndOfLog {
			break
		}
		ev, err := l.parseEvent(&r, mr)
		if err != nil {
			return l, fmt.Errorf("attest: CCEL event %d at offset %d: %w", len(l.Events), start, err)
		}
		l.Events = append(l.Events, ev)
		if ev.Type == CCELEventNoAction {
			continue
		}
		l.RTMR[mr-1] = ExtendRTMR(l.RTMR[mr-1], ev.Digest)
	}
	return l, nil
}

// parseSpecID reads the first event of the log: the EV_NO_ACTION Spec ID
// header in the SHA-1 (TCG_PCR_EVENT) format, which lists the algorithms.
func (l *CCEventLog) parseSpecID(r *ccelReader) error {
	hdr, ok := r.bytes(ccelLegacyEventSize)
	if !ok {
		return errors.New("attest: CCEL log is too short for its Spec ID header")
	}
	if typ := binary.LittleEndian.Uint32(hdr[4:8]); typ != CCELEventNoAction {
		return fmt.Errorf("attest: CCEL log starts with event type %#x, want the EV_NO_ACTION Spec ID header (not a crypto-agile log)", typ)
	}
	size := binary.LittleEndian.Uint32(hdr[28:32])
	if uint64(size) > uint64(len(r.b)-r.off) {
		return fmt.Errorf("attest: CCEL Spec ID header claims %d bytes of data, more than the log holds", size)
	}
	ev, _ := r.bytes(int(size))
	// TCG_EfiSpecIDEvent: signature[16], platformClass u32, version minor,
	// major, errata, uintnSize (4 × u8), numberOfAlgorithms u32, then
	// {algorithmId u16, digestSize u16} per algorithm, vendorInfoSize u8.
	const fixed = 16 + 4 + 4 + 4
	if len(ev) < fixed || string(ev[:16]) != ccelSpecIDSignature {
		return errors.New("attest: CCEL Spec ID header lacks the \"Spec ID Event03\" signature (not a crypto-agile log)")
	}
	n := binary.LittleEndian.Uint32(ev[24:28])
	if n == 0 || n > ccelMaxAlgorithms || len(ev) < fixed+int(n)*4 {
		return fmt.Errorf("attest: CCEL Spec ID header lists %d algorithms in %d bytes", n, len(ev))
	}
	sha384 := false
	for i := range int(n) {
		a := CCELAlgorithm{
			ID:   binary.LittleEndian.Uint16(ev[fixed+4*i:]),
			Size: binary.LittleEndian.Uint16(ev[fixed+4*i+2:]),
		}
		if a.ID == ccelAlgSHA384 {
			if a.Size != 48 {
				return fmt.Errorf("attest: CCEL Spec ID header gives SHA-384 a %d-byte digest", a.Size)
			}
			sha384 = true
		}
		l.Algorithms = append(l.Algorithms, a)
	}
	if !sha384 {
		return errors.New("attest: CCEL Spec ID header does not list SHA-384 (0x000C)")
	}
	return nil
}

// parseEvent reads the rest of a crypto-agile event whose MR index mr has
// been read.
func (l *CCEventLog) parseEvent(r *ccelReader, mr uint32) (CCELEvent, error) {
	ev := CCELEvent{MRIndex: mr}
	var ok bool
	if ev.Type, ok = r.u32(); !ok {
		return ev, errors.New("truncated event type")
	}
	count, ok := r.u32()
	if !ok {
		return ev, errors.New("truncated digest count")
	}
	if count > uint32(len(l.Algorithms)) {
		return ev, fmt.Errorf("%d digests, but the header lists %d algorithms", count, len(l.Algorithms))
	}
	haveSHA384 := false
	for range count {
		alg, ok := r.u16()
		if !ok {
			return ev, errors.New("truncated digest algorithm")
		}
		i := slices.IndexFunc(l.Algorithms, func(a CCELAlgorithm) bool { return a.ID == alg })
		if i < 0 {
			return ev, fmt.Errorf("digest algorithm %#04x is not in the Spec ID header", alg)
		}
		d, ok := r.bytes(int(l.Algorithms[i].Size))
		if !ok {
			return ev, errors.New("truncated digest")
		}
		if alg == ccelAlgSHA384 {
			copy(ev.Digest[:], d)
			haveSHA384 = true
		}
	}
	size, ok := r.u32()
	if !ok {
		return ev, errors.New("truncated event size")
	}
	if uint64(size) > uint64(len(r.b)-r.off) {
		return ev, fmt.Errorf("event data of %d bytes runs past the end of the log", size)
	}
	d, _ := r.bytes(int(size))
	ev.Data = bytes.Clone(d)
	if ev.Type == CCELEventNoAction {
		return ev, nil
	}
	if mr < 1 || mr > 4 {
		return ev, fmt.Errorf("MR index %d is not an RTMR (want 1–4)", mr)
	}
	if !haveSHA384 {
		return ev, errors.New("no SHA-384 digest")
	}
	return ev, nil
}

// ccelReader reads little-endian values from a byte slice.
type ccelReader struct {
	b   []byte
	off int
}

func (r *ccelReader) bytes(n int) ([]byte, bool) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, false
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b, true
}

func (r *ccelReader) u32() (uint32, bool) {
	b, ok := r.bytes(4)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b), true
}

func (r *ccelReader) u16() (uint16, bool) {
	b, ok := r.bytes(2)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint16(b), true
}
