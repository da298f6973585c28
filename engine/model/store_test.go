package model

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/internal/download"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

func allowOf(specs ...Spec) Allow {
	var a Allow
	for _, s := range specs {
		a.Hashes = append(a.Hashes, s.Hash())
	}
	return a
}

func TestFetchGood(t *testing.T) {
	srv := newFileServer(t)
	tm := makeModel(t, "Qwen/Qwen3-0.6B", 130, 1)
	u := srv.put("/Qwen_Qwen3_0_6B.tar", tm.tar)
	st := newTestStore(t, nil)
	stages := map[string][2]int64{}
	m, err := st.Fetch(context.Background(), tm.spec, Source{URL: u}, allowOf(tm.spec), func(stage string, d, tot int64) { stages[stage] = [2]int64{d, tot} })
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(tm.tar))
	if stages["download"] != [2]int64{n, n} || stages["verify"] != [2]int64{n, n} {
		t.Errorf("progress = %v", stages)
	}
	sum := sha256.Sum256(tm.tar)
	if m.Spec != tm.spec.String() || m.TarSize != n || m.TarSHA256 != hex.EncodeToString(sum[:]) || !m.VerityBuilt || !m.AllowChecked ||
		m.ModelHash != tm.spec.Hash().String() || m.Dir != filepath.Join(st.Dir(), "Qwen--Qwen3-0.6B@"+tm.spec.Commit) {
		t.Errorf("model = %+v", m)
	}
	for path, want := range map[string][]byte{m.TarPath(): tm.tar, m.VerityPath(): tm.verity, m.TarPath() + ".hash": []byte(tm.spec.VerityHash + "\n")} {
		if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s: %d bytes, %v", path, len(b), err)
		}
	}
	if filepath.Base(m.TarPath()) != "Qwen_Qwen3_0_6B.tar" || filepath.Base(m.VerityPath()) != "Qwen_Qwen3_0_6B.tar.verity" {
		t.Errorf("names %s %s", m.TarPath(), m.VerityPath())
	}
	// Again: nothing is fetched.
	before := len(srv.seen())
	if m2, err := st.Fetch(context.Background(), tm.spec, Source{URL: u}, allowOf(tm.spec), nil); err != nil || m2.Spec != m.Spec {
		t.Fatalf("again: %v", err)
	}
	if len(srv.seen()) != before {
		t.Errorf("fetched again: %v", srv.seen()[before:])
	}
	// Another build of the same name@commit is refused.
	other := tm.spec
	other.VerityHash = strings.Repeat("ab", 32)
	if _, err := st.Fetch(context.Background(), other, Source{URL: u}, Allow{Unchecked: true}, nil); !errors.Is(err, ErrExists) {
		t.Errorf("other build: %v", err)
	}
	list, err := st.List()
	if err != nil || len(list) != 1 || list[0].Spec != m.Spec || list[0].Dir != m.Dir {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if err := st.Verify(context.Background(), tm.spec, nil); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// A byte changed on disk is found.
	b, _ := os.ReadFile(m.TarPath())
	b[5000] ^= 1
	if err := os.WriteFile(m.TarPath(), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := st.Verify(context.Background(), tm.spec, nil); !errors.Is(err, ErrVerity) {
		t.Errorf("verify changed: %v", err)
	}
	if err := st.Remove(tm.spec.Name + "@" + tm.spec.Commit); err != nil {
		t.Fatal(err)
	}
	if list, _ := st.List(); len(list) != 0 {
		t.Errorf("after remove: %+v", list)
	}
	if err := st.Remove(tm.spec.String()); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove again: %v", err)
	}
	if err := st.Remove("../../etc@" + tm.spec.Commit); !errors.Is(err, ErrSpec) {
		t.Errorf("remove traversal: %v", err)
	}
}

func TestFetchWithVerityURLAndMirrors(t *testing.T) {
	srv := newFileServer(t)
	tm := makeModel(t, "org/m", 3, 2)
	srv.put("/m/org_m@"+tm.spec.Commit+".tar", tm.tar)
	vu := srv.put("/v/org_m.tar.verity", tm.verity)
	st := newTestStore(t, func(o *Options) {
		o.Mirrors = []string{srv.URL + "/missing/{path}.tar", srv.URL + "/m/{path}@{commit}.tar"}
	})
	sum := sha256.Sum256(tm.verity)
	m, err := st.Fetch(context.Background(), tm.spec, Source{VerityURL: vu, VeritySHA256: hex.EncodeToString(sum[:])}, allowOf(tm.spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.VerityBuilt || m.VerityURL != vu || !strings.HasSuffix(m.SourceURL, "/m/org_m@"+tm.spec.Commit+".tar") {
		t.Errorf("model = %+v", m)
	}
	// A verity file with another UUID is the same tree: accepted.
	tm2 := makeModel(t, "org/m2", 3, 3)
	v2 := bytes.Clone(tm2.verity)
	copy(v2[16:32], bytes.Repeat([]byte{0xee}, 16))
	st2 := newTestStore(t, nil)
	if _, err := st2.Fetch(context.Background(), tm2.spec, Source{URL: srv.put("/t2", tm2.tar), VerityURL: srv.put("/v2", v2)}, Allow{Unchecked: true}, nil); err != nil {
		t.Fatalf("other uuid: %v", err)
	}
	// No address and no mirror.
	if _, err := newTestStore(t, nil).Fetch(context.Background(), tm.spec, Source{}, allowOf(tm.spec), nil); !errors.Is(err, ErrSource) {
		t.Errorf("no address: %v", err)
	}
}

// badModel is one way a fetched model can be wrong.
type badModel struct {
	name  string
	spec  Spec
	tar   []byte
	src   Source // URLs filled in by the test
	allow Allow
	kind  error
	// verity, when set, is served as the verity file.
	verity []byte
	free   int64 // >0: the pretend free disk space
}

func badModels(t *testing.T, good testModel) []badModel {
	n := len(good.tar)
	allowed := allowOf(good.spec)
	var out []badModel
	add := func(b badModel) {
		if b.spec.Name == "" {
			b.spec = good.spec
		}
		if b.allow.Hashes == nil && !b.allow.Unchecked {
			b.allow = allowed
		}
		out = append(out, b)
	}
	for _, pos := range []int{0, 1, 4095, 4096, n / 2, n - 4096, n - 1} {
		b := bytes.Clone(good.tar)
		b[pos] ^= 0x01
		add(badModel{name: "flip byte " + strconv.Itoa(pos), tar: b, kind: ErrVerity})
	}
	for _, keep := range []int{4096, n / 2, n - 4096} {
		add(badModel{name: "truncated to " + strconv.Itoa(keep), tar: bytes.Clone(good.tar[:keep]), kind: ErrVerity})
	}
	for _, keep := range []int{0, 1, n - 1} {
		add(badModel{name: "truncated unaligned " + strconv.Itoa(keep), tar: bytes.Clone(good.tar[:keep]), kind: ErrFormat})
	}
	add(badModel{name: "4096 bytes appended", tar: append(bytes.Clone(good.tar), make([]byte, 4096)...), kind: ErrVerity})
	add(badModel{name: "1 byte appended", tar: append(bytes.Clone(good.tar), 0), kind: ErrFormat})
	other := makeModel(t, good.spec.Name, 5, 9)
	add(badModel{name: "another model's archive", tar: other.tar, kind: ErrVerity})
	add(badModel{name: "wrong sha256", tar: good.tar, src: Source{SHA256: hex.EncodeToString(make([]byte, 32))}, kind: ErrChecksum})
	add(badModel{name: "wrong size", tar: good.tar, src: Source{Size: int64(n) + 4096}, kind: ErrSource})
	add(badModel{name: "right sha256, wrong content for the verity", tar: other.tar, src: Source{SHA256: hex.EncodeToString(sha256.New().Sum(nil))}, kind: ErrChecksum})
	wrongV := bytes.Clone(good.verity)
	wrongV[len(wrongV)-1] ^= 1
	add(badModel{name: "wrong verity file", tar: good.tar, verity: wrongV, kind: ErrVerity})
	add(badModel{name: "verity file of another model", tar: good.tar, verity: other.verity, kind: ErrVerity})
	add(badModel{name: "verity file truncated", tar: good.tar, verity: good.verity[:4096], kind: ErrVerity})
	add(badModel{name: "verity file not verity", tar: good.tar, verity: []byte("<html>404</html>"), kind: ErrFormat})
	add(badModel{name: "verity file too large", tar: good.tar, verity: append(bytes.Clone(good.verity), make([]byte, 4096)...), kind: ErrDownload})
	badSalt := bytes.Clone(good.verity)
	badSalt[88] ^= 1
	add(badModel{name: "verity superblock salt", tar: good.tar, verity: badSalt, kind: ErrFormat})
	add(badModel{name: "not on the allow-list", tar: good.tar, allow: allowOf(other.spec), kind: ErrNotAllowed})
	add(badModel{name: "empty allow-list", tar: good.tar, allow: Allow{Hashes: []wallet.Hash{}}, kind: ErrAllowListUnknown})
	cased := good.spec
	cased.VerityHash = strings.ToUpper(cased.VerityHash)
	add(badModel{name: "upper-case verity hash", spec: cased, tar: good.tar, allow: Allow{Unchecked: true}, kind: ErrSpec})
	traversal := good.spec
	traversal.Name = "../../x"
	add(badModel{name: "path traversal", spec: traversal, tar: good.tar, allow: Allow{Unchecked: true}, kind: ErrSpec})
	add(badModel{name: "disk full", tar: good.tar, free: int64(n) / 2, kind: ErrDiskSpace})
	add(badModel{name: "no room for the verity file", tar: good.tar, free: int64(n) + 100, kind: ErrDiskSpace})
	add(badModel{name: "not found", kind: ErrDownload})
	return out
}

func TestFetchRefused(t *testing.T) {
	srv := newFileServer(t)
	good := makeModel(t, "Qwen/Qwen3-0.6B", 200, 4)
	for i, bc := range badModels(t, good) {
		t.Run(bc.name, func(t *testing.T) {
			st := newTestStore(t, func(o *Options) {
				if bc.free > 0 {
					o.FreeSpace = func(string) (int64, error) { return bc.free, nil }
				}
			})
			src := bc.src
			src.URL = srv.URL + "/none"
			if bc.tar != nil {
				src.URL = srv.put("/bad/"+strconv.Itoa(i)+".tar", bc.tar)
			}
			if bc.verity != nil {
				src.VerityURL = srv.put("/bad/"+strconv.Itoa(i)+".verity", bc.verity)
			}
			before := len(srv.seen())
			_, err := st.Fetch(context.Background(), bc.spec, src, bc.allow, nil)
			if !errors.Is(err, bc.kind) {
				t.Fatalf("err = %v, want %v", err, bc.kind)
			}
			t.Log(err)
			if errors.Is(err, ErrNotAllowed) || errors.Is(err, ErrSpec) || errors.Is(err, ErrAllowListUnknown) || errors.Is(err, ErrDiskSpace) {
				for _, r := range srv.seen()[before:] {
					if strings.HasPrefix(r, "GET") {
						t.Errorf("downloaded before refusing: %s", r)
					}
				}
			}
			if list, _ := st.List(); len(list) != 0 {
				t.Errorf("stored: %+v", list)
			}
		})
	}
}

func TestFetchResume(t *testing.T) {
	srv := newFileServer(t)
	tm := makeModel(t, "org/big", 64, 5)
	u := srv.put("/big.tar", tm.tar)
	half := int64(len(tm.tar) / 2)
	srv.dropAfter, srv.dropN = half, 1
	st := newTestStore(t, nil)
	_, err := st.Fetch(context.Background(), tm.spec, Source{URL: u}, allowOf(tm.spec), nil)
	if !errors.Is(err, ErrDownload) || !errors.Is(err, download.ErrIncomplete) || !strings.Contains(err.Error(), "fetch again to resume") {
		t.Fatalf("first: %v", err)
	}
	part := filepath.Join(st.Dir(), downloadsDir, tm.spec.DirName(), tm.spec.PathName()+".tar"+download.PartSuffix)
	if fi, err := os.Stat(part); err != nil || fi.Size() != half {
		t.Fatalf("part: %v %v", fi, err)
	}
	first := int64(-1)
	m, err := st.Fetch(context.Background(), tm.spec, Source{URL: u}, allowOf(tm.spec), func(stage string, d, _ int64) {
		if stage == "download" && first < 0 {
			first = d
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if first != half || m.TarSize != int64(len(tm.tar)) {
		t.Errorf("resumed from %d, want %d", first, half)
	}
	var gets []string
	for _, r := range srv.seen() {
		if strings.HasPrefix(r, "GET") {
			gets = append(gets, r)
		}
	}
	if len(gets) != 2 || gets[1] != "GET /big.tar bytes="+strconv.FormatInt(half, 10)+"-" {
		t.Errorf("requests = %q", gets)
	}
	if ents, _ := os.ReadDir(filepath.Join(st.Dir(), downloadsDir)); len(ents) != 0 {
		t.Errorf("staging left: %v", ents)
	}
}
