package devmode

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
)

func sampleEntries() []initramfsEntry {
	return []initramfsEntry{
		fileEntry("init", 0o755, []byte("#!agent")),
		fileEntry("lib/modules/virtio_net.ko", 0o644, []byte("module bytes, 21 long")),
		charDevEntry("dev/console", 0o600, 5, 1),
		dirEntry("proc"),
		fileEntry("etc/empty", 0o644, nil),
	}
}

func archive(t *testing.T, entries []initramfsEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := writeInitramfs(&b, entries); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestInitramfsReproducible(t *testing.T) {
	a := archive(t, sampleEntries())
	b := archive(t, sampleEntries())
	if !bytes.Equal(a, b) {
		t.Fatal("two writes of the same entries differ")
	}
	// Input order does not matter.
	rev := sampleEntries()
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	if c := archive(t, rev); !bytes.Equal(a, c) {
		t.Fatal("entry order changes the archive")
	}
	// Content does.
	changed := sampleEntries()
	changed[0].Data = []byte("#!agent2")
	if sha256.Sum256(archive(t, changed)) == sha256.Sum256(a) {
		t.Fatal("different content, same archive")
	}
	// gzip header: no name, no comment, MTIME 0.
	zr, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || zr.Comment != "" || !zr.ModTime.IsZero() || a[3]&0x18 != 0 || !bytes.Equal(a[4:8], []byte{0, 0, 0, 0}) {
		t.Errorf("gzip header carries name/time: %x", a[:10])
	}
}

func TestInitramfsReadsBack(t *testing.T) {
	zr, err := gzip.NewReader(bytes.NewReader(archive(t, sampleEntries())))
	if err != nil {
		t.Fatal(err)
	}
	r := cpio.NewReader(zr)
	type got struct {
		mode cpio.FileMode
		data string
	}
	var names []string
	files := map[string]got{}
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		if h.Uid != 0 || h.Guid != 0 || h.ModTime.Unix() != 0 {
			t.Errorf("%s: uid %d gid %d mtime %v", h.Name, h.Uid, h.Guid, h.ModTime)
		}
		names = append(names, h.Name)
		files[h.Name] = got{h.Mode, string(data)}
	}
	// Parents added, everything sorted.
	want := "dev dev/console etc etc/empty init lib lib/modules lib/modules/virtio_net.ko proc"
	if strings.Join(names, " ") != want {
		t.Errorf("entries %v, want %s", names, want)
	}
	checks := map[string]got{
		"init":                      {cpio.TypeReg | 0o755, "#!agent"},
		"lib/modules/virtio_net.ko": {cpio.TypeReg | 0o644, "module bytes, 21 long"},
		"dev/console":               {cpio.TypeChar | 0o600, ""},
		"lib":                       {cpio.TypeDir | 0o755, ""},
		"etc/empty":                 {cpio.TypeReg | 0o644, ""},
	}
	for name, w := range checks {
		if g := files[name]; g != w {
			t.Errorf("%s: mode %o data %q, want mode %o data %q", name, g.mode, g.data, w.mode, w.data)
		}
	}
}

func TestInitramfsDeviceNumbers(t *testing.T) {
	// cavaliergopher/cpio does not report rdev; read the header fields.
	var raw bytes.Buffer
	if err := writeNewc(&raw, 1, charDevEntry("dev/null", 0o666, 1, 3)); err != nil {
		t.Fatal(err)
	}
	h := raw.String()
	field := func(i int) string { return h[6+8*i : 6+8*i+8] }
	if h[:6] != "070701" || field(1) != "000021B6" || field(9) != "00000001" || field(10) != "00000003" {
		t.Errorf("header %q: mode %s rdev %s:%s", h[:110], field(1), field(9), field(10))
	}
	if raw.Len()%4 != 0 {
		t.Errorf("entry is %d bytes, not 4-aligned", raw.Len())
	}
}

func TestInitramfsRejects(t *testing.T) {
	tests := []struct {
		name    string
		entries []initramfsEntry
		want    string
	}{
		{"duplicate", []initramfsEntry{dirEntry("a"), dirEntry("/a")}, "twice"},
		{"escape", []initramfsEntry{fileEntry("../x", 0o644, nil)}, "inside the archive"},
		{"file as parent", []initramfsEntry{fileEntry("a", 0o644, nil), fileEntry("a/b", 0o644, nil)}, "lies under it"},
		{"device with data", []initramfsEntry{{Name: "d", Mode: cpioChar | 0o600, Data: []byte("x")}}, "only regular files"},
		{"symlink", []initramfsEntry{{Name: "l", Mode: 0o120777}}, "unsupported file type"},
	}
	for _, tt := range tests {
		err := writeInitramfs(io.Discard, tt.entries)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}
