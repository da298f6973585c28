package attest

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

func TestRTMR3Vectors(t *testing.T) {
	empty := hexTree(t, emptyTreeHex)
	if got := RTMREventDigest("cocoon:tdx_inited"); hex.EncodeToString(got[:]) != "fc05341f8eb5a02c1172fb792e47710a3fba78b2dd930a5fa9d889c8968e25c75e67444313b6deb1281bde06a23cb403" {
		t.Errorf(`S("cocoon:tdx_inited") = %x`, got)
	}
	tests := []struct {
		debug  bool
		want   string
		events []string
	}{
		{false, "93cf188d6ad7c7c88ee55b267c48e2d5edd983c15cb94c5caa62638f16524ba6496f376943fba45444a87bc08b8be125",
			[]string{"cocoon:spec.tree=" + emptyTreeHex, "cocoon:tdx_inited"}},
		{true, "9f87557597afaa9e3304849da960c083bfc9bc376a1a5a07212ff535027e590068c9d628726238538e71ca2bac603f92",
			[]string{"cocoon:spec.tree=" + emptyTreeHex, "cocoon:cocoon_debug", "cocoon:tdx_inited"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("debug=%v", tt.debug), func(t *testing.T) {
			if got := RTMR3Events(empty, tt.debug); strings.Join(got, "\n") != strings.Join(tt.events, "\n") {
				t.Errorf("RTMR3Events = %q, want %q", got, tt.events)
			}
			if got := ExpectedRTMR3(empty, tt.debug); hex.EncodeToString(got[:]) != tt.want {
				t.Errorf("ExpectedRTMR3 = %x, want %s", got, tt.want)
			}
			if got := ExtendRTMREvents([48]byte{}, RTMR3Events(empty, tt.debug)...); hex.EncodeToString(got[:]) != tt.want {
				t.Errorf("ExtendRTMREvents(RTMR3Events) = %x, want %s", got, tt.want)
			}
		})
	}
	// E(r, d) = SHA-384(r ‖ d), spelled out.
	var r, d [48]byte
	r[0], d[47] = 1, 2
	want := sha512.Sum384(append(r[:], d[:]...))
	if got := ExtendRTMR(r, d); got != want {
		t.Errorf("ExtendRTMR = %x, want %x", got, want)
	}
}

func TestPredictImageHash(t *testing.T) {
	fill := func(b byte) (a [48]byte) {
		for i := range a {
			a[i] = b
		}
		return a
	}
	base := Measurements{MRTD: fill(0x12), RTMR: [4][48]byte{fill('a'), fill('b'), fill('c'), fill('d')}}
	tree := hexTree(t, smallSpecTreeHex)
	for _, debug := range []bool{false, true} {
		m := base
		m.RTMR[3] = ExpectedRTMR3(tree, debug)
		if got, want := PredictImageHash(base, tree, debug), m.ImageHash(); got != want {
			t.Errorf("debug=%v: PredictImageHash = %x, want %x", debug, got, want)
		}
	}
	if PredictImageHash(base, tree, false) == PredictImageHash(base, tree, true) {
		t.Error("debug does not change the predicted image hash")
	}
	other := base
	other.RTMR[3] = fill(0xff)
	if PredictImageHash(base, tree, false) != PredictImageHash(other, tree, false) {
		t.Error("base RTMR3 changed the prediction; it must be replaced")
	}
}

func TestExpectConfig(t *testing.T) {
	base := Measurements{MRTD: [48]byte{1}}
	tree := hexTree(t, smallSpecTreeHex)
	e, err := ExpectConfig(smallSpec(), base, false)
	if err != nil {
		t.Fatal(err)
	}
	want := NewExpect(base, tree, false)
	if e.Tree != tree || e.RTMR3 != want.RTMR3 || e.ImageHash != want.ImageHash || strings.Join(e.Events, ",") != strings.Join(want.Events, ",") {
		t.Errorf("ExpectConfig = %+v, want %+v", e, want)
	}

	withTree := smallSpec()
	withTree["spec.tree"] = specFile(strings.ToUpper(smallSpecTreeHex) + "\n")
	if _, err := ExpectConfig(withTree, base, false); err != nil {
		t.Errorf("matching spec.tree: %v", err)
	}
	withTree["spec.tree"] = specFile(emptyTreeHex + "\n")
	if _, err := ExpectConfig(withTree, base, false); !errors.Is(err, ErrSpecTreeMismatch) {
		t.Errorf("stale spec.tree: err = %v, want ErrSpecTreeMismatch", err)
	}
	if _, err := ExpectConfig(fstest.MapFS{"l": &fstest.MapFile{Mode: fs.ModeSymlink}}, base, false); err == nil {
		t.Error("ExpectConfig accepted a symlink")
	}

	js, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	if got["spec_tree"] != smallSpecTreeHex || got["rtmr3"] != hex.EncodeToString(want.RTMR3[:]) ||
		got["image_hash"] != hex.EncodeToString(want.ImageHash[:]) || got["image_hash_base64"] == "" || got["debug"] != false {
		t.Errorf("JSON = %s", js)
	}
}

func BenchmarkExpectedRTMR3(b *testing.B) {
	var tree [32]byte
	b.ReportAllocs()
	for b.Loop() {
		ExpectedRTMR3(tree, false)
	}
}
