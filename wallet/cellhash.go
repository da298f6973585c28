package wallet

import (
	"crypto/sha256"
	"encoding/binary"
)

// This file computes TON cell representation hashes by hand, for cells
// whose children are known only by hash and depth (the cocoon wallet code,
// which the app does not ship). The rules (TON whitepaper §3.1.4–3.1.5,
// "standard cell representation") for an ordinary cell of level 0:
//
//	d1 = refs + 8·special + 32·level            (one byte)
//	d2 = floor(bits/8) + ceil(bits/8)           (one byte)
//	data bits, padded to whole bytes: when bits%8 ≠ 0 a single 1 bit
//	  (completion tag) follows them, then zeros
//	for each child: its depth, 2 bytes big-endian
//	for each child: its representation hash, 32 bytes
//
// hash = SHA-256 of that; depth = 0 without children, else 1 + the
// largest child depth. Tests check it against tonutils-go's cell package.

// maxCellBits is the data capacity of a cell.
const maxCellBits = 1023

// bitWriter accumulates a cell's data bits, most significant bit first.
type bitWriter struct {
	buf [128]byte
	n   int
}

func (w *bitWriter) bit(v bool) {
	if v {
		w.buf[w.n/8] |= 0x80 >> (w.n % 8)
	}
	w.n++
}

// uint writes the low n bits of v (n ≤ 64).
func (w *bitWriter) uint(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		w.bit(v>>i&1 == 1)
	}
}

// bytes writes whole bytes.
func (w *bitWriter) bytes(p []byte) {
	if w.n%8 == 0 {
		copy(w.buf[w.n/8:], p)
		w.n += 8 * len(p)
		return
	}
	for _, b := range p {
		w.uint(uint64(b), 8)
	}
}

// cellRef is a child cell known by its representation hash and depth.
type cellRef struct {
	hash  [32]byte
	depth uint16
}

// reprHash returns the representation hash and depth of an ordinary
// level-0 cell with data w and children refs (at most 4).
func reprHash(w *bitWriter, refs []cellRef) cellRef {
	if w.n > maxCellBits || len(refs) > 4 {
		panic("wallet: cell overflow") // only called with fixed layouts
	}
	full := w.n / 8
	ceil := (w.n + 7) / 8
	data := w.buf
	if w.n%8 != 0 {
		data[full] |= 0x80 >> (w.n % 8) // completion tag
	}
	h := sha256.New()
	h.Write([]byte{byte(len(refs)), byte(full + ceil)})
	h.Write(data[:ceil])
	var depth uint16
	var d [2]byte
	for _, r := range refs {
		binary.BigEndian.PutUint16(d[:], r.depth)
		h.Write(d[:])
		if r.depth+1 > depth {
			depth = r.depth + 1
		}
	}
	for _, r := range refs {
		h.Write(r.hash[:])
	}
	var out cellRef
	h.Sum(out.hash[:0])
	out.depth = depth
	return out
}

// stateInitHash returns the hash of the StateInit
// {split_depth: none, special: none, code, data, library: empty}
// (bits 0 0 1 1 0, refs code and data): the account id of a contract.
func stateInitHash(code, data cellRef) [32]byte {
	var w bitWriter
	w.uint(0b00110, 5)
	return reprHash(&w, []cellRef{code, data}).hash
}
