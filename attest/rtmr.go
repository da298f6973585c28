package attest

import (
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// This file predicts RTMR3 and the image hash of a Cocoon guest from its
// config share (spec §4, worker interface §2.3): the RTMR3 events
// cocoon-init extends (RTMR3Events, ExpectedRTMR3) over the spec tree
// (SpecTree, spectree.go), and the resulting image hash
// (PredictImageHash, ExpectConfig).

// RTMR3 event strings that cocoon-init extends (spec §4).
const (
	rtmrEventSpecTreePrefix = "cocoon:spec.tree="
	rtmrEventDebug          = "cocoon:cocoon_debug"
	rtmrEventInited         = "cocoon:tdx_inited"
)

// RTMREventDigest is what cocoon-init writes to the kernel for one
// attestation-log line: SHA-384 of the message bytes, no newline.
func RTMREventDigest(event string) [48]byte { return sha512.Sum384([]byte(event)) }

// ExtendRTMR returns r extended by digest the way the TDX module does it:
// SHA-384(r ‖ digest).
func ExtendRTMR(r, digest [48]byte) [48]byte {
	var buf [96]byte
	copy(buf[:48], r[:])
	copy(buf[48:], digest[:])
	return sha512.Sum384(buf[:])
}

// ExtendRTMREvents extends r by the digest of each event string in turn, as
// replaying the lines of /var/log/tdx-attestation.log does.
func ExtendRTMREvents(r [48]byte, events ...string) [48]byte {
	for _, e := range events {
		r = ExtendRTMR(r, RTMREventDigest(e))
	}
	return r
}

// RTMR3Events returns, in order, the messages cocoon-init extends into RTMR3:
// "cocoon:spec.tree=<tree as 64 lowercase hex>", then "cocoon:cocoon_debug"
// only when debug (cocoon_debug on the kernel command line), then
// "cocoon:tdx_inited".
func RTMR3Events(tree [32]byte, debug bool) []string {
	events := make([]string, 0, 3)
	events = append(events, rtmrEventSpecTreePrefix+hex.EncodeToString(tree[:]))
	if debug {
		events = append(events, rtmrEventDebug)
	}
	return append(events, rtmrEventInited)
}

// ExpectedRTMR3 returns RTMR3 of a Cocoon guest whose spec tree is tree:
// zero (the firmware logs nothing to it) extended by RTMR3Events.
func ExpectedRTMR3(tree [32]byte, debug bool) [48]byte {
	var ev [len(rtmrEventSpecTreePrefix) + 64]byte
	copy(ev[:], rtmrEventSpecTreePrefix)
	hex.Encode(ev[len(rtmrEventSpecTreePrefix):], tree[:])
	r := ExtendRTMR([48]byte{}, sha512.Sum384(ev[:]))
	if debug {
		r = ExtendRTMR(r, RTMREventDigest(rtmrEventDebug))
	}
	return ExtendRTMR(r, RTMREventDigest(rtmrEventInited))
}

// PredictImageHash returns the image hash a Cocoon guest will have when it
// boots the image whose MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG and
// RTMR0–2 are those of base (as recorded with a release) with a config share
// whose spec tree is tree. base's RTMR3 is ignored and replaced by
// ExpectedRTMR3(tree, debug).
func PredictImageHash(base Measurements, tree [32]byte, debug bool) [32]byte {
	base.RTMR[3] = ExpectedRTMR3(tree, debug)
	return base.ImageHash()
}

// Expect is what a config share will make a guest measure: the answer of
// `attest expect --config DIR`.
type Expect struct {
	// Tree is the spec tree (SpecTree) of the config directory.
	Tree [32]byte
	// Debug is whether the guest runs with cocoon_debug.
	Debug bool
	// Events are the RTMR3 event strings, in order.
	Events []string
	// RTMR3 is the expected final RTMR3.
	RTMR3 [48]byte
	// ImageHash is the predicted image hash with the base measurements.
	ImageHash [32]byte
}

// NewExpect computes an Expect for a known spec tree.
func NewExpect(base Measurements, tree [32]byte, debug bool) Expect {
	return Expect{
		Tree:      tree,
		Debug:     debug,
		Events:    RTMR3Events(tree, debug),
		RTMR3:     ExpectedRTMR3(tree, debug),
		ImageHash: PredictImageHash(base, tree, debug),
	}
}

// ExpectConfig computes the spec tree of the config directory fsys and the
// Expect for it. When the directory holds a spec.tree file, its content
// (64 hex digits, surrounding white space ignored) must equal the computed
// tree, as cocoon-prepare-spec demands; otherwise the error wraps
// ErrSpecTreeMismatch.
func ExpectConfig(fsys fs.FS, base Measurements, debug bool) (Expect, error) {
	tree, err := SpecTree(fsys)
	if err != nil {
		return Expect{}, err
	}
	recorded, err := fs.ReadFile(fsys, specTreeFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return Expect{}, fmt.Errorf("attest: read %s: %w", specTreeFile, err)
	default:
		got := strings.ToLower(strings.TrimSpace(string(recorded)))
		if want := hex.EncodeToString(tree[:]); got != want {
			return Expect{}, fmt.Errorf("%w: %s says %q, the files give %s", ErrSpecTreeMismatch, specTreeFile, got, want)
		}
	}
	return NewExpect(base, tree, debug), nil
}

// MarshalJSON writes the hashes as lowercase hex, and the image hash also in
// the base64 form that gen-cert writes to tdx_image_hash.b64.
func (e Expect) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Tree            string   `json:"spec_tree"`
		Debug           bool     `json:"debug"`
		Events          []string `json:"rtmr3_events"`
		RTMR3           string   `json:"rtmr3"`
		ImageHash       string   `json:"image_hash"`
		ImageHashBase64 string   `json:"image_hash_base64"`
	}{
		Tree:            hex.EncodeToString(e.Tree[:]),
		Debug:           e.Debug,
		Events:          e.Events,
		RTMR3:           hex.EncodeToString(e.RTMR3[:]),
		ImageHash:       hex.EncodeToString(e.ImageHash[:]),
		ImageHashBase64: base64.StdEncoding.EncodeToString(e.ImageHash[:]),
	})
}
