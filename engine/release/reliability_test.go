package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// badRelease is one way a fetched release can be wrong.
type badRelease struct {
	name string
	body []byte
	sum  string // the SHA-256 the Source gives
	sig  []byte // a detached signature, when set
}

// badReleases builds the corruption variants: each kind of damage at
// several positions and sizes, and archives whose SHA-256 is right but
// whose contents must be refused.
func badReleases(t *testing.T) []badRelease {
	good := tarGz(t, releaseEntries("next"))
	goodSum := sumHex(good)
	n := len(good)
	var out []badRelease
	add := func(name string, body []byte, sum string) {
		out = append(out, badRelease{name: name, body: body, sum: sum})
	}
	for _, pos := range []int{0, 1, 9, 10, n / 4, n / 2, 3 * n / 4, n - 9, n - 1} {
		b := bytes.Clone(good)
		b[pos] ^= 0x01
		add(fmt.Sprintf("flip byte %d", pos), b, goodSum)
	}
	for _, keep := range []int{0, 1, 10, n / 3, n / 2, n - 8, n - 1} {
		add(fmt.Sprintf("truncated to %d", keep), bytes.Clone(good[:keep]), goodSum)
	}
	for _, extra := range []int{1, 512, 4096} {
		add(fmt.Sprintf("%d bytes appended", extra), append(bytes.Clone(good), make([]byte, extra)...), goodSum)
	}
	for _, r := range [][2]int{{0, 16}, {n / 2, 64}, {n - 32, 32}} {
		b := bytes.Clone(good)
		clear(b[r[0] : r[0]+r[1]])
		add(fmt.Sprintf("zeroed %d+%d", r[0], r[1]), b, goodSum)
	}
	other := tarGz(t, releaseEntries("other"))
	add("another release's archive", other, goodSum)
	for i, wrong := range []string{sumHex([]byte("x")), sumHex(nil), goodSum[:63] + "0"} {
		add(fmt.Sprintf("wrong hash %d", i), bytes.Clone(good), wrong)
	}
	// Right SHA-256, unsafe or unusable contents.
	names := make([]string, 0)
	unsafe := unsafeArchives()
	for name := range unsafe {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		b := tarGz(t, unsafe[name])
		add("unsafe: "+name, b, sumHex(b))
	}
	xz := append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, good...)
	add("xz-compressed", xz, sumHex(xz))
	notRelease := tarGz(t, []entry{file("release-x/README.md", "no launcher")})
	add("not a worker release", notRelease, sumHex(notRelease))
	empty := tarGz(t, nil)
	add("empty archive", empty, sumHex(empty))
	out = append(out, badRelease{name: "bad signature", body: good, sum: goodSum, sig: []byte("not the signature")})
	return out
}

// TestReliabilityBadReleases fetches many damaged or malicious archives
// into a Manager that has a current and a previous release, and checks
// every one is refused and neither release changes.
func TestReliabilityBadReleases(t *testing.T) {
	s := newArchiveServer(t)
	c := newClock()
	m := newTestManager(t, func(o *Options) {
		o.Now = c.Now
		o.MaxUnpackedSize = 1 << 20
		o.Verifier = VerifierFunc(func(_ *os.File, _ [32]byte, sig []byte) error {
			if string(sig) != "good" {
				return errors.New("signature mismatch")
			}
			return nil
		})
	})
	for _, v := range []string{"prev", "cur"} {
		fetchGood(t, m, s, v)
		if err := m.ActivateUnchecked(v); err != nil {
			t.Fatal(err)
		}
	}
	snapshot := func() string {
		cur, err := m.Current()
		if err != nil {
			return "error: " + err.Error()
		}
		prev, err := m.Previous()
		if err != nil {
			return "error: " + err.Error()
		}
		var buf bytes.Buffer
		for _, r := range []Release{cur, prev} {
			fmt.Fprintf(&buf, "%s %s %s|", r.Version, r.SHA256, r.Measured.SpecTree)
			err := filepath.WalkDir(r.Path, func(p string, d os.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.Type().IsRegular() {
					b, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					fmt.Fprintf(&buf, "%s=%s;", p, sumHex(b))
				}
				return nil
			})
			if err != nil {
				return "error: " + err.Error()
			}
		}
		return buf.String()
	}
	before := snapshot()

	cases := badReleases(t)
	if len(cases) < 30 {
		t.Fatalf("only %d variants", len(cases))
	}
	tried, refused, kept, acceptedBad := 0, 0, 0, 0
	for i, bc := range cases {
		tried++
		u := s.put(fmt.Sprintf("/bad/%d.tar.gz", i), bc.body)
		r, err := m.Fetch(context.Background(), Source{URL: u, SHA256: bc.sum, Signature: bc.sig}, nil)
		if err != nil {
			refused++
		} else {
			acceptedBad++
			t.Errorf("%s: accepted as release %s", bc.name, r.Version)
		}
		if snapshot() == before {
			kept++
		} else {
			t.Errorf("%s: the current or previous release changed", bc.name)
		}
		if list, err := m.List(); err != nil || len(list) != 2 {
			t.Errorf("%s: releases after the refusal: %d, %v", bc.name, len(list), err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(m.Dir(), downloadsDir)); len(ents) != 0 {
		t.Errorf("partial downloads of refused archives left: %d", len(ents))
	}
	t.Logf("RELIABILITY bad-releases: tried %d; refused %d; previous release kept %d; accepted-bad %d", tried, refused, kept, acceptedBad)
}
