package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/cocoon-provider/cocoon-provider/attest"
)

func TestFetchGood(t *testing.T) {
	s := newArchiveServer(t)
	m := newTestManager(t, nil)
	b := tarGz(t, releaseEntries("abc123"))
	u := s.put("/r.tar.gz", b)
	var last [2]int64
	r, err := m.Fetch(context.Background(), Source{URL: u, SHA256: strings.ToUpper(sumHex(b))}, func(done, total int64) { last = [2]int64{done, total} })
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != "abc123" || r.SHA256 != sumHex(b) || r.Size != int64(len(b)) || r.SourceURL != u || r.FetchedAt.IsZero() {
		t.Errorf("release = %+v", r)
	}
	if last != [2]int64{int64(len(b)), int64(len(b))} {
		t.Errorf("last progress = %v, want %d of %d", last, len(b), len(b))
	}
	fi, err := os.Stat(filepath.Join(m.Dir(), "abc123", "scripts", "cocoon-launch"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("launcher: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(m.Dir(), "abc123.json")); err != nil {
		t.Fatal(err)
	}
	ms := r.Measured
	if ms.RootHash != testRootHash || ms.KernelSHA256 != sumHex([]byte("kernel abc123")) || ms.OVMFPinned || ms.OVMFSHA256 == "" {
		t.Errorf("measured = %+v", ms)
	}
	// The spec tree is that of spec-worker with global.config.json added.
	dir := t.TempDir()
	for name, body := range map[string]string{".gitignore": "runtime\n", "worker-config.json": `{"tag":"abc123"}`,
		"model.verity_hash": "$MODEL_VERITY_HASH\n", "global.config.json": `{"dht":{}}`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "init"), []byte("#!/bin/sh\necho init\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tree, err := attest.SpecTree(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if ms.SpecTree != hex.EncodeToString(tree[:]) || ms.SpecTreeError != "" {
		t.Errorf("spec tree = %s (%s), want %x", ms.SpecTree, ms.SpecTreeError, tree)
	}
	if r3 := attest.ExpectedRTMR3(tree, false); ms.RTMR3 != hex.EncodeToString(r3[:]) {
		t.Errorf("rtmr3 = %s", ms.RTMR3)
	}
	list, err := m.List()
	if err != nil || len(list) != 1 || list[0].Version != "abc123" || list[0].Path != filepath.Join(m.Dir(), "abc123") {
		t.Fatalf("list = %+v, %v", list, err)
	}
	// Fetching it again is a no-op; another archive under its version is not.
	if r2, err := m.Fetch(context.Background(), Source{URL: u, SHA256: sumHex(b), Version: "abc123"}, nil); err != nil || r2.SHA256 != r.SHA256 {
		t.Fatalf("refetch: %v", err)
	}
	other := tarGz(t, releaseEntries("zzz"))
	if _, err := m.Fetch(context.Background(), Source{URL: s.put("/o.tar.gz", other), SHA256: sumHex(other), Version: "abc123"}, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("other archive, same version: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(m.Dir(), downloadsDir)); len(ents) != 0 {
		t.Errorf("downloads left: %v", ents)
	}
	if _, err := m.Current(); !errors.Is(err, ErrNoCurrent) {
		t.Errorf("current before activation: %v", err)
	}
}

func TestFetchRefused(t *testing.T) {
	s := newArchiveServer(t)
	good := tarGz(t, releaseEntries("v1"))
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)/2] ^= 0x40
	cases := []struct {
		name string
		body []byte
		sum  string
		kind error
	}{
		{"corrupted byte", corrupt, sumHex(good), ErrChecksum},
		{"truncated", good[:len(good)-10], sumHex(good), ErrChecksum},
		{"wrong hash", good, sumHex([]byte("something else")), ErrChecksum},
		{"missing hash", good, "", ErrSource},
		{"bad hash", good, "xyz", ErrSource},
		{"xz", append([]byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 0}, good...), "", ErrFormat},
		{"not an archive", []byte("<html>not found</html>"), "", ErrFormat},
		{"no launcher", tarGz(t, []entry{file("release-x/README.md", "hi")}), "", ErrLayout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newTestManager(t, nil)
			sum := c.sum
			if sum == "" && c.kind != ErrSource {
				sum = sumHex(c.body)
			}
			_, err := m.Fetch(context.Background(), Source{URL: s.put("/"+c.name, c.body), SHA256: sum}, nil)
			if !errors.Is(err, c.kind) {
				t.Fatalf("err = %v, want %v", err, c.kind)
			}
			t.Log(err)
			if list, _ := m.List(); len(list) != 0 {
				t.Errorf("installed: %+v", list)
			}
			assertNoLeftovers(t, m)
		})
	}
	t.Run("not found", func(t *testing.T) {
		m := newTestManager(t, nil)
		_, err := m.Fetch(context.Background(), Source{URL: s.URL + "/nothing", SHA256: sumHex(good)}, nil)
		if !errors.Is(err, ErrHTTPStatus) || !strings.Contains(err.Error(), "404") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("file url", func(t *testing.T) {
		m := newTestManager(t, nil)
		if _, err := m.Fetch(context.Background(), Source{URL: "file:///etc/passwd", SHA256: sumHex(good)}, nil); !errors.Is(err, ErrSource) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("size limit", func(t *testing.T) {
		m := newTestManager(t, func(o *Options) { o.MaxArchiveSize = 100 })
		_, err := m.Fetch(context.Background(), Source{URL: s.put("/big", good), SHA256: sumHex(good)}, nil)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("disk space", func(t *testing.T) {
		m := newTestManager(t, func(o *Options) { o.FreeSpace = func(string) (int64, error) { return 10, nil } })
		_, err := m.Fetch(context.Background(), Source{URL: s.put("/full", good), SHA256: sumHex(good)}, nil)
		if !errors.Is(err, ErrDiskSpace) {
			t.Fatalf("err = %v", err)
		}
		containsAll(t, err.Error(), "free some disk space")
	})
}

// assertNoLeftovers checks a refused fetch left no release, staging
// folder or (for a wrong archive) partial download.
func assertNoLeftovers(t *testing.T, m *Manager) {
	t.Helper()
	ents, _ := os.ReadDir(m.Dir())
	for _, e := range ents {
		switch {
		case e.Name() == downloadsDir || e.Name() == stateFile:
		default:
			t.Errorf("left in the release directory: %s", e.Name())
		}
	}
	parts, _ := os.ReadDir(filepath.Join(m.Dir(), downloadsDir))
	if len(parts) != 0 {
		t.Errorf("partial downloads left: %v", parts)
	}
}

func TestFetchResumeAfterDrop(t *testing.T) {
	s := newArchiveServer(t)
	b := tarGz(t, releaseEntries("resume"))
	u := s.put("/r.tar.gz", b)
	half := int64(len(b) / 2)
	s.dropAfter, s.dropN = half, 1

	m := newTestManager(t, nil) // one attempt a Fetch
	_, err := m.Fetch(context.Background(), Source{URL: u, SHA256: sumHex(b)}, nil)
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("first fetch: %v", err)
	}
	containsAll(t, err.Error(), "fetch again to resume")
	part := filepath.Join(m.Dir(), downloadsDir, sumHex(b)+partSuffix)
	if fi, err := os.Stat(part); err != nil || fi.Size() != half {
		t.Fatalf("part file: %v %v, want %d bytes", fi, err, half)
	}
	var first int64 = -1
	r, err := m.Fetch(context.Background(), Source{URL: u, SHA256: sumHex(b)}, func(done, total int64) {
		if first < 0 {
			first = done
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != "resume" || first != half {
		t.Errorf("version %s, progress started at %d, want %d", r.Version, first, half)
	}
	ranges := s.seenRanges()
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != "bytes="+strconv.FormatInt(half, 10)+"-" {
		t.Errorf("ranges = %q", ranges)
	}

	// Within one Fetch, with attempts to spare.
	s2 := newArchiveServer(t)
	u2 := s2.put("/r.tar.gz", b)
	s2.dropAfter, s2.dropN = 100, 2
	m2 := newTestManager(t, func(o *Options) { o.Attempts = 3 })
	if _, err := m2.Fetch(context.Background(), Source{URL: u2, SHA256: sumHex(b)}, nil); err != nil {
		t.Fatal(err)
	}
	if got := s2.seenRanges(); len(got) != 3 || got[1] != "bytes=100-" || got[2] != "bytes=100-" {
		t.Errorf("ranges = %q", got)
	}
}

func TestFetchServerIgnoresRange(t *testing.T) {
	s := newArchiveServer(t)
	b := tarGz(t, releaseEntries("ign"))
	u := s.put("/r.tar.gz", b)
	s.ignoreRange = true
	m := newTestManager(t, nil)
	// A stale partial download with the wrong bytes.
	dl := filepath.Join(m.Dir(), downloadsDir)
	if err := os.MkdirAll(dl, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dl, sumHex(b)+partSuffix), []byte(strings.Repeat("x", len(b)/3)), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := m.Fetch(context.Background(), Source{URL: u, SHA256: sumHex(b)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != "ign" {
		t.Errorf("version %s", r.Version)
	}
	if got := s.seenRanges(); len(got) != 1 || !strings.HasPrefix(got[0], "bytes=") {
		t.Errorf("ranges = %q", got)
	}
}

// unsafeArchives are archives whose SHA-256 is right but whose contents
// must not be unpacked.
func unsafeArchives() map[string][]entry {
	base := releaseEntries("evil")
	with := func(extra ...entry) []entry { return append(append([]entry(nil), base...), extra...) }
	return map[string][]entry{
		"dotdot":            with(file("release-evil/../../escape.txt", "x")),
		"dotdot inner":      with(file("release-evil/a/../../../escape.txt", "x")),
		"absolute":          with(file("/tmp/escape.txt", "x")),
		"drive":             with(file("C:/escape.txt", "x")),
		"backslash":         with(file(`release-evil\..\..\escape`, "x")),
		"symlink absolute":  with(entry{name: "release-evil/etc", typ: tar.TypeSymlink, link: "/etc"}),
		"symlink dotdot":    with(entry{name: "release-evil/up", typ: tar.TypeSymlink, link: "../../.."}),
		"symlink then file": with(entry{name: "release-evil/d", typ: tar.TypeSymlink, link: "scripts"}, file("release-evil/d/x", "x")),
		"symlink chain": with(entry{name: "release-evil/s/l2", typ: tar.TypeSymlink, link: ".."},
			entry{name: "release-evil/l1", typ: tar.TypeSymlink, link: "s/l2/../escape"}),
		"symlink to top":   with(entry{name: "release-evil/releases", typ: tar.TypeSymlink, link: ".."}),
		"symlink dangling": with(entry{name: "release-evil/nowhere", typ: tar.TypeSymlink, link: "missing/file"}),
		"hardlink outside": with(entry{name: "release-evil/passwd", typ: tar.TypeLink, link: "/etc/passwd"}),
		"hardlink dotdot":  with(entry{name: "release-evil/h", typ: tar.TypeLink, link: "../x"}),
		"hardlink unknown": with(entry{name: "release-evil/h", typ: tar.TypeLink, link: "release-evil/not-there"}),
		"char device":      with(entry{name: "release-evil/null", typ: tar.TypeChar}),
		"block device":     with(entry{name: "release-evil/sda", typ: tar.TypeBlock}),
		"fifo":             with(entry{name: "release-evil/fifo", typ: tar.TypeFifo}),
		"duplicate":        with(file("release-evil/README.md", "again")),
		"oversize":         with(file("release-evil/images/prod/image.img", strings.Repeat("\x00", 1<<20+1))),
	}
}

func TestUnsafeArchives(t *testing.T) {
	s := newArchiveServer(t)
	for name, ents := range unsafeArchives() {
		t.Run(name, func(t *testing.T) {
			m := newTestManager(t, func(o *Options) { o.MaxUnpackedSize = 1 << 20 })
			b := tarGz(t, ents)
			_, err := m.Fetch(context.Background(), Source{URL: s.put("/"+name, b), SHA256: sumHex(b)}, nil)
			if !errors.Is(err, ErrUnsafe) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want an unsafe or too-large refusal", err)
			}
			t.Log(err)
			assertNoLeftovers(t, m)
			if _, err := os.Lstat(filepath.Join(filepath.Dir(m.Dir()), "escape.txt")); err == nil {
				t.Error("a file was written outside the release directory")
			}
		})
	}
	t.Run("too many files", func(t *testing.T) {
		m := newTestManager(t, func(o *Options) { o.MaxFiles = 5 })
		b := tarGz(t, releaseEntries("many"))
		if _, err := m.Fetch(context.Background(), Source{URL: s.put("/many", b), SHA256: sumHex(b)}, nil); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("symlink inside is fine", func(t *testing.T) {
		m := newTestManager(t, nil)
		b := tarGz(t, append(releaseEntries("ok"), entry{name: "release-ok/bin/launch", typ: tar.TypeSymlink, link: "../scripts/cocoon-launch"},
			entry{name: "release-ok/bin/hc", typ: tar.TypeLink, link: "release-ok/bin/health-client"}))
		if _, err := m.Fetch(context.Background(), Source{URL: s.put("/ok", b), SHA256: sumHex(b)}, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func testBase(seed byte) attest.Measurements {
	var b attest.Measurements
	for i := range b.MRTD {
		b.MRTD[i] = seed
		b.RTMR[0][i], b.RTMR[1][i], b.RTMR[2][i] = seed+1, seed+2, seed+3
	}
	return b
}

func TestCheckAllowed(t *testing.T) {
	s := newArchiveServer(t)
	m := newTestManager(t, nil)
	r := fetchGood(t, m, s, "v1")

	// Without base measurements the hash is unknown, and Activate refuses.
	_, err := m.CheckAllowed(r, [][32]byte{{1}})
	if !errors.Is(err, ErrImageHashUnknown) {
		t.Fatalf("no base: %v", err)
	}
	containsAll(t, err.Error(), "MRTD and RTMR0–2 are not known", r.Measured.SpecTree)
	if err := m.Activate("v1"); !errors.Is(err, ErrUnchecked) {
		t.Fatalf("activate unchecked: %v", err)
	}

	base := testBase(7)
	r, err = m.SetBase("v1", base)
	if err != nil {
		t.Fatal(err)
	}
	tree, _ := hex.DecodeString(r.Measured.SpecTree)
	want := attest.PredictImageHash(base, [32]byte(tree), false)
	if r.Measured.ImageHash != hex.EncodeToString(want[:]) {
		t.Fatalf("image hash %s, want %x", r.Measured.ImageHash, want)
	}
	other := [32]byte{0xaa}
	_, err = m.CheckAllowed(r, [][32]byte{other})
	if !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("not on list: %v", err)
	}
	containsAll(t, err.Error(), hex.EncodeToString(want[:]), "not among the 1 the network allows")
	if _, err := m.CheckAllowed(r, nil); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("empty list: %v", err)
	}
	if err := m.Activate("v1"); !errors.Is(err, ErrUnchecked) {
		t.Fatalf("activate refused release: %v", err)
	}
	r, err = m.CheckAllowed(r, [][32]byte{other, want})
	if err != nil {
		t.Fatal(err)
	}
	if r.Allowed == nil || r.Allowed.ImageHash != hex.EncodeToString(want[:]) || r.Allowed.ListSize != 2 {
		t.Fatalf("allowance = %+v", r.Allowed)
	}
	if err := m.Activate("v1"); err != nil {
		t.Fatal(err)
	}
	cur, err := m.Current()
	if err != nil || cur.Version != "v1" {
		t.Fatalf("current = %+v, %v", cur, err)
	}
	// A later refusal withdraws the verdict.
	if _, err := m.CheckAllowed(r, [][32]byte{other}); !errors.Is(err, ErrNotAllowed) {
		t.Fatal(err)
	}
	if g, _ := m.Get("v1"); g.Allowed != nil {
		t.Error("verdict kept after a refusal")
	}

	// Base measurements shipped in the release (measurements.json).
	b := tarGz(t, append(releaseEntries("v2"), file("release-v2/measurements.json",
		`{"mrtd":"`+strings.Repeat("07", 48)+`","rtmr0":"`+strings.Repeat("08", 48)+`","rtmr1":"`+strings.Repeat("09", 48)+`","rtmr2":"`+strings.Repeat("0a", 48)+`"}`)))
	r2, err := m.Fetch(context.Background(), Source{URL: s.put("/v2", b), SHA256: sumHex(b)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Measured.BaseFrom != measurementsDoc || r2.Measured.ImageHash == "" {
		t.Fatalf("measured = %+v", r2.Measured)
	}
	h2, _ := r2.ImageHash()
	if _, err := m.CheckAllowed(r2, [][32]byte{h2}); err != nil {
		t.Fatal(err)
	}
	// The dev/test override.
	r3 := fetchGood(t, m, s, "v3")
	if err := m.ActivateUnchecked(r3.Version); err != nil {
		t.Fatal(err)
	}
}

func TestRollbackAndPrune(t *testing.T) {
	s := newArchiveServer(t)
	c := newClock()
	m := newTestManager(t, func(o *Options) { o.Now = c.Now })
	if _, err := m.Rollback(); !errors.Is(err, ErrNoPrevious) {
		t.Fatalf("rollback with nothing: %v", err)
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		fetchGood(t, m, s, v)
		if err := m.ActivateUnchecked(v); err != nil {
			t.Fatal(err)
		}
	}
	// v1 was pruned when v3 became current.
	versions := func() []string {
		list, err := m.List()
		if err != nil {
			t.Fatal(err)
		}
		var vs []string
		for _, r := range list {
			vs = append(vs, r.Version)
		}
		return vs
	}
	if got := strings.Join(versions(), ","); got != "v3,v2" {
		t.Fatalf("releases = %s, want v3,v2", got)
	}
	if _, err := os.Stat(filepath.Join(m.Dir(), "v1")); !os.IsNotExist(err) {
		t.Errorf("v1 still on disk: %v", err)
	}
	prev, err := m.Rollback()
	if err != nil || prev.Version != "v2" {
		t.Fatalf("rollback = %+v, %v", prev, err)
	}
	if cur, _ := m.Current(); cur.Version != "v2" {
		t.Fatalf("current %s", cur.Version)
	}
	if p, _ := m.Previous(); p.Version != "v3" {
		t.Fatalf("previous %s", p.Version)
	}
	// Rolling back again undoes it.
	if r, err := m.Rollback(); err != nil || r.Version != "v3" {
		t.Fatalf("second rollback = %+v, %v", r, err)
	}
	// Releases fetched after the current one are kept for activation.
	fetchGood(t, m, s, "v4")
	fetchGood(t, m, s, "v5")
	if got := strings.Join(versions(), ","); got != "v5,v4,v3,v2" {
		t.Fatalf("releases = %s, want v5,v4,v3,v2", got)
	}
	if removed, err := m.Prune(); err != nil || len(removed) != 0 {
		t.Fatalf("prune = %v, %v", removed, err)
	}
	// A directory left without a record is swept.
	if err := os.Mkdir(filepath.Join(m.Dir(), "half"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Prune(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(m.Dir(), "half")); !os.IsNotExist(err) {
		t.Errorf("leftover kept: %v", err)
	}
	if err := m.Activate("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("activate unknown: %v", err)
	}
	if err := m.Activate("../x"); !errors.Is(err, ErrSource) {
		t.Fatalf("activate bad name: %v", err)
	}
}

func TestSignature(t *testing.T) {
	s := newArchiveServer(t)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	verifier := VerifierFunc(func(_ *os.File, digest [32]byte, sig []byte) error {
		if !ed25519.Verify(pub, digest[:], sig) {
			return errors.New("Ed25519 signature mismatch")
		}
		return nil
	})
	b := tarGz(t, releaseEntries("sig"))
	d := [32]byte(mustHex(t, sumHex(b)))
	good := ed25519.Sign(priv, d[:])
	bad := append([]byte(nil), good...)
	bad[3] ^= 1
	u := s.put("/sig.tar.gz", b)
	s.put("/sig.tar.gz.sig", good)

	m := newTestManager(t, func(o *Options) { o.Verifier = verifier })
	if _, err := m.Fetch(context.Background(), Source{URL: u, SHA256: sumHex(b), Signature: bad}, nil); !errors.Is(err, ErrSignature) {
		t.Fatalf("bad signature: %v", err)
	}
	r, err := m.Fetch(context.Background(), Source{URL: u, SHA256: sumHex(b), SignatureURL: u + ".sig"}, nil)
	if err != nil || !r.SignatureVerified {
		t.Fatalf("good signature: %+v %v", r, err)
	}
	noVerifier := newTestManager(t, nil)
	if _, err := noVerifier.Fetch(context.Background(), Source{URL: u, SHA256: sumHex(b), Signature: good}, nil); !errors.Is(err, ErrSignature) {
		t.Fatalf("no verifier: %v", err)
	}
	required := newTestManager(t, func(o *Options) { o.Verifier, o.RequireSignature = verifier, true })
	if _, err := required.Fetch(context.Background(), Source{URL: u, SHA256: sumHex(b)}, nil); !errors.Is(err, ErrSignature) {
		t.Fatalf("unsigned, signature required: %v", err)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidVersion(t *testing.T) {
	for v, want := range map[string]bool{"0.9.1": true, "abc123": true, "v1+build_2": true, "": false, ".hidden": false,
		"a/b": false, "..": false, "a..b": false, "x.json": false, "x.part": false, strings.Repeat("a", 129): false} {
		if got := ValidVersion(v); got != want {
			t.Errorf("ValidVersion(%q) = %v", v, got)
		}
	}
}

// TestFetchTarXZ: the official archive's form, a tar compressed with xz,
// unpacks to the same files as the .tar.gz of the same release.
func TestFetchTarXZ(t *testing.T) {
	gz := tarGz(t, releaseEntries("xz1"))
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	tarBytes, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	xw, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := xw.Write(tarBytes); err != nil {
		t.Fatal(err)
	}
	if err := xw.Close(); err != nil {
		t.Fatal(err)
	}
	s := newArchiveServer(t)
	m := newTestManager(t, nil)
	u := s.put("/xz1.tar.xz", buf.Bytes())
	r, err := m.Fetch(context.Background(), Source{URL: u, SHA256: sumHex(buf.Bytes())}, nil)
	if err != nil {
		t.Fatalf("fetch .tar.xz: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.Path, "scripts", "cocoon-launch")); err != nil {
		t.Errorf("the launcher is not there: %v", err)
	}
	// A damaged xz stream is refused as damaged.
	bad := append([]byte(nil), buf.Bytes()...)
	bad[len(bad)/2] ^= 0xff
	u = s.put("/xz2.tar.xz", bad)
	if _, err := m.Fetch(context.Background(), Source{URL: u, SHA256: sumHex(bad)}, nil); !errors.Is(err, ErrFormat) {
		t.Errorf("damaged xz: %v, want ErrFormat", err)
	}
}
