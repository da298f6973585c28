package attest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Policy is an allow-list of TDX measurements, Cocoon's tdx_config (spec
// §7). An empty list allows any value. RequireNoDebug is stricter than
// Cocoon: the image hash does not cover TDATTRIBUTES.DEBUG, so without it a
// debug TD with the right measurements passes.
type Policy struct {
	AllowedMRTD                 [][48]byte
	AllowedRTMR                 [][4][48]byte // whole RTMR0..3 tuples
	AllowedImageHashes          [][32]byte
	AllowedCollateralRootHashes [][48]byte // root key IDs, e.g. IntelRootKeyID
	RequireNoDebug              bool
}

// PolicyError reports the first policy check a quote failed. Got and
// Allowed are lowercase hex (an RTMR set is its four registers joined by
// "/"; DEBUG is "1" or "0").
type PolicyError struct {
	Field   string // "MRTD", "RTMR set", "image hash", "collateral root hash" or "TDATTRIBUTES.DEBUG"
	Got     string
	Allowed []string
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("attest: %s not in policy allowlist: peer has %s, allowed: %s",
		e.Field, e.Got, strings.Join(e.Allowed, ", "))
}

// Validate checks q against the policy in Cocoon's order (spec §7 step 5,
// after the REPORTDATA check, which needs the certificate and is done by
// Verifier.Verify): (b) MRTD, (c) the RTMR set, (d) the image hash, (e) the
// collateral root hash rootKeyID (Verification.RootKeyID; zero for a fake
// quote), then DEBUG if RequireNoDebug. It returns a *PolicyError. A nil
// Policy allows everything.
func (p *Policy) Validate(q *Quote, rootKeyID [48]byte) error {
	if p == nil {
		return nil
	}
	if q == nil {
		return errors.New("attest: no quote to check against the policy")
	}
	if len(p.AllowedMRTD) > 0 && !containsValue(p.AllowedMRTD, q.MRTD) {
		return &PolicyError{Field: "MRTD", Got: hex.EncodeToString(q.MRTD[:]), Allowed: hexList(p.AllowedMRTD)}
	}
	if len(p.AllowedRTMR) > 0 && !containsValue(p.AllowedRTMR, q.RTMR) {
		allowed := make([]string, len(p.AllowedRTMR))
		for i := range p.AllowedRTMR {
			allowed[i] = rtmrHex(p.AllowedRTMR[i])
		}
		return &PolicyError{Field: "RTMR set", Got: rtmrHex(q.RTMR), Allowed: allowed}
	}
	if len(p.AllowedImageHashes) > 0 {
		if h := q.Measurements().ImageHash(); !containsValue(p.AllowedImageHashes, h) {
			return &PolicyError{Field: "image hash", Got: hex.EncodeToString(h[:]), Allowed: hexList(p.AllowedImageHashes)}
		}
	}
	if len(p.AllowedCollateralRootHashes) > 0 && !containsValue(p.AllowedCollateralRootHashes, rootKeyID) {
		return &PolicyError{Field: "collateral root hash", Got: hex.EncodeToString(rootKeyID[:]),
			Allowed: hexList(p.AllowedCollateralRootHashes)}
	}
	if p.RequireNoDebug && q.TDAttributes.Debug() {
		return &PolicyError{Field: "TDATTRIBUTES.DEBUG", Got: "1", Allowed: []string{"0"}}
	}
	return nil
}

func containsValue[T comparable](list []T, v T) bool {
	for i := range list {
		if list[i] == v {
			return true
		}
	}
	return false
}

func hexList[T [32]byte | [48]byte](list []T) []string {
	out := make([]string, len(list))
	for i := range list {
		b := list[i] // copy: a generic array cannot be sliced in place
		out[i] = hex.EncodeToString(toSlice(&b))
	}
	return out
}

func toSlice[T [32]byte | [48]byte](a *T) []byte {
	switch a := any(a).(type) {
	case *[32]byte:
		return a[:]
	case *[48]byte:
		return a[:]
	}
	return nil
}

func rtmrHex(set [4][48]byte) string {
	parts := make([]string, len(set))
	for i := range set {
		parts[i] = hex.EncodeToString(set[i][:])
	}
	return strings.Join(parts, "/")
}

// policyJSON is Cocoon's tdx_config object (ProxyConfig.cpp), plus
// require_no_debug.
type policyJSON struct {
	AllowedMRTD                 []string     `json:"allowed_mrtd,omitempty"`
	AllowedRTMR                 [][]string   `json:"allowed_rtmr,omitempty"`
	AllowedImageHashes          stringOrList `json:"allowed_image_hashes,omitempty"`
	AllowedImageHash            string       `json:"allowed_image_hash,omitempty"` // legacy
	AllowedCollateralRootHashes stringOrList `json:"allowed_collateral_root_hashes,omitempty"`
	RequireNoDebug              bool         `json:"require_no_debug,omitempty"`
}

// stringOrList is a JSON string or array of strings; null is empty.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*s = nil
		return nil
	case len(b) > 0 && b[0] == '"':
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = stringOrList{one}
		return nil
	case len(b) > 0 && b[0] == '[':
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			return errors.New("want a string or an array of strings")
		}
		*s = list
		return nil
	}
	return errors.New("want a string or an array of strings")
}

// ParsePolicyJSON parses Cocoon's tdx_config object:
//
//	{"allowed_mrtd": ["<96 hex>", …],
//	 "allowed_rtmr": [["<96 hex>", "<96 hex>", "<96 hex>", "<96 hex>"], …],
//	 "allowed_image_hashes": "<64 hex>" or ["<64 hex>", …],
//	 "allowed_image_hash": "<64 hex>",                      (legacy, appended)
//	 "allowed_collateral_root_hashes": "<96 hex>" or [ … ],
//	 "require_no_debug": true}                              (this package only)
//
// Every field is optional. It is stricter than Cocoon, which skips what it
// cannot read: unknown fields, non-string entries, RTMR sets that are not
// exactly four registers and hex of the wrong length are errors naming the
// field and entry.
func ParsePolicyJSON(data []byte) (Policy, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var pj policyJSON
	if err := dec.Decode(&pj); err != nil {
		return Policy{}, fmt.Errorf("attest: policy JSON: %w", err)
	}
	if dec.More() {
		return Policy{}, errors.New("attest: policy JSON: data after the object")
	}
	var p Policy
	var err error
	if p.AllowedMRTD, err = parseHexList[[48]byte]("allowed_mrtd", pj.AllowedMRTD); err != nil {
		return Policy{}, err
	}
	for i, set := range pj.AllowedRTMR {
		if len(set) != 4 {
			return Policy{}, fmt.Errorf("attest: policy JSON: allowed_rtmr[%d]: %d registers, want 4 (RTMR0..RTMR3)", i, len(set))
		}
		var tuple [4][48]byte
		for j := range set {
			if err := decodeHexInto(tuple[j][:], set[j]); err != nil {
				return Policy{}, fmt.Errorf("attest: policy JSON: allowed_rtmr[%d][%d]: %w", i, j, err)
			}
		}
		p.AllowedRTMR = append(p.AllowedRTMR, tuple)
	}
	if p.AllowedImageHashes, err = parseHexList[[32]byte]("allowed_image_hashes", pj.AllowedImageHashes); err != nil {
		return Policy{}, err
	}
	if pj.AllowedImageHash != "" {
		var h [32]byte
		if err := decodeHexInto(h[:], pj.AllowedImageHash); err != nil {
			return Policy{}, fmt.Errorf("attest: policy JSON: allowed_image_hash: %w", err)
		}
		p.AllowedImageHashes = append(p.AllowedImageHashes, h)
	}
	if p.AllowedCollateralRootHashes, err = parseHexList[[48]byte]("allowed_collateral_root_hashes", pj.AllowedCollateralRootHashes); err != nil {
		return Policy{}, err
	}
	p.RequireNoDebug = pj.RequireNoDebug
	return p, nil
}

// MarshalJSON writes the tdx_config form ParsePolicyJSON reads, with lists
// for every field and lowercase hex.
func (p Policy) MarshalJSON() ([]byte, error) {
	pj := policyJSON{
		AllowedMRTD:                 hexList(p.AllowedMRTD),
		AllowedImageHashes:          hexList(p.AllowedImageHashes),
		AllowedCollateralRootHashes: hexList(p.AllowedCollateralRootHashes),
		RequireNoDebug:              p.RequireNoDebug,
	}
	for _, set := range p.AllowedRTMR {
		pj.AllowedRTMR = append(pj.AllowedRTMR, strings.Split(rtmrHex(set), "/"))
	}
	return json.Marshal(pj)
}

// UnmarshalJSON reads the tdx_config form, as ParsePolicyJSON.
func (p *Policy) UnmarshalJSON(data []byte) error {
	parsed, err := ParsePolicyJSON(data)
	if err != nil {
		return err
	}
	*p = parsed
	return nil
}

func parseHexList[T [32]byte | [48]byte](field string, list []string) ([]T, error) {
	var out []T
	for i, s := range list {
		var v T
		if err := decodeHexInto(toSlice(&v), s); err != nil {
			return nil, fmt.Errorf("attest: policy JSON: %s[%d]: %w", field, i, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// decodeHexInto decodes s, which must be exactly 2*len(dst) hex digits.
func decodeHexInto(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("want %d hex characters (%d bytes), got %d", 2*len(dst), len(dst), len(s))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("not hex: %w", err)
	}
	return nil
}
