package attest

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func fill48(b byte) (a [48]byte) {
	for i := range a {
		a[i] = b
	}
	return a
}

// TestPolicyOrder checks spec §7's order: a quote that fails every check
// reports MRTD; allowing MRTD moves the failure to the RTMR set, then the
// image hash, the collateral root hash and, last, DEBUG.
func TestPolicyOrder(t *testing.T) {
	q := sampleQuote(t)
	debug := *q
	debug.TDAttributes[0] |= 1
	other48, other32 := fill48(0xee), [32]byte{0xee}
	otherRTMR := [4][48]byte{other48, other48, other48, other48}
	imageHash := q.Measurements().ImageHash()

	deny := Policy{
		AllowedMRTD:                 [][48]byte{other48},
		AllowedRTMR:                 [][4][48]byte{otherRTMR},
		AllowedImageHashes:          [][32]byte{other32},
		AllowedCollateralRootHashes: [][48]byte{other48},
		RequireNoDebug:              true,
	}
	steps := []struct {
		field   string
		got     string
		allowed []string
		allow   func(p *Policy)
	}{
		{"MRTD", hex.EncodeToString(q.MRTD[:]), []string{hex.EncodeToString(other48[:])},
			func(p *Policy) { p.AllowedMRTD = append(p.AllowedMRTD, q.MRTD) }},
		{"RTMR set", rtmrHex(q.RTMR), []string{rtmrHex(otherRTMR)},
			func(p *Policy) { p.AllowedRTMR = append(p.AllowedRTMR, q.RTMR) }},
		{"image hash", "6f07b63ffaad70ee8ffd5fcf7adfd79d1c853c1db0e3612568921649259771b5", []string{hex.EncodeToString(other32[:])},
			func(p *Policy) { p.AllowedImageHashes = append(p.AllowedImageHashes, imageHash) }},
		{"collateral root hash", intelRootKeyIDHex, []string{hex.EncodeToString(other48[:])},
			func(p *Policy) { p.AllowedCollateralRootHashes = append(p.AllowedCollateralRootHashes, IntelRootKeyID) }},
		{"TDATTRIBUTES.DEBUG", "1", []string{"0"}, func(p *Policy) { p.RequireNoDebug = false }},
	}
	p := deny
	for _, s := range steps {
		err := p.Validate(&debug, IntelRootKeyID)
		var pe *PolicyError
		if !errors.As(err, &pe) {
			t.Fatalf("step %s: error = %v, want *PolicyError", s.field, err)
		}
		if pe.Field != s.field || pe.Got != s.got || !reflect.DeepEqual(pe.Allowed, s.allowed) {
			t.Errorf("PolicyError = %+v, want field %q got %s allowed %v", pe, s.field, s.got, s.allowed)
		}
		want := "attest: " + s.field + " not in policy allowlist: peer has " + s.got + ", allowed: " + strings.Join(s.allowed, ", ")
		if err.Error() != want {
			t.Errorf("message = %q, want %q", err, want)
		}
		s.allow(&p)
	}
	if err := p.Validate(&debug, IntelRootKeyID); err != nil {
		t.Errorf("all checks allowed: %v", err)
	}
	if err := deny.Validate(q, IntelRootKeyID); err == nil || !strings.Contains(err.Error(), "MRTD") {
		t.Errorf("deny policy on the sample: %v", err)
	}
}

func TestPolicyEmptyAllowsAll(t *testing.T) {
	q := sampleQuote(t)
	var nilPolicy *Policy
	for _, p := range []*Policy{{}, nilPolicy, {RequireNoDebug: true}} {
		if err := p.Validate(q, [48]byte{}); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	fake, err := ParseQuote(make([]byte, FakeQuoteSize))
	if err != nil {
		t.Fatal(err)
	}
	allowFake := Policy{AllowedMRTD: [][48]byte{{}}, AllowedImageHashes: [][32]byte{FakeTDXImageHash}, AllowedCollateralRootHashes: [][48]byte{{}}}
	if err := allowFake.Validate(fake, [48]byte{}); err != nil {
		t.Errorf("fake quote against an all-zero policy: %v", err)
	}
	if err := (&Policy{}).Validate(nil, [48]byte{}); err == nil {
		t.Error("a nil quote passed the policy")
	}
}

func TestPolicyRTMRTuple(t *testing.T) {
	// RTMR sets match as whole tuples, not register by register.
	a, b := fill48(0xaa), fill48(0xbb)
	p := Policy{AllowedRTMR: [][4][48]byte{{a, a, a, a}, {b, b, b, b}}}
	mixed := &Quote{RTMR: [4][48]byte{a, a, b, b}}
	if err := p.Validate(mixed, [48]byte{}); err == nil {
		t.Error("a mix of two allowed tuples passed")
	}
	if err := p.Validate(&Quote{RTMR: [4][48]byte{b, b, b, b}}, [48]byte{}); err != nil {
		t.Errorf("an allowed tuple failed: %v", err)
	}
}

const cocoonStrictTDX = `{
  "allowed_image_hashes": [
    "abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890",
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
  ],
  "allowed_collateral_root_hashes": [
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
  ],
  "allowed_mrtd": [
    "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef"
  ],
  "allowed_rtmr": [
    [
      "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef",
      "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef",
      "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef",
      "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef"
    ]
  ]
}`

func mustDecode48(t *testing.T, s string) (a [48]byte) {
	t.Helper()
	copy(a[:], mustHex(t, s))
	return a
}

func mustDecode32(t *testing.T, s string) (a [32]byte) {
	t.Helper()
	copy(a[:], mustHex(t, s))
	return a
}

func TestParsePolicyJSON(t *testing.T) {
	m := mustDecode48(t, "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef")
	h1 := mustDecode32(t, "abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890")
	h2 := mustDecode32(t, "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210")
	root := mustDecode48(t, "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210")
	tests := []struct {
		name string
		json string
		want Policy
	}{
		{"Cocoon's strict_tdx example", cocoonStrictTDX, Policy{
			AllowedMRTD: [][48]byte{m}, AllowedRTMR: [][4][48]byte{{m, m, m, m}},
			AllowedImageHashes: [][32]byte{h1, h2}, AllowedCollateralRootHashes: [][48]byte{root},
		}},
		{"empty object", `{}`, Policy{}},
		{"single strings", `{"allowed_image_hashes": "` + hex.EncodeToString(h1[:]) + `", "allowed_collateral_root_hashes": "` + intelRootKeyIDHex + `"}`,
			Policy{AllowedImageHashes: [][32]byte{h1}, AllowedCollateralRootHashes: [][48]byte{IntelRootKeyID}}},
		{"legacy allowed_image_hash is appended", `{"allowed_image_hashes": ["` + hex.EncodeToString(h1[:]) + `"], "allowed_image_hash": "` + hex.EncodeToString(h2[:]) + `"}`,
			Policy{AllowedImageHashes: [][32]byte{h1, h2}}},
		{"empty legacy field is ignored", `{"allowed_image_hash": ""}`, Policy{}},
		{"null lists", `{"allowed_image_hashes": null, "allowed_collateral_root_hashes": null, "allowed_mrtd": null}`, Policy{}},
		{"uppercase hex and require_no_debug", `{"allowed_mrtd": ["` + strings.ToUpper(hex.EncodeToString(m[:])) + `"], "require_no_debug": true}`,
			Policy{AllowedMRTD: [][48]byte{m}, RequireNoDebug: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePolicyJSON([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("policy = %+v, want %+v", got, tt.want)
			}
			// Round trip through MarshalJSON and UnmarshalJSON.
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var back Policy
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("unmarshal %s: %v", b, err)
			}
			if !reflect.DeepEqual(back, got) {
				t.Errorf("round trip through %s = %+v", b, back)
			}
		})
	}
}

func TestParsePolicyJSONErrors(t *testing.T) {
	h64 := strings.Repeat("ab", 32)
	h96 := strings.Repeat("ab", 48)
	tests := []struct {
		name, json, want string
	}{
		{"MRTD too short", `{"allowed_mrtd": ["` + h96[:94] + `"]}`, "allowed_mrtd[0]: want 96 hex characters (48 bytes), got 94"},
		{"MRTD given an image hash", `{"allowed_mrtd": ["` + h96 + `", "` + h64 + `"]}`, "allowed_mrtd[1]: want 96 hex characters (48 bytes), got 64"},
		{"image hash too long", `{"allowed_image_hashes": "` + h96 + `"}`, "allowed_image_hashes[0]: want 64 hex characters (32 bytes), got 96"},
		{"legacy image hash too short", `{"allowed_image_hash": "abcd"}`, "allowed_image_hash: want 64 hex characters (32 bytes), got 4"},
		{"root hash not hex", `{"allowed_collateral_root_hashes": ["` + strings.Repeat("zz", 48) + `"]}`, "allowed_collateral_root_hashes[0]: not hex"},
		{"RTMR set of three", `{"allowed_rtmr": [["` + h96 + `", "` + h96 + `", "` + h96 + `"]]}`, "allowed_rtmr[0]: 3 registers, want 4"},
		{"RTMR register too short", `{"allowed_rtmr": [["` + h96 + `", "` + h96 + `", "ab", "` + h96 + `"]]}`, "allowed_rtmr[0][2]: want 96 hex characters"},
		{"RTMR set not an array", `{"allowed_rtmr": ["` + h96 + `"]}`, "allowed_rtmr"},
		{"non-string entry", `{"allowed_image_hashes": [1]}`, "want a string or an array of strings"},
		{"number instead of a list", `{"allowed_collateral_root_hashes": 5}`, "want a string or an array of strings"},
		{"unknown field (typo)", `{"allowed_mrtds": []}`, `unknown field "allowed_mrtds"`},
		{"not an object", `[]`, "policy JSON"},
		{"two objects", `{} {}`, "data after the object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicyJSON([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
