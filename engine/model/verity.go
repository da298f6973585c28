package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// dm-verity parameters of build-model (§2.8): veritysetup defaults plus
// the salt and UUID it passes.
const (
	// VerityBlockSize is the data and hash block size.
	VerityBlockSize = 4096
	// VeritySaltHex is build-model's salt (17 bytes).
	VeritySaltHex = "00010203040506070809101a1b1c1d1e1f"
	// VerityUUID is build-model's hash-device UUID.
	VerityUUID = "645ac31f-7610-42e1-8434-9d733699eac0"
	// superblockSize is struct verity_sb of cryptsetup.
	superblockSize = 512
)

// VerityParams are the parameters of a dm-verity hash file in
// veritysetup's format version 1 with SHA-256 and a superblock.
type VerityParams struct {
	Salt []byte
	UUID [16]byte
}

// BuildModelVerity returns build-model's parameters.
func BuildModelVerity() VerityParams {
	salt, _ := hex.DecodeString(VeritySaltHex)
	var p VerityParams
	p.Salt = salt
	u, _ := hex.DecodeString(stripDashes(VerityUUID))
	copy(p.UUID[:], u)
	return p
}

func stripDashes(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte("-"), nil)) }

// verityLayout is where each level of the hash tree lies, in hash
// blocks from the start of the hash file; level 0 hashes the data.
type verityLayout struct {
	dataBlocks  int64
	levelStart  []int64
	levelBlocks []int64
	fileBlocks  int64 // superblock + all levels
}

const hashesPerBlock = VerityBlockSize / sha256.Size // 128
const hashPerBlockBits = 7

// layoutFor follows cryptsetup's VERITY_create_or_verify_hash: the
// levels are stacked top level first after the superblock block.
func layoutFor(dataBlocks int64) verityLayout {
	l := verityLayout{dataBlocks: dataBlocks}
	levels := 0
	for hashPerBlockBits*levels < 64 && (dataBlocks-1)>>(hashPerBlockBits*levels) != 0 {
		levels++
	}
	l.levelStart = make([]int64, levels)
	l.levelBlocks = make([]int64, levels)
	pos := int64(1) // block 0 holds the superblock
	for i := levels - 1; i >= 0; i-- {
		shift := uint((i + 1) * hashPerBlockBits)
		s := (dataBlocks + (int64(1) << shift) - 1) >> shift
		l.levelStart[i], l.levelBlocks[i] = pos, s
		pos += s
	}
	l.fileBlocks = pos
	return l
}

// VeritySize is the size of the hash file for a data size (a multiple
// of VerityBlockSize).
func VeritySize(dataSize int64) int64 {
	return layoutFor(dataSize/VerityBlockSize).fileBlocks * VerityBlockSize
}

// superblock encodes cryptsetup's struct verity_sb (little-endian).
func (p VerityParams) superblock(dataBlocks int64) []byte {
	b := make([]byte, superblockSize)
	copy(b[0:8], "verity\x00\x00")
	binary.LittleEndian.PutUint32(b[8:], 1)  // superblock version
	binary.LittleEndian.PutUint32(b[12:], 1) // hash type 1: normal (salt first)
	copy(b[16:32], p.UUID[:])
	copy(b[32:64], "sha256")
	binary.LittleEndian.PutUint32(b[64:], VerityBlockSize) // data block size
	binary.LittleEndian.PutUint32(b[68:], VerityBlockSize) // hash block size
	binary.LittleEndian.PutUint64(b[72:], uint64(dataBlocks))
	binary.LittleEndian.PutUint16(b[80:], uint16(len(p.Salt)))
	copy(b[88:88+256], p.Salt)
	return b
}

// BuildVerity reads size bytes of data (a whole number of 4096-byte
// blocks, at least one), writes the dm-verity hash file veritysetup
// format would write to out (from offset 0; out must be empty), and
// returns the root hash. It holds one hash block per level in memory.
func BuildVerity(data io.Reader, size int64, out *os.File, p VerityParams) ([32]byte, error) {
	var root [32]byte
	if size <= 0 || size%VerityBlockSize != 0 {
		return root, newError(ErrFormat, nil, fmt.Sprintf("the model archive is %d bytes, not a whole number of %d-byte blocks: build-model pads it, so this is not its output", size, VerityBlockSize))
	}
	if len(p.Salt) > 256 {
		return root, errors.New("verity salt over 256 bytes")
	}
	l := layoutFor(size / VerityBlockSize)
	if _, err := out.WriteAt(p.superblock(l.dataBlocks), 0); err != nil {
		return root, err
	}
	// The superblock's block is padded with zeros.
	if _, err := out.WriteAt(make([]byte, VerityBlockSize-superblockSize), superblockSize); err != nil {
		return root, err
	}
	hashBlock := func(b []byte) [32]byte {
		h := sha256.New()
		h.Write(p.Salt)
		h.Write(b)
		var d [32]byte
		copy(d[:], h.Sum(nil))
		return d
	}
	if len(l.levelStart) == 0 {
		// One data block: its hash is the root and the file is the
		// superblock alone.
		b := make([]byte, VerityBlockSize)
		if _, err := io.ReadFull(data, b); err != nil {
			return root, readErr(err)
		}
		return hashBlock(b), nil
	}
	// Level 0 hashes the data; level i hashes level i-1's blocks.
	for lvl := range l.levelStart {
		w := &levelWriter{f: out, off: l.levelStart[lvl] * VerityBlockSize}
		var src io.Reader = data
		n := l.dataBlocks
		if lvl > 0 {
			src = io.NewSectionReader(out, l.levelStart[lvl-1]*VerityBlockSize, l.levelBlocks[lvl-1]*VerityBlockSize)
			n = l.levelBlocks[lvl-1]
		}
		buf := make([]byte, 256*VerityBlockSize)
		for done := int64(0); done < n; {
			k := min(n-done, int64(len(buf)/VerityBlockSize))
			chunk := buf[:k*VerityBlockSize]
			if _, err := io.ReadFull(src, chunk); err != nil {
				return root, readErr(err)
			}
			for i := int64(0); i < k; i++ {
				d := hashBlock(chunk[i*VerityBlockSize : (i+1)*VerityBlockSize])
				if err := w.add(d[:]); err != nil {
					return root, err
				}
			}
			done += k
		}
		if err := w.flush(); err != nil {
			return root, err
		}
		if w.blocks != l.levelBlocks[lvl] {
			return root, fmt.Errorf("verity level %d: wrote %d blocks, want %d", lvl, w.blocks, l.levelBlocks[lvl])
		}
	}
	top := make([]byte, VerityBlockSize)
	if _, err := out.ReadAt(top, l.levelStart[len(l.levelStart)-1]*VerityBlockSize); err != nil {
		return root, err
	}
	return hashBlock(top), nil
}

func readErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return newError(ErrFormat, err, "the model archive ended before its size: it changed while being read; fetch it again")
	}
	return err
}

// levelWriter packs digests into zero-padded hash blocks.
type levelWriter struct {
	f      *os.File
	off    int64
	buf    []byte
	blocks int64
}

func (w *levelWriter) add(d []byte) error {
	w.buf = append(w.buf, d...)
	if len(w.buf) == VerityBlockSize*64 {
		return w.write()
	}
	return nil
}

func (w *levelWriter) write() error {
	if _, err := w.f.WriteAt(w.buf, w.off); err != nil {
		return err
	}
	w.off += int64(len(w.buf))
	w.blocks += int64(len(w.buf)) / VerityBlockSize
	w.buf = w.buf[:0]
	return nil
}

func (w *levelWriter) flush() error {
	if r := len(w.buf) % VerityBlockSize; r != 0 {
		w.buf = append(w.buf, make([]byte, VerityBlockSize-r)...)
	}
	if len(w.buf) == 0 {
		return nil
	}
	return w.write()
}

// ReadVerityHeader returns the UUID and data block count of a verity
// file's superblock, after checking it has build-model's parameters.
func ReadVerityHeader(f io.ReaderAt, p VerityParams) (uuid [16]byte, dataBlocks int64, err error) {
	b := make([]byte, superblockSize)
	if _, err := f.ReadAt(b, 0); err != nil {
		return uuid, 0, newError(ErrFormat, err, "the verity file is shorter than a superblock: it is not a dm-verity hash file; fetch it again or let it be built here")
	}
	copy(uuid[:], b[16:32])
	dataBlocks = int64(binary.LittleEndian.Uint64(b[72:]))
	want := p.superblock(dataBlocks)
	copy(want[16:32], uuid[:])
	if !bytes.Equal(b, want) {
		return uuid, 0, newError(ErrFormat, nil, "the verity file's superblock is not build-model's (veritysetup format version 1, sha256, 4096-byte blocks, its salt): it belongs to another archive or another build; fetch the right one or let it be built here")
	}
	return uuid, dataBlocks, nil
}
